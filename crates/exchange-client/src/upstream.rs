//! [`Upstream`]: trading-api's base URL, shared by every client of one simulator and swappable at
//! run time, so a chaos run can route a running simulator through a fault proxy and back.
//!
//! Every request reads the current URL when it is built, so a swap applies to the next request;
//! requests already in flight finish against the old address. Connection pools are keyed by
//! host and port, so the new address gets its own connections and the old ones idle out.

use std::sync::{Arc, RwLock};

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadUpstream(String);

/// A swappable trading-api base URL. Cheap to clone: clones share the current URL.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The URL given at startup, which [`Upstream::restore`] goes back to.
    original: Arc<str>,
    /// The URL requests use now. A std RwLock: held only to copy an `Arc`, never across an
    /// `.await`.
    current: Arc<RwLock<Arc<str>>>,
}

impl Upstream {
    /// An upstream starting (and restoring) at `base` (`http://host:port`); a trailing slash is
    /// dropped. Not validated: the startup URL comes from the service's own checked config.
    pub fn new(base: &str) -> Upstream {
        let base: Arc<str> = Arc::from(base.trim_end_matches('/'));
        Upstream {
            original: Arc::clone(&base),
            current: Arc::new(RwLock::new(base)),
        }
    }

    /// The URL requests go to now.
    pub fn current(&self) -> Arc<str> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The URL given at startup.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// True while the current URL is not the startup one.
    pub fn is_redirected(&self) -> bool {
        *self.current() != *self.original
    }

    /// Points every clone at `base` for new requests, after checking it is a plain
    /// `http(s)://host[:port]` URL (no path, query, fragment or credentials).
    pub fn set(&self, base: &str) -> Result<(), BadUpstream> {
        let checked = check_base_url(base)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::from(checked);
        Ok(())
    }

    /// Goes back to the startup URL.
    pub fn restore(&self) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&self.original);
    }
}

/// `base` without a trailing slash if it is a usable base URL.
fn check_base_url(base: &str) -> Result<String, BadUpstream> {
    let url = reqwest::Url::parse(base.trim())
        .map_err(|e| BadUpstream(format!("not a URL ({e}): {base:?}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadUpstream(format!(
            "scheme must be http or https, not {:?}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BadUpstream("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BadUpstream(
            "credentials in the URL are not accepted".into(),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(BadUpstream(
            "give the base URL only (http://host:port), without path, query or fragment".into(),
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_see_a_swap_and_restore_goes_back() {
        let upstream = Upstream::new("http://127.0.0.1:8080/");
        let clone = upstream.clone();
        assert_eq!(&*clone.current(), "http://127.0.0.1:8080");
        assert!(!clone.is_redirected());
        upstream.set("http://127.0.0.1:18474/").expect("valid");
        assert_eq!(&*clone.current(), "http://127.0.0.1:18474");
        assert!(clone.is_redirected());
        clone.restore();
        assert_eq!(&*upstream.current(), "http://127.0.0.1:8080");
        assert_eq!(upstream.original(), "http://127.0.0.1:8080");
    }

    #[test]
    fn only_plain_base_urls_are_accepted() {
        let upstream = Upstream::new("http://127.0.0.1:8080");
        for bad in [
            "",
            "127.0.0.1:8080",
            "ftp://127.0.0.1:21",
            "http://127.0.0.1:8080/api",
            "http://127.0.0.1:8080?x=1",
            "http://user:pw@127.0.0.1:8080",
            "http://",
        ] {
            assert!(upstream.set(bad).is_err(), "{bad:?} was accepted");
        }
        // Refused input leaves the current URL alone.
        assert_eq!(&*upstream.current(), "http://127.0.0.1:8080");
        upstream.set("https://localhost").expect("valid");
        assert_eq!(&*upstream.current(), "https://localhost");
    }
}
