//! Server configuration: both formats, every stanza, merging, and every error path.

use std::path::PathBuf;
use std::time::Duration;

use hush_config::{
    ConfigError, KeySource, ListenerConfig, SealConfig, ServerConfig, StorageConfig, TlsVersion,
};

const FULL_HCL: &str = r#"
# A typical production-style Vault config.
storage "sqlite" {
  path = "/var/lib/hush/hush.db"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = 1
}

listener "tcp" {
  address                            = "0.0.0.0:8201"
  tls_cert_file                      = "/etc/hush/tls/cert.pem"
  tls_key_file                       = "/etc/hush/tls/key.pem"
  tls_client_ca_file                 = "/etc/hush/tls/ca.pem"
  tls_require_and_verify_client_cert = "true"
  tls_min_version                    = "tls13"
}

seal "static" {
  current_key_id  = "2025-02"
  current_key     = "env://HUSH_SEAL_KEY"
  previous_key_id = "2025-01"
  previous_key    = "file:///etc/hush/old-seal.key"
}

disable_mlock     = true
default_lease_ttl = "768h"
max_lease_ttl     = 8760000
api_addr          = "https://hush.example.com:8201"
cluster_name      = "prod-eu"
ui                = true
log_level         = "Warning"
"#;

const FULL_JSON: &str = r#"{
  "storage": {"sqlite": {"path": "/var/lib/hush/hush.db"}},
  "listener": [
    {"tcp": {"address": "127.0.0.1:8200", "tls_disable": "1"}},
    {"tcp": {
      "address": "0.0.0.0:8201",
      "tls_cert_file": "/etc/hush/tls/cert.pem",
      "tls_key_file": "/etc/hush/tls/key.pem",
      "tls_client_ca_file": "/etc/hush/tls/ca.pem",
      "tls_require_and_verify_client_cert": true,
      "tls_min_version": "tls13"
    }}
  ],
  "seal": {"static": {
    "current_key_id": "2025-02",
    "current_key": "env://HUSH_SEAL_KEY",
    "previous_key_id": "2025-01",
    "previous_key": "file:///etc/hush/old-seal.key"
  }},
  "disable_mlock": true,
  "default_lease_ttl": "768h",
  "max_lease_ttl": 8760000,
  "api_addr": "https://hush.example.com:8201",
  "cluster_name": "prod-eu",
  "ui": "true",
  "log_level": "warning"
}"#;

fn expected_full() -> ServerConfig {
    ServerConfig {
        storage: Some(StorageConfig::Sqlite {
            path: PathBuf::from("/var/lib/hush/hush.db"),
        }),
        listeners: vec![
            ListenerConfig {
                address: "127.0.0.1:8200".to_string(),
                tls_disable: true,
                ..ListenerConfig::default()
            },
            ListenerConfig {
                address: "0.0.0.0:8201".to_string(),
                tls_disable: false,
                tls_cert_file: Some("/etc/hush/tls/cert.pem".into()),
                tls_key_file: Some("/etc/hush/tls/key.pem".into()),
                tls_client_ca_file: Some("/etc/hush/tls/ca.pem".into()),
                tls_require_and_verify_client_cert: true,
                tls_min_version: Some(TlsVersion::Tls13),
                tls_max_version: None,
                ..ListenerConfig::default()
            },
        ],
        seal: Some(SealConfig::Static {
            current_key_id: "2025-02".to_string(),
            current_key: "env://HUSH_SEAL_KEY".to_string(),
            previous_key_id: Some("2025-01".to_string()),
            previous_key: Some("file:///etc/hush/old-seal.key".to_string()),
        }),
        disable_mlock: true,
        disable_cache: false,
        cache_size: None,
        default_lease_ttl: Some(Duration::from_secs(768 * 3600)),
        max_lease_ttl: Some(Duration::from_secs(8_760_000)),
        api_addr: Some("https://hush.example.com:8201".to_string()),
        cluster_name: Some("prod-eu".to_string()),
        ui: true,
        log_level: Some("warn".to_string()),
        telemetry: Default::default(),
        warnings: Vec::new(),
    }
}

fn parse(text: &str, name: &str) -> ServerConfig {
    match ServerConfig::from_str(text, name) {
        Ok(config) => config,
        Err(e) => panic!("{name} should parse: {e}"),
    }
}

fn error(text: &str, name: &str) -> String {
    match ServerConfig::from_str(text, name) {
        Ok(config) => panic!("{name} should fail to parse, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `message` contains every fragment, showing the message on failure.
fn assert_mentions(message: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "expected {fragment:?} in error message:\n{message}"
        );
    }
}

#[test]
fn full_hcl_config_parses_into_exact_struct() {
    assert_eq!(parse(FULL_HCL, "full.hcl"), expected_full());
}

#[test]
fn full_json_config_parses_into_the_same_struct() {
    assert_eq!(parse(FULL_JSON, "full.json"), expected_full());
    // Detection by content: no .json extension, but the document starts with '{'.
    assert_eq!(parse(FULL_JSON, "config"), expected_full());
}

#[test]
fn empty_hcl_document_is_the_default_config() {
    assert_eq!(parse("", "empty.hcl"), ServerConfig::default());
    assert_eq!(
        parse("# only a comment\n", "c.hcl"),
        ServerConfig::default()
    );
    assert_eq!(parse("{}", "empty.json"), ServerConfig::default());
}

#[test]
fn json_listener_shapes() {
    let single = parse(
        r#"{"listener": {"tcp": {"address": "127.0.0.1:9000", "tls_disable": true}}}"#,
        "a.json",
    );
    assert_eq!(single.listeners.len(), 1);
    assert_eq!(single.listeners[0].address, "127.0.0.1:9000");

    let list_under_type = parse(
        r#"{"listener": {"tcp": [
            {"address": "127.0.0.1:9000", "tls_disable": true},
            {"address": "127.0.0.1:9001", "tls_disable": "true"}
        ]}}"#,
        "a.json",
    );
    let addresses: Vec<&str> = list_under_type
        .listeners
        .iter()
        .map(|l| l.address.as_str())
        .collect();
    assert_eq!(addresses, ["127.0.0.1:9000", "127.0.0.1:9001"]);

    let empty_body = parse(r#"{"listener": [{"tcp": {"tls_disable": 1}}]}"#, "a.json");
    assert_eq!(empty_body.listeners[0].address, "127.0.0.1:8200");
}

