//! The server configuration file (HCL or JSON).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = hush_config::ServerConfig::from_str(text, "fuzz.hcl");
    }
});
