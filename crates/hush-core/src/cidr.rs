//! CIDR blocks for `bound_cidrs` checks ([`Cidr`] lives in hush-config, which listeners use
//! too).

use std::net::IpAddr;

pub use hush_config::cidr::{Cidr, CidrError};

use crate::error::{CoreError, Result};

/// Parses a list of blocks (validation of request fields).
pub fn parse_list(items: &[String]) -> Result<Vec<Cidr>> {
    items
        .iter()
        .map(|s| Cidr::parse(s).map_err(|e| CoreError::bad(e.to_string())))
        .collect()
}

/// Whether `ip` is allowed by `blocks` (an empty list allows everything; an unknown address is
/// allowed by nothing but an empty list).
pub fn allowed(blocks: &[String], ip: Option<IpAddr>) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    blocks
        .iter()
        .filter_map(|b| Cidr::parse(b).ok())
        .any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_by_a_list() {
        assert!(allowed(
            &["10.0.0.0/8".into()],
            Some("10.1.2.3".parse().unwrap())
        ));
        assert!(!allowed(
            &["10.0.0.0/8".into()],
            Some("11.1.2.3".parse().unwrap())
        ));
        assert!(allowed(&[], None));
        assert!(!allowed(&["10.0.0.0/8".into()], None));
    }
}
