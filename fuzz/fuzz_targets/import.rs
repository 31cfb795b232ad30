//! `hush import` input files: .env, JSON and YAML (the first byte picks the format).
#![no_main]
use hush_deliver::parse::{parse, InputFormat};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match first % 3 {
        0 => InputFormat::Dotenv,
        1 => InputFormat::Json,
        _ => InputFormat::Yaml,
    };
    let _ = parse("fuzz-input", text, format);
});
