//! The in-memory backend, for development servers and tests.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

use parking_lot::RwLock;

use crate::list::{self, Entry, Names};
use crate::{validate_key, validate_prefix, Backend, Op, Result};

/// A `BTreeMap` behind a lock. Nothing survives the process; writes are
/// "durable" only in the sense that they are visible to every later read.
#[derive(Default)]
pub struct MemoryBackend {
    map: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

// Shows the size only: values are ciphertext but still not for logs.
impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("keys", &self.map.read().len())
            .finish()
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    fn kind(&self) -> &'static str {
        "inmem"
    }

    async fn entries(&self) -> Result<Vec<(String, Vec<u8>)>> {
        // The map is ordered, and one read lock sees no write half-done.
        Ok(self
            .map
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        Ok(self.map.read().get(key).cloned())
    }

    async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        validate_key(key)?;
        self.map.write().insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        self.map.write().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let map = self.map.read();
        let mut names = Names::default();
        let mut from = prefix.to_owned();
        'scan: loop {
            let range = map.range::<str, _>((Bound::Included(from.as_str()), Bound::Unbounded));
            for key in range.map(|(k, _)| k) {
                match list::entry(prefix, key) {
                    None if key.starts_with(prefix) => continue,
                    None => break 'scan,
                    Some(Entry::Leaf(name)) => names.push(name),
                    Some(Entry::Folder(name)) => {
                        names.push(name);
                        from = list::after_folder(prefix, name);
                        continue 'scan;
                    }
                }
            }
            break;
        }
        Ok(names.into_vec())
    }

    async fn transaction(&self, ops: Vec<Op>) -> Result<()> {
        // Validate everything before touching the map so a bad op leaves no trace.
        for op in &ops {
            validate_key(op.key())?;
        }
        let mut map = self.map.write();
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    map.insert(key, value);
                }
                Op::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }
}
