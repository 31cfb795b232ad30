//! Policy documents (HCL and JSON): a parsed policy also compiles into an ACL, answers
//! checks, and survives a round trip through its HCL form.
#![no_main]
use hush_policy::{Acl, Capability};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = hush_policy::parse("fuzz", text) else {
        return;
    };
    let acl = Acl::new(&[&policy]);
    for path in [
        "secret/data/app",
        "sys/mounts",
        "auth/token/create",
        "",
        "a/b/c/",
    ] {
        let _ = acl.capabilities(path);
        let _ = acl.check(path, Capability::Read, false, None, None);
        let _ = acl.check(
            path,
            Capability::Update,
            true,
            None,
            Some(std::time::Duration::from_secs(60)),
        );
    }
    let hcl = policy.to_hcl();
    let again =
        hush_policy::parse("fuzz", &hcl).expect("the HCL form of a parsed policy parses again");
    // As in Vault, one leading `/` of a rule's path is dropped when parsed, so `//x` becomes `/x`
    // (a rule no request path matches) and then `x`: such rules do not round-trip.
    if !hcl.contains("path \"/") {
        assert_eq!(again.to_hcl(), hcl, "the HCL round trip is stable");
    }
});
