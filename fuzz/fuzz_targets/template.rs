//! `hush template` rendering (minijinja with hush's functions and filters), with secrets
//! answered from a fixed map.
#![no_main]
use std::collections::BTreeMap;

use minijinja::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hush_deliver::template::check_syntax("fuzz.tmpl", source);
    let _ = hush_deliver::template::render_with("fuzz.tmpl", source, |path| {
        if path.starts_with("missing") {
            return Err(format!("no secret at {path}"));
        }
        let mut m = BTreeMap::new();
        m.insert("password".to_owned(), Value::from("hunter2"));
        m.insert("port".to_owned(), Value::from(5432));
        m.insert(
            "nested".to_owned(),
            Value::from_serialize(serde_json::json!({"a": [1, 2, {"b": null}]})),
        );
        Ok(m)
    });
});
