//! Storage seen through the barrier: every value is encrypted on the way in and authenticated on
//! the way out, with its full storage path bound to the ciphertext.

use std::sync::Arc;

use hush_crypto::Barrier;
use hush_storage::{Backend, Op};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{CoreError, Result};

/// A view of the encrypted storage below a prefix (for example `logical/<uuid>/` for one mount).
/// Paths given to its methods are relative to the prefix.
#[derive(Clone)]
pub struct View {
    storage: Arc<dyn Backend>,
    barrier: Arc<Barrier>,
    prefix: String,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// One operation of an atomic write through a [`View`].
#[derive(Debug)]
pub enum ViewOp {
    /// Encrypt and store a value.
    Put(String, Vec<u8>),
    /// Remove a value.
    Delete(String),
}

impl View {
    /// A view of the whole barrier.
    pub fn root(storage: Arc<dyn Backend>, barrier: Arc<Barrier>) -> Self {
        View {
            storage,
            barrier,
            prefix: String::new(),
        }
    }

    /// A view below `prefix` (which should end in '/').
    pub fn sub(&self, prefix: &str) -> View {
        View {
            storage: self.storage.clone(),
            barrier: self.barrier.clone(),
            prefix: format!("{}{}", self.prefix, prefix),
        }
    }

    /// The prefix of this view inside the barrier.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The barrier, for key status and rotation.
    pub fn barrier(&self) -> &Arc<Barrier> {
        &self.barrier
    }

    fn full(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Reads and decrypts a value.
    pub async fn get(&self, key: &str) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let full = self.full(key);
        match self.storage.get(&full).await? {
            None => Ok(None),
            Some(blob) => Ok(Some(self.barrier.decrypt(&full, &blob)?)),
        }
    }

    /// Encrypts and writes a value; returns once it is durable.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let full = self.full(key);
        let blob = self.barrier.encrypt(&full, value)?;
        self.storage.put(&full, blob).await?;
        Ok(())
    }

    /// Deletes a value (missing is fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.storage.delete(&self.full(key)).await?;
        Ok(())
    }

    /// Lists the names directly below `prefix` (folders end in '/').
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.storage.list(&self.full(prefix)).await?)
    }

    /// Applies several writes atomically.
    pub async fn transaction(&self, ops: Vec<ViewOp>) -> Result<()> {
        let mut physical = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                ViewOp::Put(key, value) => {
                    // The plaintext is wiped as soon as it is encrypted.
                    let value = zeroize::Zeroizing::new(value);
                    let full = self.full(&key);
                    let blob = self.barrier.encrypt(&full, &value)?;
                    physical.push(Op::Put {
                        key: full,
                        value: blob,
                    });
                }
                ViewOp::Delete(key) => physical.push(Op::Delete {
                    key: self.full(&key),
                }),
            }
        }
        self.storage.transaction(physical).await?;
        Ok(())
    }

    /// Reads a JSON value.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                CoreError::Internal(format!(
                    "stored entry {}{key} is not valid JSON: {e}",
                    self.prefix
                ))
            }),
        }
    }

    /// Writes a JSON value.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| CoreError::Internal(e.to_string()))?,
        );
        self.put(key, &bytes).await
    }

    /// Deletes everything below `prefix`, depth first.
    pub async fn delete_tree(&self, prefix: &str) -> Result<()> {
        let mut stack = vec![prefix.to_string()];
        while let Some(dir) = stack.pop() {
            let names = self.list(&dir).await?;
            let mut keys = Vec::new();
            for name in names {
                let child = format!("{dir}{name}");
                if name.ends_with('/') {
                    stack.push(child);
                } else {
                    keys.push(child);
                }
            }
            for chunk in keys.chunks(512) {
                let ops = chunk.iter().map(|k| ViewOp::Delete(k.clone())).collect();
                self.transaction(ops).await?;
            }
        }
        Ok(())
    }
}
