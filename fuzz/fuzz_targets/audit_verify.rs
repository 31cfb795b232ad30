//! Audit-log verification (`hush audit verify`), which reads files an attacker may have
//! written: with and without an expected head.
#![no_main]
use hush_audit::ChainHead;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let report = hush_audit::verify(data, None);
    assert!(
        report.ok || report.problem.is_some(),
        "a failed check says why"
    );
    let head = ChainHead {
        seq: 3,
        hash: "0".repeat(64),
    };
    let _ = hush_audit::verify(data, Some(&head));
});
