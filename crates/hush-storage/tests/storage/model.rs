//! Random operation sequences against each backend and a `BTreeMap` model.

use std::collections::{BTreeMap, BTreeSet};

use hush_storage::{Backend, MemoryBackend, Op, SqliteBackend};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::temp_db;

#[derive(Debug, Clone)]
enum Step {
    Put(String, Vec<u8>),
    Delete(String),
    Transaction(Vec<Op>),
}

/// Keys of one to three segments from a small alphabet, so that keys collide,
/// share folders, and exercise the characters that sort around '/' ('-' just
/// before it, '0' just after) as well as '%', '_' and multi-byte characters.
fn key() -> impl Strategy<Value = String> {
    let segment = prop::sample::select(vec!["a", "b", "a-", "a0", "%", "_", "é", "\u{10FFFF}"]);
    vec(segment, 1..=3).prop_map(|segments| segments.join("/"))
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..16)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), value()).prop_map(|(key, value)| Op::Put { key, value }),
        key().prop_map(|key| Op::Delete { key }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (key(), value()).prop_map(|(k, v)| Step::Put(k, v)),
        2 => key().prop_map(Step::Delete),
        1 => vec(op(), 0..6).prop_map(Step::Transaction),
    ]
}

fn apply_to_model(model: &mut BTreeMap<String, Vec<u8>>, op: Op) {
    match op {
        Op::Put { key, value } => {
            model.insert(key, value);
        }
        Op::Delete { key } => {
            model.remove(&key);
        }
    }
}

/// Vault's list semantics, written the obvious (and slow) way.
fn model_list(model: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<String> {
    let names: BTreeSet<String> = model
        .keys()
        .filter_map(|key| key.strip_prefix(prefix))
        .map(|rest| match rest.find('/') {
            Some(i) => rest[..=i].to_owned(),
            None => rest.to_owned(),
        })
        .collect();
    names.into_iter().collect()
}

/// Every folder a key of the model is in, plus the root.
fn prefixes(model: &BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    let mut prefixes = BTreeSet::from([String::new()]);
    for key in model.keys() {
        for (i, _) in key.match_indices('/') {
            prefixes.insert(key[..=i].to_owned());
        }
    }
    prefixes
}

/// Runs `steps` on `backend` and the model, comparing as it goes; returns the model.
async fn check(
    backend: &dyn Backend,
    steps: Vec<Step>,
) -> Result<BTreeMap<String, Vec<u8>>, TestCaseError> {
    let mut model = BTreeMap::new();
    let mut touched = BTreeSet::new();
    for step in steps {
        match step {
            Step::Put(key, value) => {
                backend.put(&key, value.clone()).await.unwrap();
                touched.insert(key.clone());
                apply_to_model(&mut model, Op::Put { key, value });
            }
            Step::Delete(key) => {
                backend.delete(&key).await.unwrap();
                touched.insert(key.clone());
                apply_to_model(&mut model, Op::Delete { key });
            }
            Step::Transaction(ops) => {
                backend.transaction(ops.clone()).await.unwrap();
                for op in ops {
                    touched.insert(op.key().to_owned());
                    apply_to_model(&mut model, op);
                }
            }
        }
        for key in &touched {
            prop_assert_eq!(
                backend.get(key).await.unwrap(),
                model.get(key).cloned(),
                "get {}",
                key
            );
        }
        prop_assert_eq!(backend.list("").await.unwrap(), model_list(&model, ""));
    }
    // Listing folders that have since been emptied must agree too.
    let mut all_prefixes = prefixes(&model);
    for key in &touched {
        all_prefixes.insert(format!("{key}/"));
    }
    for prefix in all_prefixes {
        prop_assert_eq!(
            backend.list(&prefix).await.unwrap(),
            model_list(&model, &prefix),
            "list {:?}",
            prefix
        );
    }
    Ok(model)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("build a tokio runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_backend_matches_model(steps in vec(step(), 0..40)) {
        runtime().block_on(check(&MemoryBackend::new(), steps))?;
    }
}

proptest! {
    // Each case creates a database and fsyncs every write: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sqlite_backend_matches_model(steps in vec(step(), 0..40)) {
        let (_dir, path) = temp_db();
        let runtime = runtime();
        let backend = SqliteBackend::open(&path).unwrap();
        let model = runtime.block_on(check(&backend, steps))?;
        drop(backend);

        // Everything is still there, and nothing else, after a reopen.
        let backend = SqliteBackend::open(&path).unwrap();
        runtime.block_on(async {
            for prefix in prefixes(&model) {
                prop_assert_eq!(backend.list(&prefix).await.unwrap(), model_list(&model, &prefix));
            }
            for (key, value) in &model {
                prop_assert_eq!(backend.get(key).await.unwrap(), Some(value.clone()));
            }
            Ok(())
        })?;
    }
}
