//! ACL policies with HashiCorp Vault's semantics.
//!
//! Vault users bring their existing policies, so this crate reads the same language (HCL or
//! JSON, including the legacy `policy = "write"` form, parameter constraints, wrapping TTLs and
//! `{{identity...}}` templates) and decides exactly as Vault does which rule applies to a path.
//! It is pure: no I/O, no storage, no HTTP. The core maps HTTP operations to capabilities and
//! asks an [`Acl`].
//!
//! ```
//! use hush_policy::{parse, Acl, Capability};
//!
//! let policy = parse("dev", r#"
//!     path "secret/*"         { capabilities = ["create", "read", "update", "list"] }
//!     path "secret/prod/*"    { capabilities = ["deny"] }
//! "#)?;
//! let acl = Acl::new(&[&policy]);
//! assert!(acl.check("secret/app", Capability::Read, false, None, None).allowed);
//! assert!(!acl.check("secret/prod/db", Capability::Read, false, None, None).allowed);
//! assert_eq!(acl.capabilities("secret/app"), ["create", "list", "read", "update"]);
//! # Ok::<(), hush_policy::PolicyError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod acl;
mod capability;
mod default_policy;
mod error;
mod format;
mod password;
mod policy;
mod source;
mod template;

pub use acl::{Acl, Decision};
pub use capability::{Capability, CapabilitySet};
pub use default_policy::DEFAULT_POLICY;
pub use error::PolicyError;
pub use password::{parse_password_policy, CharsetRule, PasswordPolicy};
pub use policy::{normalize_name, parse, validate_name, PathRule, Policy};