#[test]
fn hcl_listener_without_address_uses_the_default() {
    let config = parse("listener \"tcp\" { tls_disable = \"true\" }", "a.hcl");
    assert_eq!(
        config.listeners,
        vec![ListenerConfig {
            tls_disable: true,
            ..ListenerConfig::default()
        }]
    );
}

#[test]
fn storage_stanzas_in_both_formats() {
    let sqlite = Some(StorageConfig::Sqlite {
        path: "data/hush.db".into(),
    });
    assert_eq!(
        parse("storage \"sqlite\" { path = \"data/hush.db\" }", "a.hcl").storage,
        sqlite
    );
    assert_eq!(
        parse("backend \"sqlite\" { path = \"data/hush.db\" }", "a.hcl").storage,
        sqlite
    );
    assert_eq!(
        parse(
            r#"{"backend": {"sqlite": {"path": "data/hush.db"}}}"#,
            "a.json"
        )
        .storage,
        sqlite
    );
    let inmem = parse("storage \"inmem\" {}", "dev.hcl");
    assert_eq!(inmem.storage, Some(StorageConfig::Inmem));
    assert_mentions(&inmem.warnings.join("\n"), &["inmem", "dev.hcl", "lost"]);
    assert_eq!(
        parse(r#"{"storage": {"inmem": {}}}"#, "a.json").storage,
        Some(StorageConfig::Inmem)
    );
}

#[test]
fn seal_stanzas_in_both_formats() {
    let hcl = parse(
        "seal \"static\" {\n current_key_id = \"k1\"\n current_key = \"env://KEY\"\n}",
        "a.hcl",
    );
    let json = parse(
        r#"{"seal": {"static": {"current_key_id": "k1", "current_key": "env://KEY"}}}"#,
        "a.json",
    );
    let expected = Some(SealConfig::Static {
        current_key_id: "k1".to_string(),
        current_key: "env://KEY".to_string(),
        previous_key_id: None,
        previous_key: None,
    });
    assert_eq!(hcl.seal, expected);
    assert_eq!(json.seal, expected);
    assert!(hcl.warnings.is_empty(), "{:?}", hcl.warnings);

    // A heredoc (or stray spaces) around a key value is not part of the key.
    let heredoc = parse(
        "seal \"static\" {\n current_key_id = \" k1 \"\n current_key = <<EOT\nenv://KEY\nEOT\n}",
        "a.hcl",
    );
    assert_eq!(heredoc.seal, expected);

    // The default seal may be named explicitly; it has no settings.
    assert_eq!(parse("seal \"shamir\" {}", "a.hcl").seal, None);
    assert_eq!(parse(r#"{"seal": {"shamir": {}}}"#, "a.json").seal, None);
}

#[test]
fn booleans_accept_vault_spellings() {
    let cases: &[(&str, bool)] = &[
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("\"true\"", true),
        ("\"false\"", false),
        ("\"1\"", true),
        ("\"0\"", false),
        ("\"TRUE\"", true),
    ];
    for (literal, expected) in cases {
        let text = format!("disable_mlock = {literal}\nui = {literal}");
        let config = parse(&text, "a.hcl");
        assert_eq!(config.disable_mlock, *expected, "{literal}");
        assert_eq!(config.ui, *expected, "{literal}");
        let listener = parse(
            &format!("listener \"tcp\" {{\n tls_disable = true\n tls_require_and_verify_client_cert = false\n}}\nui = {literal}"),
            "b.hcl",
        );
        assert_eq!(listener.ui, *expected);
    }
    for bad in ["\"yes\"", "2", "\"on\"", "[true]"] {
        let message = error(&format!("ui = {bad}"), "a.hcl");
        assert_mentions(&message, &["\"ui\"", "a.hcl", "expected true, false"]);
    }
}

#[test]
fn durations_accept_strings_and_seconds() {
    let config = parse(
        "default_lease_ttl = \"1h30m\"\nmax_lease_ttl = 7200",
        "a.hcl",
    );
    assert_eq!(config.default_lease_ttl, Some(Duration::from_secs(5400)));
    assert_eq!(config.max_lease_ttl, Some(Duration::from_secs(7200)));
    let config = parse(
        r#"{"default_lease_ttl": 45, "max_lease_ttl": "60"}"#,
        "a.json",
    );
    assert_eq!(config.default_lease_ttl, Some(Duration::from_secs(45)));
    assert_eq!(config.max_lease_ttl, Some(Duration::from_secs(60)));

    let message = error("default_lease_ttl = \"30d\"", "ttl.hcl");
    assert_mentions(
        &message,
        &[
            "\"default_lease_ttl\"",
            "ttl.hcl",
            "\"30d\"",
            "valid examples",
        ],
    );
    let message = error("max_lease_ttl = -5", "ttl.hcl");
    assert_mentions(&message, &["\"max_lease_ttl\"", "negative"]);
    let message = error(r#"{"max_lease_ttl": 1.5}"#, "ttl.json");
    assert_mentions(&message, &["\"max_lease_ttl\"", "ttl.json", "whole number"]);
}

#[test]
fn log_level_is_validated_and_normalised() {
    for (given, canonical) in [
        ("trace", "trace"),
        ("DEBUG", "debug"),
        ("info", "info"),
        ("warn", "warn"),
        ("warning", "warn"),
        ("err", "error"),
        ("error", "error"),
    ] {
        let config = parse(&format!("log_level = \"{given}\""), "a.hcl");
        assert_eq!(config.log_level.as_deref(), Some(canonical));
    }
    let message = error("log_level = \"verbose\"", "a.hcl");
    assert_mentions(
        &message,
        &[
            "\"log_level\"",
            "a.hcl",
            "\"verbose\"",
            "trace, debug, info, warn, error",
        ],
    );
}

#[test]
fn api_addr_and_cluster_name_are_validated() {
    let message = error("api_addr = \"hush.example.com:8200\"", "a.hcl");
    assert_mentions(&message, &["\"api_addr\"", "a.hcl", "https://"]);
    let message = error("api_addr = \"https://\"", "a.hcl");
    assert_mentions(&message, &["\"api_addr\"", "no valid host"]);
    let message = error("cluster_name = \"\"", "a.hcl");
    assert_mentions(&message, &["\"cluster_name\"", "empty"]);
    let message = error("cluster_name = 5", "a.hcl");
    assert_mentions(
        &message,
        &[
            "\"cluster_name\"",
            "expected a quoted string, found a number",
        ],
    );
}

#[test]
fn unknown_top_level_key_lists_supported_keys() {
    let message = error("stroage \"sqlite\" { path = \"x\" }", "a.hcl");
    assert_mentions(
        &message,
        &[
            "unknown key \"stroage\" in the top level (file a.hcl)",
            "supported: storage, backend, listener, seal, disable_mlock",
            "did you mean \"storage\"?",
        ],
    );
    let message = error(r#"{"ha_storage": {"consul": {}}}"#, "b.json");
    assert_mentions(
        &message,
        &["\"ha_storage\"", "b.json", "supported: storage"],
    );
}

#[test]
fn unknown_listener_key_names_the_stanza_and_lists_its_keys() {
    let message = error(
        "listener \"tcp\" {\n adress = \"0.0.0.0:8200\"\n tls_disable = true\n}",
        "a.hcl",
    );
    assert_mentions(
        &message,
        &[
            "unknown key \"adress\" in listener \"tcp\" (file a.hcl); supported: address, \
             tls_disable, tls_cert_file",
            "did you mean \"address\"?",
        ],
    );
}

#[test]
fn unknown_keys_in_other_stanzas() {
    let message = error(
        "storage \"sqlite\" {\n path = \"a\"\n node_id = \"n1\"\n}",
        "s.hcl",
    );
    assert_mentions(
        &message,
        &[
            "unknown key \"node_id\" in storage \"sqlite\" (file s.hcl)",
            "supported: path",
        ],
    );
    let message = error("storage \"inmem\" { path = \"a\" }", "s.hcl");
    assert_mentions(&message, &["\"path\"", "storage \"inmem\"", "no keys"]);
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://K\"\n disabled = true\n}",
        "seal.hcl",
    );
    assert_mentions(
        &message,
        &[
            "unknown key \"disabled\" in seal \"static\" (file seal.hcl)",
            "current_key_id, current_key, previous_key_id, previous_key",
        ],
    );
    let message = error("seal \"shamir\" { secret_shares = 5 }", "seal.hcl");
    assert_mentions(
        &message,
        &["\"secret_shares\"", "seal \"shamir\"", "seal.hcl"],
    );
}

#[test]
fn unsupported_storage_types() {
    for ty in ["consul", "raft", "postgresql", "s3", "mystery"] {
        let message = error(&format!("storage \"{ty}\" {{}}"), "st.hcl");
        assert_mentions(
            &message,
            &[
                &format!("storage type \"{ty}\" is not supported; supported storage types: sqlite, inmem"),
                "st.hcl",
            ],
        );
    }
    let message = error(r#"{"backend": {"consul": {"address": "x"}}}"#, "st.json");
    assert_mentions(
        &message,
        &["storage type \"consul\" is not supported", "st.json"],
    );
}

#[test]
fn vault_file_storage_is_refused_with_a_sqlite_suggestion() {
    let message = error("storage \"file\" { path = \"/vault/data\" }", "v.hcl");
    assert_mentions(
        &message,
        &[
            "storage type \"file\" is not supported",
            "v.hcl",
            "storage \"sqlite\" { path = \"/vault/data/hush.db\" }",
        ],
    );
    let message = error("storage \"file\" {}", "v.hcl");
    assert_mentions(&message, &["storage \"sqlite\" { path = "]);
}

#[test]
fn unsupported_listener_and_seal_types() {
    let message = error(
        "listener \"unix\" { address = \"/run/hush.sock\" }",
        "l.hcl",
    );
    assert_mentions(
        &message,
        &[
            "listener type \"unix\" is not supported",
            "supported listener types: tcp",
            "l.hcl",
        ],
    );
    for ty in ["awskms", "transit", "gcpckms", "pkcs11"] {
        let message = error(&format!("seal \"{ty}\" {{ key_id = \"x\" }}"), "seal.hcl");
        assert_mentions(
            &message,
            &[
                &format!("seal type \"{ty}\" is not supported"),
                "supported seal types: static, shamir",
                "seal.hcl",
            ],
        );
    }
}

#[test]
fn sqlite_requires_a_path() {
    let message = error("storage \"sqlite\" {}", "s.hcl");
    assert_mentions(
        &message,
        &[
            "storage \"sqlite\" is missing the required key \"path\" (file s.hcl)",
            "SQLite database file",
        ],
    );
    let message = error("storage \"sqlite\" { path = \"\" }", "s.hcl");
    assert_mentions(&message, &["\"path\"", "empty"]);
    let message = error(r#"{"storage": {"sqlite": {"path": 3}}}"#, "s.json");
    assert_mentions(&message, &["\"path\"", "s.json", "found a number"]);
}

#[test]
fn tls_listeners_need_certificate_and_key() {
    let message = error("listener \"tcp\" { address = \"0.0.0.0:8443\" }", "t.hcl");
    assert_mentions(
        &message,
        &[
            "listener \"tcp\" at 0.0.0.0:8443",
            "\"tls_cert_file\"",
            "t.hcl",
            "tls_disable = true",
        ],
    );
    let message = error(
        "listener \"tcp\" {\n address = \"0.0.0.0:8443\"\n tls_cert_file = \"c.pem\"\n}",
        "t.hcl",
    );
    assert_mentions(
        &message,
        &["listener \"tcp\" at 0.0.0.0:8443", "\"tls_key_file\""],
    );
    // An explicit tls_disable = false keeps TLS on.
    let message = error(
        "listener \"tcp\" {\n address = \"0.0.0.0:8443\"\n tls_disable = \"false\"\n}",
        "t.hcl",
    );
    assert_mentions(&message, &["\"tls_cert_file\""]);
    // No address: the default one is named.
    let message = error("listener \"tcp\" {}", "t.hcl");
    assert_mentions(
        &message,
        &["listener \"tcp\" at 127.0.0.1:8200", "\"tls_cert_file\""],
    );
}

#[test]
fn client_certificate_verification_needs_a_ca() {
    let message = error(
        "listener \"tcp\" {\n address = \"0.0.0.0:8443\"\n tls_cert_file = \"c.pem\"\n \
         tls_key_file = \"k.pem\"\n tls_require_and_verify_client_cert = true\n}",
        "m.hcl",
    );
    assert_mentions(
        &message,
        &[
            "listener \"tcp\" at 0.0.0.0:8443",
            "\"tls_client_ca_file\"",
            "m.hcl",
        ],
    );
    let message = error(
        "listener \"tcp\" {\n address = \"0.0.0.0:8443\"\n tls_disable = true\n \
         tls_client_ca_file = \"ca.pem\"\n tls_require_and_verify_client_cert = true\n}",
        "m.hcl",
    );
    assert_mentions(
        &message,
        &["listener \"tcp\" at 0.0.0.0:8443", "needs TLS", "m.hcl"],
    );
}

#[test]
fn tls_version_bounds_are_validated() {
    let base = "address = \"127.0.0.1:8443\"\n tls_cert_file = \"c\"\n tls_key_file = \"k\"";
    let config = parse(
        &format!("listener \"tcp\" {{\n {base}\n tls_min_version = \"tls12\"\n tls_max_version = \"tls13\"\n}}"),
        "v.hcl",
    );
    assert_eq!(config.listeners[0].tls_min_version, Some(TlsVersion::Tls12));
    assert_eq!(config.listeners[0].tls_max_version, Some(TlsVersion::Tls13));

    let message = error(
        &format!("listener \"tcp\" {{\n {base}\n tls_min_version = \"tls10\"\n}}"),
        "v.hcl",
    );
    assert_mentions(
        &message,
        &[
            "\"tls_min_version\"",
            "listener \"tcp\"",
            "v.hcl",
            "\"tls12\"",
        ],
    );
    let message = error(
        &format!("listener \"tcp\" {{\n {base}\n tls_max_version = \"tls14\"\n}}"),
        "v.hcl",
    );
    assert_mentions(&message, &["\"tls_max_version\"", "\"tls14\"", "\"tls13\""]);
    let message = error(
        &format!("listener \"tcp\" {{\n {base}\n tls_min_version = \"tls13\"\n tls_max_version = \"tls12\"\n}}"),
        "v.hcl",
    );
    assert_mentions(
        &message,
        &[
            "listener \"tcp\" at 127.0.0.1:8443",
            "higher than tls_max_version",
        ],
    );
}

#[test]
fn listener_addresses_are_validated() {
    for good in [
        "0.0.0.0:8200",
        "127.0.0.1:0",
        "[::1]:8200",
        "[::]:443",
        "localhost:8200",
        "hush.example.internal:8200",
        "my-host:1",
    ] {
        let config = parse(
            &format!("listener \"tcp\" {{\n address = \"{good}\"\n tls_disable = true\n}}"),
            "a.hcl",
        );
        assert_eq!(config.listeners[0].address, good);
    }
    let bad: &[(&str, &str)] = &[
        ("localhost", "has no port"),
        ("::1:8200", "in brackets"),
        ("[::1]", "[IPv6]:PORT"),
        ("[::1:8200", "[IPv6]:PORT"),
        ("127.0.0.1:99999", "not a number from 0 to 65535"),
        ("127.0.0.1:http", "not a number from 0 to 65535"),
        (":8200", "0.0.0.0:8200"),
        (
            "bad_host!:80",
            "neither an IP address nor a valid host name",
        ),
        ("256.1.1.1:80", "not a valid IPv4 address"),
        ("", "has no port"),
    ];
    for (address, fragment) in bad {
        let message = error(
            &format!("listener \"tcp\" {{\n address = \"{address}\"\n tls_disable = true\n}}"),
            "addr.hcl",
        );
        assert_mentions(
            &message,
            &["\"address\"", "listener \"tcp\"", "addr.hcl", fragment],
        );
    }
}

#[test]
fn ignored_vault_keys_load_with_warnings() {
    let text = r#"
cluster_addr  = "https://10.0.0.1:8201"
disable_cache = true
cache_size    = "5000"
pid_file      = "/run/vault.pid"
telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}
listener "tcp" {
  address                          = "127.0.0.1:8200"
  tls_disable                      = true
  cluster_address                  = "127.0.0.1:8201"
  x_forwarded_for_authorized_addrs = "10.0.0.0/8"
  telemetry {
    unauthenticated_metrics_access = true
  }
}
"#;
    let config = parse(text, "vault.hcl");
    assert_eq!(config.listeners.len(), 1);
    let all = config.warnings.join("\n");
    for key in ["cluster_addr", "pid_file", "cluster_address"] {
        assert_mentions(&all, &[&format!("key \"{key}\"")]);
    }
    // The telemetry stanzas take effect.
    assert_eq!(
        config.telemetry.prometheus_retention_time,
        std::time::Duration::from_secs(30)
    );
    assert!(config.telemetry.disable_hostname);
    assert!(!config.telemetry.enable_hostname_label);
    assert!(config.listeners[0].unauthenticated_metrics_access);
    // The X-Forwarded-For keys take effect (Vault's defaults for the rest).
    let ff = config.listeners[0]
        .forwarded_for
        .as_ref()
        .expect("forwarded_for");
    assert_eq!(
        ff.authorized_addrs,
        vec![hush_config::cidr::Cidr::parse("10.0.0.0/8").unwrap()]
    );
    assert_eq!(
        (
            ff.hop_skips,
            ff.reject_not_authorized,
            ff.reject_not_present
        ),
        (0, true, true)
    );
    assert_mentions(
        &all,
        &[
            "vault.hcl",
            "has no effect in hush",
            "listener \"tcp\" at 127.0.0.1:8200",
        ],
    );
    assert_eq!(config.warnings.len(), 3, "{all}");
    assert!(config.disable_cache);
    assert_eq!(config.cache_size, Some(5000));

    let json = parse(
        r#"{"telemetry": {"statsd_address": "x"}, "log_format": "json", "listener": {"tcp": {"tls_disable": true, "proxy_protocol_behavior": "use_always"}}}"#,
        "vault.json",
    );
    assert_eq!(json.warnings.len(), 3, "{:?}", json.warnings);
    assert_mentions(
        &json.warnings.join("\n"),
        &["key \"statsd_address\" in telemetry"],
    );
}

#[test]
fn tls_settings_on_a_plain_http_listener_are_reported_as_ignored() {
    let config = parse(
        "listener \"tcp\" {\n tls_disable = true\n tls_cert_file = \"c.pem\"\n tls_key_file = \"k.pem\"\n}",
        "w.hcl",
    );
    assert_eq!(config.listeners[0].tls_cert_file, Some("c.pem".into()));
    assert_mentions(
        &config.warnings.join("\n"),
        &[
            "tls_disable = true",
            "tls_cert_file, tls_key_file are ignored",
            "w.hcl",
        ],
    );
}

#[test]
fn seal_requirements() {
    let message = error("seal \"static\" { current_key = \"env://K\" }", "s.hcl");
    assert_mentions(
        &message,
        &["seal \"static\" is missing the required key \"current_key_id\" (file s.hcl)"],
    );
    let message = error("seal \"static\" { current_key_id = \"a\" }", "s.hcl");
    assert_mentions(
        &message,
        &["missing the required key \"current_key\"", "env://"],
    );
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://K\"\n previous_key_id = \"b\"\n}",
        "s.hcl",
    );
    assert_mentions(&message, &["\"previous_key\"", "s.hcl"]);
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://K\"\n previous_key = \"env://OLD\"\n}",
        "s.hcl",
    );
    assert_mentions(&message, &["\"previous_key_id\"", "s.hcl"]);
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://K\"\n previous_key_id = \"a\"\n previous_key = \"env://OLD\"\n}",
        "s.hcl",
    );
    assert_mentions(&message, &["previous_key_id and current_key_id", "new id"]);
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://\"\n}",
        "s.hcl",
    );
    assert_mentions(&message, &["\"current_key\"", "environment variable name"]);
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"file://\"\n}",
        "s.hcl",
    );
    assert_mentions(
        &message,
        &["\"current_key\"", "file:// must be followed by a path"],
    );
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = 12345\n}",
        "s.hcl",
    );
    assert_mentions(&message, &["\"current_key\"", "found a number"]);
    assert!(!message.contains("12345"), "{message}");
}

