//! A production-style server from the test kit: embedded SQLite, TLS from a private CA,
//! initialized and unsealed through the CLI.

use std::path::Path;

use hush_testkit::Server;

use crate::common::hush_bin;

#[test]
fn a_write_acknowledged_over_tls_survives_a_kill_9_of_a_sqlite_server() {
    let mut server = Server::builder()
        .tls()
        .binary(Path::new(hush_bin()))
        .start();
    assert!(
        server.address.starts_with("https://127.0.0.1:"),
        "{}",
        server.address
    );
    assert_eq!(server.unseal_keys.len(), 1);
    assert!(
        server.root_token.starts_with("hvs."),
        "{}",
        server.root_token
    );

    server.cli(&["secrets", "enable", "-path=secret", "kv-v2"]);
    server.cli(&["kv", "put", "secret/app", "password=s3cr3t"]);
    server.restart();

    // The restart sealed it: the data comes back only with the unseal key.
    let status = server.cli(&["status", "-format=json"]);
    assert!(status.contains("\"sealed\": false"), "{status}");
    assert_eq!(
        server.cli(&["kv", "get", "-field=password", "secret/app"]),
        "s3cr3t"
    );
    assert!(server.log().contains("sqlite"), "{}", server.log());
}
