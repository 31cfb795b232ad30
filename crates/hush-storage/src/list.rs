//! Pieces of Vault's list semantics shared by the backends.
//!
//! Both backends walk their keys in byte order starting at the prefix. A key
//! directly under the prefix is a name of its own; a deeper key stands for its
//! first segment plus `/`, and once such a folder has been reported the walk
//! jumps past every key inside it. That keeps `list` proportional to the number
//! of names returned rather than to the number of keys underneath: listing
//! `logical/` must not read every secret of every mount.

/// What one key contributes to a listing of `prefix`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// A key directly under the prefix: its name without the prefix.
    Leaf(&'a str),
    /// A deeper key: the name of the folder it is in, ending with `/`.
    Folder(&'a str),
}

/// Classifies `key`, which the caller has found by scanning from `prefix`.
/// Returns `None` once the scan has left the prefix (or for the prefix itself,
/// which is never a valid key).
pub(crate) fn entry<'a>(prefix: &str, key: &'a str) -> Option<Entry<'a>> {
    let rest = key.strip_prefix(prefix)?;
    if rest.is_empty() {
        return None;
    }
    Some(match rest.find('/') {
        Some(slash) => Entry::Folder(&rest[..=slash]),
        None => Entry::Leaf(rest),
    })
}

/// The smallest string that sorts (by bytes, which for UTF-8 is by code point)
/// after every string starting with `prefix`, or `None` if there is no such
/// string (empty prefix, or one made only of `char::MAX`).
///
/// Works on characters rather than bytes so the result stays valid UTF-8 and can
/// be bound as SQLite TEXT: a TEXT value never compares equal to or greater than
/// a BLOB, so a byte-level bound would silently select everything.
pub(crate) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = next_char(last) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
        // `last` is char::MAX: nothing longer than the shorter prefix can be
        // bounded by bumping it, so carry into the previous character.
    }
    None
}

/// The next Unicode scalar value after `c`, skipping the surrogate gap.
fn next_char(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        char::MAX => None,
        _ => char::from_u32(u32::from(c) + 1),
    }
}

/// The first key after every key inside `folder` (a name ending with `/`) under
/// `prefix`: where a scan resumes after reporting that folder.
pub(crate) fn after_folder(prefix: &str, folder: &str) -> String {
    // '/' is followed by '0' in byte order, so replacing the folder's trailing
    // '/' with '0' skips exactly the keys that start with prefix + folder.
    let stem = folder.strip_suffix('/').unwrap_or(folder);
    let mut bound = String::with_capacity(prefix.len() + folder.len());
    bound.push_str(prefix);
    bound.push_str(stem);
    bound.push('0');
    bound
}

/// Collects listing names, keeping each once. The scans produce names in
/// sorted order (truncating sorted keys after their first '/' keeps them
/// sorted), so comparing with the last name is enough.
#[derive(Default)]
pub(crate) struct Names(Vec<String>);

impl Names {
    pub(crate) fn push(&mut self, name: &str) {
        if self.0.last().map(String::as_str) != Some(name) {
            self.0.push(name.to_owned());
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries() {
        assert_eq!(entry("a/", "a/b"), Some(Entry::Leaf("b")));
        assert_eq!(entry("a/", "a/b/c/d"), Some(Entry::Folder("b/")));
        assert_eq!(entry("", "x"), Some(Entry::Leaf("x")));
        assert_eq!(entry("a/", "b/c"), None);
        assert_eq!(entry("a/", "a/"), None);
    }

    #[test]
    fn successor_of_simple_and_edge_prefixes() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("ab").as_deref(), Some("ac"));
        assert_eq!(successor(""), None);
        assert_eq!(successor("\u{10FFFF}"), None);
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(successor("%_").as_deref(), Some("%`"));
    }

    #[test]
    fn after_folder_skips_only_the_folder() {
        let bound = after_folder("p/", "f/");
        assert_eq!(bound, "p/f0");
        assert!("p/f/zzz" < bound.as_str());
        assert!("p/f0" >= bound.as_str());
        assert!(
            "p/f-" < "p/f/",
            "'-' sorts before '/' and is listed earlier"
        );
    }

    proptest! {
        #[test]
        fn successor_bounds_exactly_the_prefixed_strings(
            prefix in "\\PC{0,4}",
            other in "\\PC{0,6}",
        ) {
            let candidate = format!("{prefix}{other}");
            match successor(&prefix) {
                Some(upper) => {
                    prop_assert!(candidate < upper);
                    prop_assert!(!upper.starts_with(&prefix));
                    // Any string in [prefix, upper) starts with prefix.
                    if other.as_str() >= prefix.as_str() && other < upper {
                        prop_assert!(other.starts_with(&prefix));
                    }
                }
                None => prop_assert!(prefix.chars().all(|c| c == char::MAX)),
            }
        }
    }
}
