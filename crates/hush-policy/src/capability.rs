//! Capabilities (`create`, `read`, ...) and compact sets of them.

use std::fmt;
use std::str::FromStr;

use crate::error::PolicyError;

/// One capability a policy rule can grant, as written in `capabilities = [...]`.
///
/// Names are case-sensitive, as in Vault: `"read"` is a capability, `"Read"` is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Write data that does not exist yet (POST/PUT on a new path).
    Create,
    /// Read data (GET).
    Read,
    /// Change existing data (POST/PUT on an existing path).
    Update,
    /// Partially update data (PATCH).
    Patch,
    /// Delete data (DELETE).
    Delete,
    /// List keys (LIST, or GET with `?list=true`).
    List,
    /// Access root-protected paths, in addition to the operation's own capability.
    Sudo,
    /// Forbid everything at the path; wins over every other capability.
    Deny,
}

impl Capability {
    /// Every capability, in the canonical order used when formatting policies.
    pub const ALL: [Capability; 8] = [
        Capability::Create,
        Capability::Read,
        Capability::Update,
        Capability::Patch,
        Capability::Delete,
        Capability::List,
        Capability::Sudo,
        Capability::Deny,
    ];

    /// The name of the capability as written in policies (`"read"`).
    pub const fn name(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
        }
    }

    const fn bit(self) -> u16 {
        match self {
            Capability::Create => 1 << 0,
            Capability::Read => 1 << 1,
            Capability::Update => 1 << 2,
            Capability::Patch => 1 << 3,
            Capability::Delete => 1 << 4,
            Capability::List => 1 << 5,
            Capability::Sudo => 1 << 6,
            Capability::Deny => 1 << 7,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = PolicyError;

    /// Parses a capability name; an unknown name is an error that lists the valid ones.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| PolicyError::UnknownCapability {
                name: s.to_string(),
            })
    }
}

/// A set of capabilities stored as a bitset, cheap to copy and to test.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapabilitySet(u16);

impl CapabilitySet {
    /// The empty set: grants nothing.
    pub const EMPTY: CapabilitySet = CapabilitySet(0);

    /// Every capability except `deny`: what a root token has.
    pub const ALL_GRANTS: CapabilitySet = CapabilitySet(0b0111_1111);

    /// The set holding only `deny`.
    pub const DENY: CapabilitySet = CapabilitySet(Capability::Deny.bit());

    /// Creates an empty set.
    pub const fn new() -> CapabilitySet {
        CapabilitySet(0)
    }

    /// Creates a set from the given capabilities.
    pub fn of(caps: &[Capability]) -> CapabilitySet {
        caps.iter().copied().collect()
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap` to the set.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Removes `cap` from the set.
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    /// The union of both sets.
    #[must_use]
    pub const fn union(self, other: CapabilitySet) -> CapabilitySet {
        CapabilitySet(self.0 | other.0)
    }

    /// Whether the set holds no capability at all.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set holds `deny`, which makes every other capability irrelevant.
    pub const fn is_deny(self) -> bool {
        self.contains(Capability::Deny)
    }

    /// The capabilities in the set, in canonical order (create, read, update, patch, delete,
    /// list, sudo, deny).
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The names of the capabilities in the set, in canonical order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Capability::name).collect()
    }
}

impl fmt::Debug for CapabilitySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapabilitySet::new();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl Extend<Capability> for CapabilitySet {
    fn extend<I: IntoIterator<Item = Capability>>(&mut self, iter: I) {
        for cap in iter {
            self.insert(cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.name().parse::<Capability>().unwrap(), cap);
            assert_eq!(cap.to_string(), cap.name());
        }
    }

    #[test]
    fn unknown_capability_lists_valid_ones() {
        let err = "Read".parse::<Capability>().unwrap_err().to_string();
        assert!(err.contains("\"Read\""), "{err}");
        assert!(
            err.contains("create, read, update, patch, delete, list, sudo, deny"),
            "{err}"
        );
    }

    #[test]
    fn set_operations() {
        let mut set = CapabilitySet::new();
        assert!(set.is_empty());
        set.insert(Capability::List);
        set.insert(Capability::Read);
        assert!(set.contains(Capability::Read));
        assert!(!set.contains(Capability::Update));
        assert_eq!(set.names(), vec!["read", "list"]);
        let other = CapabilitySet::of(&[Capability::Update]);
        let both = set.union(other);
        assert_eq!(both.names(), vec!["read", "update", "list"]);
        set.remove(Capability::Read);
        assert_eq!(set.names(), vec!["list"]);
        assert_eq!(format!("{both:?}"), "{Read, Update, List}");
        assert!(!CapabilitySet::ALL_GRANTS.is_deny());
        assert!(CapabilitySet::ALL_GRANTS.contains(Capability::Sudo));
        assert!(CapabilitySet::DENY.is_deny());
    }
}
