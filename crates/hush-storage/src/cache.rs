//! A read cache of storage entries, for backends that are the only writer of their data.
//!
//! Values are cached exactly as stored: ciphertext, which the barrier still authenticates
//! and decrypts on every read. What the cache saves is the database lookup, which was the
//! largest cost of a KV read (two lookups per KV v2 read).
//!
//! Correctness against concurrent writes: the thread that commits a write removes its keys
//! just before the commit and again just after it (a key that was cached gets the committed
//! value instead, written by that same thread), and while the write is in flight no read may
//! fill its shard. So during a commit every reader of those keys goes to the database,
//! which shows a transaction all at once or not at all; and after it, only a read that started
//! after the commit can fill the cache. This holds even if the client that asked for the write
//! gave up waiting, since it is the committing thread that does it.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex;

/// Vault's default `cache_size`: how many entries are kept.
pub const DEFAULT_ENTRIES: usize = 131_072;

const SHARDS: usize = 32;

/// A cached lookup result: `None` caches "no such key".
type Slot = Option<Vec<u8>>;

struct Shard {
    map: HashMap<String, Slot>,
    /// Bumped by every invalidation, so a fill that raced with a write is dropped.
    generation: u64,
    /// Writes to keys of this shard between `begin_write` and `end_write`.
    pending: u32,
}

/// A sharded map from storage key to the stored (encrypted) value.
pub(crate) struct ReadCache {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    per_shard: usize,
}

/// What [`ReadCache::lookup`] found.
pub(crate) enum Lookup {
    /// The cached result of reading the key.
    Hit(Slot),
    /// Not cached; pass the ticket to [`ReadCache::fill`] with what the database said.
    Miss(Ticket),
}

/// Which keys of a write were cached when it began, in order.
pub(crate) struct WriteMarks(Vec<bool>);

/// Remembers which shard generation a missed read started at.
pub(crate) struct Ticket {
    shard: usize,
    generation: u64,
}

