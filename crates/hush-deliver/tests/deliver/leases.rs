//! Paths of engines other than KV as sources of `hush run`, read as `vault read` reads them.
//! The lease schedule is unit-tested in `hush_deliver::lease`; renewals, replacements and
//! revocations of real database credentials are tested against PostgreSQL in
//! `tests/python/test_run_leases.py` (reading a configured database mount needs a database).

use hush_client::Method;
use serde_json::json;

use crate::common::Server;

#[test]
fn kv_only_options_are_refused_on_another_engine_before_anything_is_read() {
    let server = Server::start();
    // A database mount with no connection: the refusals come before any read (which would
    // create a credential on a configured one).
    server.api(
        Method::POST,
        "sys/mounts/database",
        Some(json!({"type": "database"})),
    );
    let cases: [(&[&str], &[&str]); 2] = [
        (
            &["--recursive"],
            &[
                "--recursive reads KV folders",
                "database/creds/app",
                "database mount",
                "its own --path",
            ],
        ),
        (
            &["--version", "2"],
            &[
                "database/creds/app",
                "database mount",
                "leave --version out",
            ],
        ),
    ];
    for (extra, wants) in cases {
        let mut args = vec!["run", "--path", "database/creds/app"];
        args.extend_from_slice(extra);
        let out = server.cmd(&args).child(&["echo", "child-started"]).run();
        assert_ne!(out.code, 0, "{out:?}");
        assert!(!out.stdout.contains("child-started"), "{out:?}");
        for want in wants {
            assert!(out.stderr.contains(want), "missing {want:?} in {out:?}");
        }
    }
}
