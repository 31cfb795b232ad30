//! Request paths with a per-request number in them.

use crate::BenchError;

/// The placeholder a path may contain once; it becomes the request's number.
const PLACEHOLDER: &str = "{n}";

/// A request path such as `/v1/secret/data/bench/{n}`: `{n}` is replaced by the request's
/// sequence number (modulo `key_space` when set), so a run can spread over many keys or write
/// each key exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    prefix: String,
    // None: the path has no placeholder and every request uses `prefix` as is.
    suffix: Option<String>,
    key_space: Option<u64>,
}

impl PathTemplate {
    /// Parses `path` (must start with `/`, at most one `{n}`). `key_space`, when given, must be
    /// at least 1: request `n` then uses key `n % key_space`.
    pub fn new(path: &str, key_space: Option<u64>) -> Result<Self, BenchError> {
        if !path.starts_with('/') {
            return Err(BenchError::InvalidConfig(format!(
                "the request path {path:?} must start with '/', e.g. /v1/sys/health"
            )));
        }
        if key_space == Some(0) {
            return Err(BenchError::InvalidConfig(
                "the key space must be at least 1 (it is the number of distinct keys {n} cycles \
                 through)"
                    .into(),
            ));
        }
        let (prefix, suffix) = match path.split_once(PLACEHOLDER) {
            None => (path.to_owned(), None),
            Some((p, s)) => {
                if s.contains(PLACEHOLDER) {
                    return Err(BenchError::InvalidConfig(format!(
                        "the request path {path:?} contains {PLACEHOLDER} more than once; use it \
                         once"
                    )));
                }
                (p.to_owned(), Some(s.to_owned()))
            }
        };
        let template = PathTemplate {
            prefix,
            suffix,
            key_space,
        };
        // Fail at start, not on every request, if the path cannot be a URI.
        hyper::Uri::try_from(template.render(0)).map_err(|e| {
            BenchError::InvalidConfig(format!("the request path {path:?} is not a valid URI: {e}"))
        })?;
        Ok(template)
    }

    /// Whether the path contains `{n}`.
    pub fn has_placeholder(&self) -> bool {
        self.suffix.is_some()
    }

    /// The path of request number `n`.
    pub fn render(&self, n: u64) -> String {
        match &self.suffix {
            None => self.prefix.clone(),
            Some(suffix) => {
                let key = match self.key_space {
                    Some(k) => n % k,
                    None => n,
                };
                let mut out = String::with_capacity(self.prefix.len() + suffix.len() + 20);
                out.push_str(&self.prefix);
                out.push_str(&key.to_string());
                out.push_str(suffix);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_number_modulo_key_space() {
        let t = PathTemplate::new("/v1/secret/data/bench/{n}?x=1", Some(10)).unwrap();
        assert!(t.has_placeholder());
        assert_eq!(t.render(3), "/v1/secret/data/bench/3?x=1");
        assert_eq!(t.render(13), "/v1/secret/data/bench/3?x=1");
        let t = PathTemplate::new("/v1/k/{n}", None).unwrap();
        assert_eq!(t.render(123_456), "/v1/k/123456");
    }

    #[test]
    fn fixed_path_is_used_as_is() {
        let t = PathTemplate::new("/v1/sys/health", None).unwrap();
        assert!(!t.has_placeholder());
        assert_eq!(t.render(99), "/v1/sys/health");
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(matches!(
            PathTemplate::new("v1/x", None),
            Err(BenchError::InvalidConfig(m)) if m.contains("must start with '/'")
        ));
        assert!(PathTemplate::new("/a/{n}/{n}", None).is_err());
        assert!(PathTemplate::new("/a/{n}", Some(0)).is_err());
        assert!(PathTemplate::new("/a b", None).is_err());
    }
}
