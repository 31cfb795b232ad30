//! Token TTL arithmetic, as Vault does it, as plain functions of their inputs (seconds; 0 means
//! "not set" for maxima and "never expires" for a TTL).

/// What decides a new token's TTL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreationTtl {
    /// `period` (from the request or the role): a periodic token lives exactly this long.
    pub period: u64,
    /// `ttl` (or `lease`) of the request.
    pub requested: Option<u64>,
    /// The role's `token_ttl`, if it sets one.
    pub role_ttl: Option<u64>,
    /// The role's `token_max_ttl`, if it sets one.
    pub role_max: Option<u64>,
    /// The system (or mount) default TTL.
    pub sys_default: u64,
    /// The system (or mount) maximum TTL.
    pub sys_max: u64,
    /// `explicit_max_ttl`: a hard cap no renewal passes.
    pub explicit_max: u64,
    /// The token has only the `root` policy: with nothing asked it never expires.
    pub root: bool,
}

/// A new token's TTL: the period when periodic; else what was asked (or the role's), capped
/// by the role's and the system's maximum; a root token with nothing asked never expires;
/// anything else gets the default. `explicit_max` caps the result (also a TTL of "never").
pub fn creation_ttl(i: &CreationTtl) -> u64 {
    let max = i.role_max.unwrap_or(i.sys_max).min(i.sys_max);
    let ttl = if i.period > 0 {
        i.period
    } else {
        match i.requested.or(i.role_ttl) {
            Some(t) if t > 0 => t.min(max),
            _ if i.root && i.explicit_max == 0 => 0,
            _ => i.sys_default.min(max),
        }
    };
    if i.explicit_max > 0 && (ttl == 0 || ttl > i.explicit_max) {
        i.explicit_max
    } else {
        ttl
    }
}

/// What a renewal of a token gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Unix seconds now.
    pub now: i64,
    /// Unix seconds the token was created.
    pub creation_time: i64,
    /// The `increment` asked (0: the token's own TTL).
    pub increment: u64,
    /// The token's TTL where it is set now (its role or auth method).
    pub ttl: u64,
    /// The maximum, counted from creation.
    pub max_ttl: u64,
    /// The period: a periodic token renews to exactly this, with no maximum.
    pub period: u64,
    /// The token's `explicit_max_ttl`, counted from creation.
    pub explicit_max: u64,
}

/// The TTL a renewal sets: the period when periodic, else the increment (or the TTL) capped by
/// what is left of the maximum since creation; `explicit_max` caps both.
pub fn renewed_ttl(r: &Renewal) -> u64 {
    let left = |limit: u64| (r.creation_time + limit as i64 - r.now).max(0) as u64;
    let ttl = if r.period > 0 {
        r.period
    } else {
        let wanted = if r.increment > 0 { r.increment } else { r.ttl };
        wanted.min(left(r.max_ttl))
    };
    if r.explicit_max > 0 {
        ttl.min(left(r.explicit_max))
    } else {
        ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    #[test]
    fn creation() {
        let base = CreationTtl {
            sys_default: 768 * H,
            sys_max: 768 * H,
            ..CreationTtl::default()
        };
        let cases = [
            ("nothing asked: the default", base, 768 * H),
            (
                "asked",
                CreationTtl {
                    requested: Some(60),
                    ..base
                },
                60,
            ),
            (
                "asked over the max",
                CreationTtl {
                    requested: Some(1000 * H),
                    ..base
                },
                768 * H,
            ),
            (
                "the role's ttl",
                CreationTtl {
                    role_ttl: Some(90),
                    ..base
                },
                90,
            ),
            (
                "asked beats the role",
                CreationTtl {
                    requested: Some(30),
                    role_ttl: Some(90),
                    ..base
                },
                30,
            ),
            (
                "the role's max caps",
                CreationTtl {
                    requested: Some(H),
                    role_max: Some(600),
                    ..base
                },
                600,
            ),
            (
                "a role max above the system's",
                CreationTtl {
                    role_max: Some(1000 * H),
                    ..base
                },
                768 * H,
            ),
            ("root never expires", CreationTtl { root: true, ..base }, 0),
            (
                "root with a ttl",
                CreationTtl {
                    root: true,
                    requested: Some(60),
                    ..base
                },
                60,
            ),
            (
                "root with an explicit max",
                CreationTtl {
                    root: true,
                    explicit_max: 120,
                    ..base
                },
                120,
            ),
            (
                "periodic",
                CreationTtl {
                    period: 300,
                    requested: Some(60),
                    ..base
                },
                300,
            ),
            (
                "explicit max caps",
                CreationTtl {
                    requested: Some(H),
                    explicit_max: 100,
                    ..base
                },
                100,
            ),
            (
                "explicit max above",
                CreationTtl {
                    requested: Some(60),
                    explicit_max: 100,
                    ..base
                },
                60,
            ),
            (
                "a zero ttl is the default",
                CreationTtl {
                    requested: Some(0),
                    ..base
                },
                768 * H,
            ),
        ];
        for (what, input, want) in cases {
            assert_eq!(creation_ttl(&input), want, "{what}");
        }
    }

    #[test]
    fn renewal() {
        let base = Renewal {
            now: 1_000,
            creation_time: 0,
            ttl: 600,
            max_ttl: 2_000,
            ..Renewal::default()
        };
        let cases = [
            ("the token's ttl", base, 600),
            (
                "an increment",
                Renewal {
                    increment: 60,
                    ..base
                },
                60,
            ),
            (
                "capped by the max from creation",
                Renewal {
                    increment: 5_000,
                    ..base
                },
                1_000,
            ),
            ("past the max", Renewal { now: 2_500, ..base }, 0),
            (
                "periodic ignores the max",
                Renewal {
                    period: 300,
                    now: 9_000,
                    ..base
                },
                300,
            ),
            (
                "explicit max caps",
                Renewal {
                    explicit_max: 1_200,
                    ..base
                },
                200,
            ),
            (
                "explicit max caps a period",
                Renewal {
                    period: 300,
                    explicit_max: 1_100,
                    ..base
                },
                100,
            ),
        ];
        for (what, input, want) in cases {
            assert_eq!(renewed_ttl(&input), want, "{what}");
        }
    }
}
