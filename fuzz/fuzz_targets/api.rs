//! The whole request path: HTTP decoding (method, percent-decoded path, query, JSON body,
//! headers), canonicalization, the ACL, and every handler (sys, tokens, KV, auth methods).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hush_fuzz::run_api_script(data));
