//! The demo-accounts key file that trading-api writes when it seeds funded accounts.

use std::path::Path;

/// Reads the API keys from trading-api's demo key file, in file order.
///
/// Accepts a JSON array of key strings, an array of objects carrying `api_key` (or `key`), or an
/// object holding such an array under `accounts`, so that small format changes on the writer's
/// side do not silently strand the simulators.
pub fn load_demo_keys(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read demo key file {}: {e}", path.display()))?;
    parse_demo_keys(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`load_demo_keys`] on text already read.
pub fn parse_demo_keys(text: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &value {
        serde_json::Value::Array(items) => items.as_slice(),
        serde_json::Value::Object(map) => match map.get("accounts") {
            Some(serde_json::Value::Array(items)) => items.as_slice(),
            _ => return Err("expected an array or {\"accounts\": [...]}".into()),
        },
        _ => return Err("expected an array or {\"accounts\": [...]}".into()),
    };
    let keys: Vec<String> = list
        .iter()
        .filter_map(|item| match item {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => o
                .get("api_key")
                .or_else(|| o.get("key"))
                .and_then(|k| k.as_str())
                .map(str::to_string),
            _ => None,
        })
        .collect();
    if keys.is_empty() {
        return Err("no API keys in the file".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_accepted_shapes() {
        assert_eq!(
            parse_demo_keys(r#"["a","b"]"#),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            parse_demo_keys(r#"{"accounts":[{"account_id":1,"api_key":"k1"}]}"#),
            Ok(vec!["k1".into()])
        );
        assert!(parse_demo_keys("[]").is_err());
        assert!(parse_demo_keys("{").is_err());
    }
}
