//! HarnessStore: where a validator finds the harness document an evaluation job names by id.
//! In distributed mode it is the JetStream key-value bucket `harnesses` (key = harness id,
//! value = the TOML document), implemented by the NATS transport; [`MemoryHarnessStore`] is
//! the in-process one for tests and single-process use. A store only keeps documents: it never
//! checks a harness against a policy or decides what to run.

use selfharness_core::harness::Harness;
use std::collections::BTreeMap;
use std::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached (worth retrying).
    #[error("harness store unavailable: {0}")]
    Unavailable(String),
    /// A document is there but is not a valid harness, or not the one its key names.
    #[error("harness {id}: stored document is unusable: {reason}")]
    Corrupt { id: String, reason: String },
}

/// Harness documents by content id.
#[async_trait::async_trait]
pub trait HarnessStore: Send + Sync {
    /// The harness whose [`Harness::id`] is `id`, or `None` when the store has none.
    async fn get(&self, id: &str) -> Result<Option<Harness>, StoreError>;
    /// Keep `harness` under its id (replacing any document with the same id: same id, same
    /// behaviour) and return the id.
    async fn put(&self, harness: &Harness) -> Result<String, StoreError>;
}

/// A [`HarnessStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryHarnessStore {
    docs: RwLock<BTreeMap<String, Harness>>,
}

impl MemoryHarnessStore {
    pub fn new() -> Self {
        MemoryHarnessStore::default()
    }

    /// A store holding `harnesses`.
    pub fn with(harnesses: impl IntoIterator<Item = Harness>) -> Self {
        MemoryHarnessStore {
            docs: RwLock::new(harnesses.into_iter().map(|h| (h.id(), h)).collect()),
        }
    }
}

#[async_trait::async_trait]
impl HarnessStore for MemoryHarnessStore {
    async fn get(&self, id: &str) -> Result<Option<Harness>, StoreError> {
        let docs = self.docs.read().unwrap_or_else(|e| e.into_inner());
        Ok(docs.get(id).cloned())
    }

    async fn put(&self, harness: &Harness) -> Result<String, StoreError> {
        let id = harness.id();
        let mut docs = self.docs.write().unwrap_or_else(|e| e.into_inner());
        docs.insert(id.clone(), harness.clone());
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_harness_is_found_by_its_content_id() {
        let store = MemoryHarnessStore::with([Harness::builtin_default()]);
        let oracle = Harness::builtin_oracle();
        assert_eq!(store.get(&oracle.id()).await.unwrap(), None);
        let id = store.put(&oracle).await.unwrap();
        assert_eq!(id, oracle.id());
        assert_eq!(store.get(&id).await.unwrap(), Some(oracle));
        let default = Harness::builtin_default();
        assert_eq!(store.get(&default.id()).await.unwrap(), Some(default));
    }
}
