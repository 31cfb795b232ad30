//! `*` globs as Vault uses them in bound service-account names/namespaces and in JWT
//! `bound_claims` of type "glob": `*` matches any run of characters (including none); every
//! other character matches itself.

/// Whether `value` matches `pattern`.
pub(crate) fn matches(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Greedy matching with backtracking to the last '*': linear in practice and never
    // exponential, unlike naive recursion.
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("app-*", "app-web"));
        assert!(!matches("app-*", "web-app"));
        assert!(matches("*-prod", "payments-prod"));
        assert!(!matches("*-prod", "payments-dev"));
        assert!(matches("team-*-prod", "team-a-prod"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }
}