const LITERAL_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

#[test]
fn literal_seal_keys_never_appear_in_debug_or_messages() {
    let text = format!(
        "seal \"static\" {{\n current_key_id = \"k2\"\n current_key = \"{LITERAL_KEY}\"\n \
         previous_key_id = \"k1\"\n previous_key = \"deadbeefcafe0123456789\"\n}}"
    );
    let config = parse(&text, "s.hcl");
    let debug = format!("{config:?}");
    assert!(!debug.contains(LITERAL_KEY), "{debug}");
    assert!(!debug.contains("deadbeefcafe0123456789"), "{debug}");
    assert_mentions(&debug, &["<redacted>", "k2", "k1"]);
    let seal = config.seal.as_ref().expect("seal is configured");
    let pretty = format!("{seal:#?}");
    assert!(!pretty.contains(LITERAL_KEY), "{pretty}");
    // The value itself is kept as written for the server to decode.
    let SealConfig::Static { current_key, .. } = seal;
    assert_eq!(current_key, LITERAL_KEY);
    assert!(matches!(
        KeySource::parse(current_key),
        KeySource::Literal(_)
    ));
    assert_eq!(format!("{:?}", KeySource::parse(current_key)), "<redacted>");
    // Operators are told to move the key out of the file, without being shown it.
    let warnings = config.warnings.join("\n");
    assert_mentions(
        &warnings,
        &["current_key", "previous_key", "written literally", "s.hcl"],
    );
    assert!(!warnings.contains(LITERAL_KEY), "{warnings}");

    // References are not secret and stay visible.
    let referenced = SealConfig::Static {
        current_key_id: "k".to_string(),
        current_key: "env://HUSH_SEAL_KEY".to_string(),
        previous_key_id: None,
        previous_key: Some("file:///etc/hush/old.key".to_string()),
    };
    let debug = format!("{referenced:?}");
    assert_mentions(&debug, &["env://HUSH_SEAL_KEY", "file:///etc/hush/old.key"]);
}

