//! Integration tests of the storage backends: one test binary, one module per
//! concern, real SQLite files in temporary directories.

mod conformance;
mod crash;
mod model;
mod sqlite;

use std::path::PathBuf;

use tempfile::TempDir;

/// A fresh temporary directory and the path of a (not yet created) database in it.
fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("hush.db");
    (dir, path)
}