impl ReadCache {
    /// A cache of at most about `entries` entries (at least one per shard).
    pub(crate) fn new(entries: usize) -> Self {
        let per_shard = entries.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::new(),
                    generation: 0,
                    pending: 0,
                })
            })
            .collect();
        ReadCache {
            shards,
            hasher: RandomState::new(),
            per_shard,
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        // Only the low bits pick the shard; the modulo keeps it in range whatever SHARDS is.
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn shard(&self, index: usize) -> &Mutex<Shard> {
        // `shard_of` and `Ticket` only carry indexes below SHARDS, the slice's length.
        &self.shards[index % SHARDS]
    }

    /// The cached result for `key`, or a ticket to fill it after reading the database.
    pub(crate) fn lookup(&self, key: &str) -> Lookup {
        let index = self.shard_of(key);
        let shard = self.shard(index).lock();
        match shard.map.get(key) {
            Some(slot) => Lookup::Hit(slot.clone()),
            None => Lookup::Miss(Ticket {
                shard: index,
                generation: shard.generation,
            }),
        }
    }

    /// Stores what the database returned for `key`, unless a write to the shard committed
    /// since the ticket was taken.
    pub(crate) fn fill(&self, ticket: Ticket, key: &str, value: &Slot) {
        let mut shard = self.shard(ticket.shard).lock();
        if shard.pending > 0 || shard.generation != ticket.generation {
            return;
        }
        self.insert(&mut shard, key, value.clone());
    }

    fn insert(&self, shard: &mut Shard, key: &str, value: Slot) {
        if shard.map.len() >= self.per_shard && !shard.map.contains_key(key) {
            // Evict about an eighth of the shard, in the map's (randomly seeded) order: close
            // to random eviction, which suits a cache whose working set may be anything.
            let drop_n = (self.per_shard / 8).max(1);
            let victims: Vec<String> = shard.map.keys().take(drop_n).cloned().collect();
            for victim in victims {
                shard.map.remove(&victim);
            }
        }
        shard.map.insert(key.to_owned(), value);
    }

    /// Called just before committing writes to `keys`: forgets them and stops fills of their
    /// shards until [`ReadCache::end_write`] with the same keys, in the same order. Returns
    /// which of them were cached.
    pub(crate) fn begin_write<'k>(&self, keys: impl Iterator<Item = &'k str>) -> WriteMarks {
        let mut cached = Vec::new();
        for key in keys {
            let mut shard = self.shard(self.shard_of(key)).lock();
            shard.pending = shard.pending.saturating_add(1);
            shard.generation = shard.generation.wrapping_add(1);
            cached.push(shard.map.remove(key).is_some());
        }
        WriteMarks(cached)
    }

    /// Called once the commit is over, whatever its outcome (a failed COMMIT may still have
    /// reached the file), with each key of [`ReadCache::begin_write`] and, if its write is
    /// known to be committed, the value it now has. Keys that were cached when the write
    /// began get that value (a write usually follows a read of the same key, which is read
    /// again next); the others are forgotten again. Then fills resume.
    pub(crate) fn end_write<'k>(
        &self,
        writes: impl Iterator<Item = (&'k str, Option<Option<&'k [u8]>>)>,
        marks: WriteMarks,
    ) {
        let mut cached = marks.0.into_iter();
        for (key, committed) in writes {
            let was_cached = cached.next().unwrap_or(false);
            let mut shard = self.shard(self.shard_of(key)).lock();
            shard.pending = shard.pending.saturating_sub(1);
            shard.generation = shard.generation.wrapping_add(1);
            match committed {
                Some(value) if was_cached => {
                    self.insert(&mut shard, key, value.map(<[u8]>::to_vec));
                }
                _ => {
                    shard.map.remove(key);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_through(cache: &ReadCache, key: &str, db: &Slot) -> Slot {
        match cache.lookup(key) {
            Lookup::Hit(v) => v,
            Lookup::Miss(ticket) => {
                cache.fill(ticket, key, db);
                db.clone()
            }
        }
    }

    #[test]
    fn hits_after_a_fill_and_misses_after_invalidation() {
        let cache = ReadCache::new(64);
        let v = Some(b"ciphertext".to_vec());
        assert_eq!(read_through(&cache, "a", &v), v);
        assert!(matches!(cache.lookup("a"), Lookup::Hit(Some(ref x)) if x == b"ciphertext"));
        let marks = cache.begin_write(["a"].into_iter());
        cache.end_write([("a", None)].into_iter(), marks);
        assert!(matches!(cache.lookup("a"), Lookup::Miss(_)));
        // Absence is cached too.
        assert_eq!(read_through(&cache, "b", &None), None);
        assert!(matches!(cache.lookup("b"), Lookup::Hit(None)));
    }

    #[test]
    fn a_fill_that_raced_with_a_write_is_dropped() {
        let cache = ReadCache::new(64);
        let Lookup::Miss(ticket) = cache.lookup("k") else {
            panic!("empty cache must miss")
        };
        // The write commits between the reader's lookup and its fill.
        let marks = cache.begin_write(["k"].into_iter());
        cache.end_write([("k", Some(Some(&b"new"[..])))].into_iter(), marks);
        cache.fill(ticket, "k", &Some(b"old".to_vec()));
        assert!(matches!(cache.lookup("k"), Lookup::Miss(_)));
    }

    #[test]
    fn nothing_is_filled_while_a_write_is_in_flight() {
        let cache = ReadCache::new(64);
        let marks = cache.begin_write(["k"].into_iter());
        // A reader that looked after the write began, and read the old value before COMMIT.
        let Lookup::Miss(ticket) = cache.lookup("k") else {
            panic!("a key being written must miss")
        };
        cache.fill(ticket, "k", &Some(b"old".to_vec()));
        assert!(matches!(cache.lookup("k"), Lookup::Miss(_)));
        cache.end_write([("k", None)].into_iter(), marks);
        assert_eq!(
            read_through(&cache, "k", &Some(b"new".to_vec())),
            Some(b"new".to_vec())
        );
        assert!(matches!(cache.lookup("k"), Lookup::Hit(Some(_))));
    }

    #[test]
    fn committed_writes_refresh_only_keys_that_were_cached() {
        let cache = ReadCache::new(64);
        read_through(&cache, "read", &Some(b"v1".to_vec()));
        read_through(&cache, "absent", &None);
        let writes: [(&str, Option<Option<&[u8]>>); 4] = [
            ("read", Some(Some(b"v2"))),
            ("absent", Some(Some(b"created"))),
            ("never-read", Some(Some(b"x"))),
            ("read", Some(None)),
        ];
        let marks = cache.begin_write(writes.iter().map(|w| w.0));
        cache.end_write(writes.into_iter(), marks);
        // "read" was put then deleted in the same commit: the last write wins.
        assert!(matches!(cache.lookup("read"), Lookup::Miss(_)));
        assert!(matches!(cache.lookup("absent"), Lookup::Hit(Some(ref v)) if v == b"created"));
        // Bulk writes of keys nobody read do not fill the cache.
        assert!(matches!(cache.lookup("never-read"), Lookup::Miss(_)));

        // A write whose commit is not known to have succeeded leaves the key uncached.
        read_through(&cache, "k", &Some(b"old".to_vec()));
        let marks = cache.begin_write(["k"].into_iter());
        cache.end_write([("k", None)].into_iter(), marks);
        assert!(matches!(cache.lookup("k"), Lookup::Miss(_)));
    }

    #[test]
    fn stays_bounded() {
        let cache = ReadCache::new(SHARDS * 4);
        for i in 0..10_000 {
            let key = format!("k{i}");
            read_through(&cache, &key, &Some(vec![0; 8]));
        }
        assert!(cache.len() <= SHARDS * 4, "{} entries", cache.len());
        assert!(cache.len() > 0);
    }
}