#[test]
fn literal_seal_keys_never_appear_in_errors() {
    let cases = [
        // Missing previous_key_id with a literal previous key.
        format!(
            "seal \"static\" {{\n current_key_id = \"a\"\n current_key = \"{LITERAL_KEY}\"\n previous_key = \"{LITERAL_KEY}\"\n}}"
        ),
        // Unterminated string on the key's line: a syntax error.
        format!("seal \"static\" {{\n current_key_id = \"a\"\n current_key = \"{LITERAL_KEY}\n}}"),
        // A key written as an expression.
        format!("seal \"static\" {{\n current_key_id = \"a\"\n current_key = -\"{LITERAL_KEY}\"\n}}"),
        // An unknown key after a literal key.
        format!("seal \"static\" {{\n current_key_id = \"a\"\n current_key = \"{LITERAL_KEY}\"\n curent_key = \"{LITERAL_KEY}\"\n}}"),
        // Duplicate key.
        format!("seal \"static\" {{\n current_key_id = \"a\"\n current_key = \"{LITERAL_KEY}\"\n current_key = \"{LITERAL_KEY}\"\n}}"),
    ];
    for text in &cases {
        let message = error(text, "s.hcl");
        assert!(!message.contains(LITERAL_KEY), "{message}");
        assert_mentions(&message, &["s.hcl"]);
    }
    let json = format!(
        r#"{{"seal": {{"static": {{"current_key_id": "a", "current_key": "{LITERAL_KEY}", "previous_key": "{LITERAL_KEY}"}}}}}}"#
    );
    let message = error(&json, "s.json");
    assert!(!message.contains(LITERAL_KEY), "{message}");
}

