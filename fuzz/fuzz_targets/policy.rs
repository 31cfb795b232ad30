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
    let again = hush_policy::parse("fuzz", &policy.to_hcl())
        .expect("the HCL form of a parsed policy parses again");
    assert_eq!(
        again.to_hcl(),
        policy.to_hcl(),
        "the HCL round trip is stable"
    );
});
