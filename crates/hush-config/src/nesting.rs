//! A bound on nesting, checked before any recursive parser sees outside input.
//!
//! The HCL parser (and the code that walks what it returns) recurses once per bracket level, so
//! a small text nested a few hundred levels deep would overflow a thread's stack and abort the
//! whole server. This scan is iterative and runs first: text nested deeper than the limit is
//! refused with an error that names the limit and the line.

/// The deepest nesting of `[`, `{` and `(` accepted in policy and configuration text. Real
/// policies and configurations use fewer than ten levels.
pub const MAX_NESTING: usize = 64;

/// Text nested deeper than [`MAX_NESTING`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "brackets are nested more than {limit} levels deep at line {line}; no policy or \
     configuration needs that many: flatten the structure"
)]
pub struct TooDeep {
    /// The limit that was crossed.
    pub limit: usize,
    /// One-based line where it was crossed.
    pub line: usize,
}

/// Refuses `text` if its brackets nest more than `limit` levels. Brackets inside strings and
/// comments are counted too: that can only make the check stricter, never let deep input by,
/// and interpolations inside strings (`"${[...]}"`) are parsed recursively as well.
pub fn check(text: &str, limit: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut line = 1usize;
    for b in text.bytes() {
        match b {
            b'[' | b'{' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { limit, line });
                }
            }
            b']' | b'}' | b')' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_nesting() {
        assert!(check("path \"a\" { capabilities = [\"read\"] }", MAX_NESTING).is_ok());
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(check(&ok, MAX_NESTING).is_ok());
        let deep = format!("x = 1\n{}", "[{(".repeat(22));
        assert_eq!(
            check(&deep, MAX_NESTING),
            Err(TooDeep { limit: 64, line: 2 })
        );
        // Closers never go below zero, so stray ones cannot hide a deep run after them.
        let stray = format!("{}{}", "]".repeat(100), "[".repeat(65));
        assert!(check(&stray, MAX_NESTING).is_err());
    }
}
