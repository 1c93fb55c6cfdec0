//! The one error shape every simex HTTP API answers with:
//!
//! ```json
//! {"error": {"code": "invalid_field", "message": "quantity: must be positive", "field": "quantity"}}
//! ```
//!
//! [`ApiError`] carries the status and renders that body. [`ApiJson`], [`ApiQuery`] and [`ApiPath`]
//! are extractors whose rejections (malformed JSON, wrong types, unknown fields, wrong content type,
//! oversized body, bad query or path) all become a 4xx in this shape, never axum's plain text.

use std::borrow::Cow;

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A client-facing error: an HTTP status plus the JSON body described in the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_field`, `not_found`.
    pub code: Cow<'static, str>,
    /// Human-readable explanation; never contains internal details.
    pub message: String,
    /// The offending request field, when one is to blame.
    pub field: Option<String>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// Attaches the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `invalid_field` for `field`.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).with_field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 503 `not_ready`.
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the service is starting or stopping",
        )
    }

    /// 500 `internal`: the cause must be logged by the caller, never sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: &self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Router fallback for unknown paths: 404 in the JSON shape.
pub async fn not_found_fallback() -> ApiError {
    ApiError::not_found("no such route")
}

/// Router fallback for a known path with the wrong method: 405 in the JSON shape.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// A JSON body extractor like `axum::Json`, but every rejection is an [`ApiError`]:
/// 415 for a missing/wrong content type, 413 for an oversized body, 400 for malformed JSON, and 400
/// `invalid_field` naming the field for wrong types, unknown fields (when the target type says
/// `deny_unknown_fields`) and missing fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

fn is_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Maps a body-read rejection, keeping its status (413 for the body limit).
fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "body_too_large", "request body is too large")
    } else {
        ApiError::new(status, "bad_request", rejection.body_text())
    }
}

/// Extracts the field a serde message names (`unknown field `x``, `missing field `x``).
fn field_from_message(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}

/// Deserializes a JSON document into `T`, producing the [`ApiError`] a client should see.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(value) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(json_error(&path, &inner));
        }
    };
    de.end()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    Ok(value)
}

fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    // `?` is serde_path_to_error's marker for a key it could not read: not a field.
    let at_root = path.is_empty() || path == "." || path.contains('?');
    match err.classify() {
        // A syntax error inside a field's value (e.g. an integer where an enum string belongs:
        // serde_json reports that as "expected value") is that field's fault.
        Category::Syntax if !at_root => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{path}: {err}"),
        )
        .with_field(path),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", err.to_string())
        }
        Category::Data => {
            let message = err.to_string();
            let field = field_from_message(&message)
                .map(|name| {
                    if path.is_empty() || path == "." {
                        name
                    } else if path == name || path.ends_with(&format!(".{name}")) {
                        // serde_path_to_error already descended into an unknown field.
                        path.to_owned()
                    } else {
                        format!("{path}.{name}")
                    }
                })
                .or_else(|| (!path.is_empty() && path != ".").then(|| path.to_owned()));
            let mut error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message);
            error.field = field;
            error
        }
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query-string extractor whose rejections are 400 [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection: QueryRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    rejection.body_text(),
                )
            })
    }
}

/// A path-parameter extractor whose rejections are 400 [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection: PathRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_path",
                    rejection.body_text(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        a: u32,
        b: Option<String>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (r#"{"a":1"#, "malformed_json", None),
            (r#"{"a":"x"}"#, "invalid_field", Some("a")),
            (r#"{"a":1,"zz":2}"#, "invalid_field", Some("zz")),
            (r#"{"b":"x"}"#, "invalid_field", Some("a")),
            (r#"{"a":1} trailing"#, "malformed_json", None),
            (r#"{"a":-1}"#, "invalid_field", Some("a")),
            (r#"{bad"#, "malformed_json", None),
            (r#"{"a":tru}"#, "invalid_field", Some("a")),
        ];
        for (input, code, field) in cases {
            let err = parse_json::<Probe>(input.as_bytes()).expect_err(input);
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{input}");
            assert_eq!(err.code, *code, "{input}: {}", err.message);
            assert_eq!(err.field.as_deref(), *field, "{input}: {}", err.message);
        }
        assert!(parse_json::<Probe>(br#"{"a":7}"#).is_ok());
    }
}