#[test]
fn seal_equality_compares_every_field() {
    let make = |key: &str, previous: Option<&str>| SealConfig::Static {
        current_key_id: "a".to_string(),
        current_key: key.to_string(),
        previous_key_id: previous.map(|_| "b".to_string()),
        previous_key: previous.map(str::to_string),
    };
    assert_eq!(make("k", None), make("k", None));
    assert_ne!(make("k", None), make("k2", None));
    assert_eq!(make("k", Some("p")), make("k", Some("p")));
    assert_ne!(make("k", Some("p")), make("k", Some("q")));
    assert_ne!(make("k", Some("p")), make("k", None));
}

#[test]
fn syntax_errors_report_position() {
    let message = error("listener \"tcp\" {\n  address = \n}\n", "broken.hcl");
    assert_mentions(
        &message,
        &["HCL syntax error in broken.hcl at line 2", "column"],
    );
    let message = error("{\"ui\": true,,}", "broken.json");
    assert_mentions(
        &message,
        &["JSON syntax error in broken.json at line 1, column"],
    );
    // The extension decides even when the content looks like HCL.
    let message = error("ui = true", "looks-like.json");
    assert_mentions(&message, &["JSON syntax error in looks-like.json"]);
    match ServerConfig::from_str("ui = = true", "x.hcl") {
        Err(ConfigError::Syntax {
            line,
            column,
            format,
            ..
        }) => {
            assert_eq!((format, line), ("HCL", 1));
            assert!(column > 1);
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn structural_mistakes_are_explained() {
    let message = error("storage { path = \"x\" }", "a.hcl");
    assert_mentions(&message, &["storage", "exactly one type label", "a.hcl"]);
    let message = error("listener \"tcp\" \"extra\" { tls_disable = true }", "a.hcl");
    assert_mentions(&message, &["listener", "exactly one type label"]);
    let message = error(r#"{"storage": {"path": "x"}}"#, "a.json");
    assert_mentions(
        &message,
        &["storage stanza", "a.json", "\"path\" followed by a string"],
    );
    let message = error(r#"{"storage": "sqlite"}"#, "a.json");
    assert_mentions(&message, &["storage stanza", "found a string"]);
    let message = error(r#"{"listener": {}}"#, "a.json");
    assert_mentions(&message, &["listener stanza", "no type"]);
    let message = error("[1, 2]", "a.json");
    assert_mentions(&message, &["the top level", "a.json", "found a list"]);
    let message = error(
        "storage \"sqlite\" { path = \"a\" }\nbackend \"inmem\" {}",
        "two.hcl",
    );
    assert_mentions(
        &message,
        &[
            "only one storage stanza",
            "storage \"sqlite\"",
            "backend \"inmem\"",
            "two.hcl",
        ],
    );
    let message = error(
        "seal \"static\" {\n current_key_id = \"a\"\n current_key = \"env://K\"\n}\nseal \"shamir\" {}",
        "two.hcl",
    );
    assert_mentions(&message, &["only one seal stanza", "two.hcl"]);
}

#[test]
fn duplicate_keys_are_rejected() {
    // hcl-rs already refuses a repeated attribute, as a syntax error with its position.
    let message = error("ui = true\nui = false", "d.hcl");
    assert_mentions(
        &message,
        &["HCL syntax error in d.hcl at line 2", "redefined attribute"],
    );
    // JSON parsers usually keep the last value silently; hush refuses instead.
    let message = error(r#"{"ui": true, "ui": false}"#, "d.json");
    assert_mentions(
        &message,
        &["key \"ui\" is set more than once in the top level (file d.json)"],
    );
    let message = error(
        r#"{"listener": {"tcp": {"address": "127.0.0.1:1", "address": "127.0.0.1:2"}}}"#,
        "d.json",
    );
    assert_mentions(
        &message,
        &["key \"address\" is set more than once in listener \"tcp\""],
    );
    // Repeated stanzas are not duplicates: listeners accumulate.
    let config = parse(
        r#"{"listener": {"tcp": {"address": "127.0.0.1:1", "tls_disable": true}},
            "listener": {"tcp": {"address": "127.0.0.1:2", "tls_disable": true}}}"#,
        "d.json",
    );
    assert_eq!(config.listeners.len(), 2);
}

#[test]
fn expressions_other_than_literals_are_refused() {
    let message = error("api_addr = \"https://${var.host}:8200\"", "e.hcl");
    assert_mentions(
        &message,
        &["\"api_addr\"", "e.hcl", "undefined variable", "literals"],
    );
    let message = error("ui = upper(\"x\")", "e.hcl");
    assert_mentions(&message, &["\"ui\"", "undefined function"]);
    // Simple arithmetic is evaluated and then validated like any value.
    let config = parse("max_lease_ttl = (3600)", "e.hcl");
    assert_eq!(config.max_lease_ttl, Some(Duration::from_secs(3600)));
}

#[test]
fn default_lease_ttl_may_not_exceed_max() {
    let message = error(
        "default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"",
        "ttl.hcl",
    );
    assert_mentions(
        &message,
        &[
            "default_lease_ttl (2h0m0s, file ttl.hcl)",
            "max_lease_ttl (1h0m0s, file ttl.hcl)",
        ],
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp config");
    path
}

#[test]
fn merging_files_overrides_scalars_and_accumulates_listeners() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = write(
        &dir,
        "base.hcl",
        r#"
storage "inmem" {}
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}
seal "static" {
  current_key_id = "old"
  current_key    = "env://OLD_KEY"
}
ui                = true
log_level         = "info"
default_lease_ttl = "1h"
cluster_name      = "base"
"#,
    );
    let overlay = write(
        &dir,
        "overlay.json",
        r#"{
  "storage": {"sqlite": {"path": "/data/hush.db"}},
  "listener": {"tcp": {"address": "127.0.0.1:8300", "tls_disable": true}},
  "seal": {"static": {"current_key_id": "new", "current_key": "file:///keys/new"}},
  "log_level": "debug",
  "max_lease_ttl": "24h"
}"#,
    );
    let config = ServerConfig::load_files(&[base.clone(), overlay.clone()]).expect("merge");
    assert_eq!(
        config.storage,
        Some(StorageConfig::Sqlite {
            path: "/data/hush.db".into()
        })
    );
    let addresses: Vec<&str> = config
        .listeners
        .iter()
        .map(|l| l.address.as_str())
        .collect();
    assert_eq!(addresses, ["127.0.0.1:8200", "127.0.0.1:8300"]);
    assert_eq!(
        config.seal,
        Some(SealConfig::Static {
            current_key_id: "new".to_string(),
            current_key: "file:///keys/new".to_string(),
            previous_key_id: None,
            previous_key: None,
        })
    );
    // Later file wins where it speaks; earlier values survive where it is silent.
    assert_eq!(config.log_level.as_deref(), Some("debug"));
    assert!(config.ui);
    assert_eq!(config.cluster_name.as_deref(), Some("base"));
    assert_eq!(config.default_lease_ttl, Some(Duration::from_secs(3600)));
    assert_eq!(config.max_lease_ttl, Some(Duration::from_secs(86_400)));
    // The inmem warning from the first file is kept.
    assert_mentions(&config.warnings.join("\n"), &["base.hcl", "inmem"]);

    // An explicit shamir seal in a later file returns to the default.
    let shamir = write(&dir, "shamir.hcl", "seal \"shamir\" {}\nui = \"0\"");
    let config = ServerConfig::load_files(&[base, overlay, shamir]).expect("merge");
    assert_eq!(config.seal, None);
    assert!(!config.ui);
}

#[test]
fn merging_detects_conflicts_across_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = "listener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}";
    let a = write(&dir, "a.hcl", listener);
    let b = write(&dir, "b.hcl", listener);
    let message = ServerConfig::load_files(&[a.clone(), b.clone()])
        .expect_err("duplicate address")
        .to_string();
    assert_mentions(
        &message,
        &[
            "127.0.0.1:8200",
            &a.display().to_string(),
            &b.display().to_string(),
        ],
    );

    let short_max = write(&dir, "max.hcl", "max_lease_ttl = \"1h\"");
    let long_default = write(&dir, "default.hcl", "default_lease_ttl = 7200");
    let message = ServerConfig::load_files(&[short_max.clone(), long_default.clone()])
        .expect_err("ttl conflict")
        .to_string();
    assert_mentions(
        &message,
        &[
            &format!(
                "default_lease_ttl (2h0m0s, file {})",
                long_default.display()
            ),
            &format!("max_lease_ttl (1h0m0s, file {})", short_max.display()),
        ],
    );
}

#[test]
fn errors_in_loaded_files_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(&dir, "good.hcl", "ui = true");
    let bad = write(&dir, "bad.hcl", "listener \"tcp\" { adress = \"x\" }");
    let message = ServerConfig::load_files(&[good, bad.clone()])
        .expect_err("unknown key")
        .to_string();
    assert_mentions(
        &message,
        &[
            "unknown key \"adress\"",
            &format!("(file {})", bad.display()),
        ],
    );
}

#[test]
fn loading_directories_and_missing_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir,
        "20-listener.json",
        r#"{"listener": {"tcp": {"tls_disable": true}}}"#,
    );
    write(&dir, "10-base.hcl", "ui = true\nlog_level = \"error\"");
    write(&dir, "30-override.hcl", "log_level = \"debug\"");
    write(&dir, "notes.txt", "this is not configuration");
    let config = ServerConfig::load_files(&[dir.path().to_path_buf()]).expect("directory");
    assert!(config.ui);
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.log_level.as_deref(), Some("debug"));

    let empty = tempfile::tempdir().expect("tempdir");
    let message = ServerConfig::load_files(&[empty.path().to_path_buf()])
        .expect_err("empty directory")
        .to_string();
    assert_mentions(
        &message,
        &[&empty.path().display().to_string(), "no .hcl or .json"],
    );

    let missing = dir.path().join("missing.hcl");
    let err = ServerConfig::load_files(std::slice::from_ref(&missing)).expect_err("missing");
    assert!(matches!(err, ConfigError::Io { .. }), "{err:?}");
    assert_mentions(
        &err.to_string(),
        &[&missing.display().to_string(), "cannot read"],
    );

    let not_utf8 = dir.path().join("binary.hcl");
    std::fs::write(&not_utf8, [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let message = ServerConfig::load_files(std::slice::from_ref(&not_utf8))
        .expect_err("binary")
        .to_string();
    assert_mentions(&message, &[&not_utf8.display().to_string(), "UTF-8"]);

    assert!(matches!(
        ServerConfig::load_files(&[]),
        Err(ConfigError::NoFiles)
    ));
}

#[test]
fn cache_size_must_be_a_whole_number() {
    for bad in [
        "cache_size = -1",
        "cache_size = \"lots\"",
        "cache_size = true",
    ] {
        let text = format!("{bad}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}}\n");
        let message = error(&text, "cache.hcl");
        assert_mentions(&message, &["cache_size", "whole number", "cache.hcl"]);
    }
    let message = error(
        "cache_size = 0\nlistener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n",
        "cache.hcl",
    );
    assert_mentions(&message, &["cache_size", "disable_cache = true"]);
}

#[test]
fn expressions_that_are_not_literals_are_refused_before_evaluation() {
    // `0/0` and `1e308*10` have no finite value: the evaluator must never see them.
    for (text, what) in [
        ("ui = 0/0", "arithmetic"),
        ("max_lease_ttl = 1e308 * 10", "arithmetic"),
        ("ui = true ? 1 : 2", "conditional"),
        ("ui = {\n(1/0) = \"x\"\n}", "arithmetic"),
        ("ui = {\n(1/0) = \"x\"\n}.a", "arithmetic"),
        ("ui = x[1/0]", "arithmetic"),
        ("ui = upper(1/0)", "arithmetic"),
        ("cluster_name = \"${0/0}\"", "arithmetic"),
        (
            "cluster_name = \"%{if true}x%{endif}\"",
            "template directives",
        ),
        ("cluster_name = [for x in [1] : x]", "for expressions"),
    ] {
        let message = error(text, "expr.hcl");
        assert_mentions(&message, &[what, "must be literals", "expr.hcl"]);
    }
    // Unary minus and parentheses still reach the validators, which judge the value.
    let message = error("default_lease_ttl = -(3600)", "neg.hcl");
    assert!(!message.contains("must be literals"), "{message}");
}

#[test]
fn operator_chains_are_refused_as_too_deep() {
    for text in [
        format!("ui = {}true", "!".repeat(100_000)),
        format!("ui = {}", vec!["1"; 100_000].join("+")),
    ] {
        let message = error(&text, "deep.hcl");
        assert_mentions(&message, &["nested more than 64 levels"]);
    }
}

#[test]
fn listener_timeouts_and_connection_cap() {
    let config = parse(
        "listener \"tcp\" {\n  tls_disable = true\n  http_read_header_timeout = \"5s\"\n  \
         http_read_timeout = 20\n  http_write_timeout = \"1m\"\n  http_idle_timeout = \"2m\"\n  \
         max_connections = \"500\"\n}",
        "t.hcl",
    );
    let l = &config.listeners[0];
    assert_eq!(l.http_read_header_timeout, Duration::from_secs(5));
    assert_eq!(l.http_read_timeout, Duration::from_secs(20));
    assert_eq!(l.http_write_timeout, Duration::from_secs(60));
    assert_eq!(l.http_idle_timeout, Duration::from_secs(120));
    assert_eq!(l.max_connections, Some(500));
    // Vault's defaults when nothing is said.
    let l = &parse("listener \"tcp\" { tls_disable = true }", "d.hcl").listeners[0];
    assert_eq!(l.http_read_header_timeout, Duration::from_secs(10));
    assert_eq!(l.http_read_timeout, Duration::from_secs(30));
    assert_eq!(l.http_write_timeout, Duration::ZERO);
    assert_eq!(l.http_idle_timeout, Duration::from_secs(300));
    assert_eq!(l.max_connections, None);
    let message = error(
        "listener \"tcp\" {\n tls_disable = true\n max_connections = 0\n}",
        "z.hcl",
    );
    assert_mentions(&message, &["max_connections", "at least 1"]);
    let message = error(
        "listener \"tcp\" {\n tls_disable = true\n http_idle_timeout = \"soon\"\n}",
        "z.hcl",
    );
    assert_mentions(&message, &["http_idle_timeout"]);
    let config = parse(
        "listener \"tcp\" {\n tls_disable = true\n http_read_header_timeout = 0\n}",
        "w.hcl",
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("http_read_header_timeout = 0")),
        "{:?}",
        config.warnings
    );
}
