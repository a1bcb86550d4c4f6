//! The embedded sled store: typed trees, a schema version, and transactions so that people,
//! credentials and the outbox entries derived from them change together or not at all. Every
//! write is flushed before it is reported done.

mod codec;
mod keys;
mod model;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use lintel_hal::Change;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use codec::{decode, decode_compact, encode, encode_compact};

pub use model::{
    AckedSlot, Activity, Alert, AlertKind, CredentialRecord, Extra, Extras, GuardState,
    OutboxEntry, Outcome, PassOrigin, Person, PersonType, Resolution, SourceLink, SourceState,
    VisitorPass,
};

/// Bumped whenever a tree's layout changes; an older lintel refuses a newer store.
pub const SCHEMA_VERSION: u32 = LISTED_PHONES;
/// The first schema whose people are postcard instead of JSON.
const POSTCARD_PEOPLE: u32 = 2;
/// The first schema whose credentials and acknowledged slots are postcard instead of JSON.
const POSTCARD_CARDS: u32 = 3;
/// The first schema whose people end with `phone_listed`.
const LISTED_PHONES: u32 = 4;
const SCHEMA_KEY: &str = "schema_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store record {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("store schema version {found} is newer than this lintel supports ({SCHEMA_VERSION})")]
    NewerSchema { found: u32 },
    #[error("{0}")]
    Conflict(String),
}

/// The store. Cheap to clone: sled trees are shared handles.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    people: sled::Tree,
    people_ext: sled::Tree,
    credentials: sled::Tree,
    acked: sled::Tree,
    outbox: sled::Tree,
    slots: sled::Tree,
    activity: sled::Tree,
    meta: sled::Tree,
    alerts: sled::Tree,
    ignored: sled::Tree,
    passes: sled::Tree,
    /// Held by whoever plans from the acked table, the outbox and the slots (three reads), and
    /// by `ack`, which changes all three: a plan then sees one consistent state. Without it an
    /// ack landing between the reads could free a slot the plan re-grants a card into, and a
    /// later card could be given that slot over it (found by tests/crash_kills.rs).
    planning: Arc<tokio::sync::Mutex<()>>,
    /// Counts the writes to people, credentials and acked state, bumped after each lands:
    /// whoever read those at one generation and still sees it knows its copy is current.
    generation: Arc<AtomicU64>,
    /// Counts the commits that wrote or removed people, bumped after each lands. Every pass
    /// and ack moves `generation`; what is counted from people alone need not follow those.
    people_generation: Arc<AtomicU64>,
    /// Tree lengths as counted at one generation. sled counts by walking the tree (paging it
    /// in from disk past the cache), and STATUS= asks every few seconds: at 10k people the
    /// recount was most of the idle daemon's CPU.
    counted: Arc<std::sync::Mutex<Counted>>,
    /// How many people the last whole read found. sled cannot tell without walking the tree,
    /// and growing a `Vec` of every person step by step was ~4 % of a 10k pass.
    people_read: Arc<AtomicUsize>,
}

#[derive(Debug, Default)]
struct Counted {
    generation: u64,
    credentials: Option<usize>,
    acked: BTreeMap<String, usize>,
}

/// Everyone stored, as read at `generation`.
pub struct PeopleSnapshot {
    pub generation: u64,
    pub people: Vec<Person>,
}

/// Everything one decision changes, written in one transaction.
#[derive(Debug, Default)]
pub struct Commit {
    pub people: Vec<Person>,
    pub credentials_put: Vec<CredentialRecord>,
    pub credentials_remove: Vec<u64>,
    /// Each replaces whatever was pending for the same controller and card.
    pub outbox: Vec<OutboxEntry>,
    /// Slot allocations the outbox's grants use: (controller, card, slot). Each is checked
    /// against the store (the slot free or already this card's) and written.
    pub slots: Vec<(String, u64, u16)>,
    pub activity: Vec<Activity>,
    pub sources: Vec<(String, SourceState)>,
    /// People deleted outright (bulk delete); their activity stays.
    pub people_remove: Vec<String>,
    /// New or updated alerts, by id.
    pub alerts: Vec<Alert>,
    /// Source records sync must skip from now on.
    pub ignore: Vec<SourceLink>,
    pub guards: Vec<(String, GuardState)>,
    /// New or changed visitor passes.
    pub passes: Vec<VisitorPass>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
            && self.credentials_put.is_empty()
            && self.credentials_remove.is_empty()
            && self.outbox.is_empty()
            && self.activity.is_empty()
            && self.sources.is_empty()
            && self.slots.is_empty()
            && self.people_remove.is_empty()
            && self.alerts.is_empty()
            && self.ignore.is_empty()
            && self.guards.is_empty()
            && self.passes.is_empty()
    }
}

/// A key and its encoded value, ready for a transaction.
type Encoded = ([u8; 8], Vec<u8>);

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

/// Every value of `tree`, read as the JSON an older schema wrote and written as postcard.
fn json_to_compact<T: serde::Serialize + serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
) -> Result<Vec<(sled::IVec, Vec<u8>)>, StoreError> {
    tree.iter()
        .map(|entry| {
            let (key, value) = entry?;
            Ok((key, encode_compact(&decode::<T>(what, &value)?)))
        })
        .collect()
}

/// Every person of a schema 2 or 3 store, ending with `phone_listed` as 0: postcard is
/// positional, so that is the zero appended. Each is read back before anything is written.
fn with_phone_listed(tree: &sled::Tree) -> Result<Vec<(sled::IVec, Vec<u8>)>, StoreError> {
    let zero = encode_compact(&0u64);
    tree.iter()
        .map(|entry| {
            let (key, value) = entry?;
            let bytes = [&value[..], &zero].concat();
            decode_person(&bytes)?;
            Ok((key, bytes))
        })
        .collect()
}

/// Which raw phone a person's phone was read from, found by a pass where nothing else about
/// them changed: [`Store::note_phones`] writes it apart from the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNote {
    pub person: String,
    /// The phone it was read as: the note holds only while the person still has it.
    pub phone: String,
    pub listed: u64,
}

/// People noted per transaction. sled keeps every page version a transaction writes until it
/// ends: the first pass after the schema-4 upgrade noting 100k people in its own transaction
/// took the daemon to 940 MB (docs/BENCHMARKS.md).
const NOTES_PER_TRANSACTION: usize = 500;

fn decode_person(bytes: &[u8]) -> Result<Person, StoreError> {
    decode_compact("person", bytes)
}

fn flatten(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// sled's page cache (its default is 1 GiB). Passes read whole trees in key order, so a cache
/// buys them nothing: with 100k people, reading every tree was no faster with 8 MiB than with
/// 1 MiB, and held 28 MB more afterwards (`cargo bench --bench measure -- store`,
/// docs/BENCHMARKS.md). sled counts a page's size on disk, and keeps several times that in memory.
const CACHE_BYTES: u64 = 1 << 20;

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        // Every write is flushed explicitly before it is acknowledged, so no background flusher
        // is needed (and without one, closing the store releases it at once).
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(None)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let store = Store {
            people: db.open_tree("people")?,
            people_ext: db.open_tree("people_by_external_id")?,
            credentials: db.open_tree("credentials")?,
            acked: db.open_tree("acked")?,
            outbox: db.open_tree("outbox")?,
            slots: db.open_tree("slots")?,
            activity: db.open_tree("activity")?,
            meta: db.open_tree("meta")?,
            alerts: db.open_tree("alerts")?,
            ignored: db.open_tree("ignored_records")?,
            passes: db.open_tree("visitor_passes")?,
            planning: Arc::default(),
            generation: Arc::default(),
            people_generation: Arc::default(),
            counted: Arc::default(),
            people_read: Arc::default(),
            db,
        };
        match store.meta.get(SCHEMA_KEY)? {
            None => {
                store.meta.insert(SCHEMA_KEY, encode(&SCHEMA_VERSION))?;
                store.db.flush()?;
            }
            Some(v) => {
                let found: u32 = decode(SCHEMA_KEY, &v)?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { found });
                }
                if found < SCHEMA_VERSION {
                    store.upgrade(found)?;
                }
            }
        }
        Ok(store)
    }

    /// Rewrites every tree whose layout changed since schema `found` (JSON become postcard,
    /// people gaining `phone_listed`), and the schema version with them, in one transaction: a
    /// crash leaves either store whole.
    fn upgrade(&self, found: u32) -> Result<(), StoreError> {
        // Seconds at 100k people, before READY: say why the start is slow.
        tracing::info!(
            from = found,
            to = SCHEMA_VERSION,
            "converting the store's layout, once"
        );
        let people = if found < POSTCARD_PEOPLE {
            json_to_compact::<Person>(&self.people, "person")?
        } else if found < LISTED_PHONES {
            with_phone_listed(&self.people)?
        } else {
            Vec::new()
        };
        let (credentials, acked) = if found < POSTCARD_CARDS {
            (
                json_to_compact::<CredentialRecord>(&self.credentials, "credential")?,
                json_to_compact::<AckedSlot>(&self.acked, "acked slot")?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        (&self.people, &self.credentials, &self.acked, &self.meta)
            .transaction(|(t_people, t_credentials, t_acked, meta)| {
                for (tree, rewritten) in [
                    (t_people, &people),
                    (t_credentials, &credentials),
                    (t_acked, &acked),
                ] {
                    for (key, value) in rewritten {
                        tree.insert(key, value.as_slice())?;
                    }
                }
                meta.insert(SCHEMA_KEY, encode(&SCHEMA_VERSION))?;
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(flatten)?;
        self.db.flush()?;
        tracing::info!(
            people = people.len(),
            credentials = credentials.len(),
            acked = acked.len(),
            "store converted"
        );
        Ok(())
    }

    /// A new unique id, increasing across restarts.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// See the field: read it before the data it vouches for.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn people_generation(&self) -> u64 {
        self.people_generation.load(Ordering::Acquire)
    }

    pub fn people_snapshot(&self) -> Result<PeopleSnapshot, StoreError> {
        let generation = self.generation();
        Ok(PeopleSnapshot {
            generation,
            people: self.people()?,
        })
    }

    /// The counts kept for the current generation; only commits and acks write the trees they
    /// count, and both move the generation after they land.
    fn counted<T>(&self, count: impl FnOnce(&mut Counted) -> T) -> T {
        // Read before the trees it vouches for (see the field).
        let generation = self.generation();
        let mut counted = self
            .counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counted.generation != generation {
            *counted = Counted {
                generation,
                ..Counted::default()
            };
        }
        count(&mut counted)
    }

    pub fn credentials_len(&self) -> usize {
        self.counted(|c| *c.credentials.get_or_insert_with(|| self.credentials.len()))
    }

    pub fn acked_len(&self, controller: &str) -> usize {
        self.counted(|c| {
            *c.acked.entry(controller.to_string()).or_insert_with(|| {
                self.acked
                    .scan_prefix(keys::controller_prefix(controller))
                    .count()
            })
        })
    }

    pub fn people(&self) -> Result<Vec<Person>, StoreError> {
        let mut people = Vec::with_capacity(self.people_read.load(Ordering::Relaxed));
        for person in self.each_person() {
            people.push(person?);
        }
        self.people_read.store(people.len(), Ordering::Relaxed);
        Ok(people)
    }

    /// Every person, decoded one at a time: for a walk that keeps none of them (at 100k people
    /// the whole `Vec` is ~60 MB).
    pub fn each_person(&self) -> impl Iterator<Item = Result<Person, StoreError>> + use<> {
        self.people.iter().values().map(|v| decode_person(&v?))
    }

    pub fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        self.people.get(id)?.map(|v| decode_person(&v)).transpose()
    }

    pub fn person_by_external(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Person>, StoreError> {
        match self.people_ext.get(keys::external(source, external_id))? {
            Some(id) => self.person(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn credentials(&self) -> Result<Vec<CredentialRecord>, StoreError> {
        self.credentials
            .iter()
            .values()
            .map(|v| decode_compact("credential", &v?))
            .collect()
    }

    pub fn credential(&self, card: u64) -> Result<Option<CredentialRecord>, StoreError> {
        self.credentials
            .get(keys::card(card))?
            .map(|v| decode_compact("credential", &v))
            .transpose()
    }

    /// What `controller` confirmed it holds, by card.
    pub fn acked(&self, controller: &str) -> Result<BTreeMap<u64, AckedSlot>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.acked.scan_prefix(keys::controller_prefix(controller)) {
            let (k, v) = kv?;
            let card = keys::u64_from(&k).ok_or_else(|| corrupt_key("acked"))?;
            out.insert(card, decode_compact("acked slot", &v)?);
        }
        Ok(out)
    }

    /// Every pending change for `controller`, revocations first.
    pub fn outbox(&self, controller: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_scan(controller, usize::MAX)
    }

    /// Up to `limit` pending changes for `controller` to send, revocations first. A commit's
    /// entries are visible in memory before its flush ends; a SIGKILL then loses the commit,
    /// and a change sent from it would leave the device ahead of the store (a card revoked at
    /// the device and then "repaired" back after the restart). Taking the planning lock waits
    /// out a planner's commit and flush, so only durable entries are sent.
    pub async fn outbox_batch(
        &self,
        controller: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let _planning = self.planning().await;
        self.outbox_scan(controller, limit)
    }

    fn outbox_scan(&self, controller: &str, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox
            .scan_prefix(keys::controller_prefix(controller))
            .values()
            .take(limit)
            .map(|v| decode("outbox entry", &v?))
            .collect()
    }

    pub fn outbox_len(&self, controller: &str) -> usize {
        self.outbox
            .scan_prefix(keys::controller_prefix(controller))
            .count()
    }

    /// Slot allocations of `controller`, by slot.
    pub fn slots(&self, controller: &str) -> Result<BTreeMap<u16, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.slots.scan_prefix(keys::slot_prefix(controller)) {
            let (k, v) = kv?;
            let slot = keys::u16_from(&k).ok_or_else(|| corrupt_key("slot"))?;
            let card = keys::u64_from(&v).ok_or_else(|| corrupt_key("slot"))?;
            out.insert(slot, card);
        }
        Ok(out)
    }

    /// The newest `limit` activity entries, newest first.
    pub fn activity(&self, limit: usize) -> Result<Vec<Activity>, StoreError> {
        self.activity
            .iter()
            .values()
            .rev()
            .take(limit)
            .map(|v| decode("activity", &v?))
            .collect()
    }

    /// Every visitor pass, cancelled and expired ones included.
    pub fn passes(&self) -> Result<Vec<VisitorPass>, StoreError> {
        self.passes
            .iter()
            .values()
            .map(|v| decode("visitor pass", &v?))
            .collect()
    }

    pub fn pass(&self, id: &str) -> Result<Option<VisitorPass>, StoreError> {
        self.passes
            .get(id)?
            .map(|v| decode("visitor pass", &v))
            .transpose()
    }

    /// Every alert, open and resolved, oldest first.
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.alerts
            .iter()
            .values()
            .map(|v| decode("alert", &v?))
            .collect()
    }

    pub fn alert(&self, id: u64) -> Result<Option<Alert>, StoreError> {
        self.alerts
            .get(id.to_be_bytes())?
            .map(|v| decode("alert", &v))
            .transpose()
    }

    /// Source records an administrator told sync to skip.
    pub fn ignored(&self) -> Result<std::collections::HashSet<SourceLink>, StoreError> {
        self.ignored
            .iter()
            .keys()
            .map(|k| {
                let k = k?;
                let mut parts = k.splitn(2, |b| *b == 0);
                let source = parts.next().unwrap_or_default();
                let external_id = parts.next().ok_or_else(|| corrupt_key("ignored record"))?;
                Ok(SourceLink {
                    source: String::from_utf8_lossy(source).into_owned(),
                    external_id: String::from_utf8_lossy(external_id).into_owned(),
                })
            })
            .collect()
    }

    pub fn guard(&self, source: &str) -> Result<GuardState, StoreError> {
        Ok(self
            .meta
            .get(format!("guard:{source}"))?
            .map(|v| decode("guard state", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// One activity entry by id.
    pub fn activity_entry(&self, id: u64) -> Result<Option<Activity>, StoreError> {
        self.activity
            .get(id.to_be_bytes())?
            .map(|v| decode("activity", &v))
            .transpose()
    }

    /// The newest `limit` entries matching `needle`, newest first. Entries name a person by id,
    /// so a needle in a person's name finds the entries about that person.
    pub fn search_activity(&self, needle: &str, limit: usize) -> Result<Vec<Activity>, StoreError> {
        let lower = needle.to_lowercase();
        let named: std::collections::HashSet<String> = self
            .people()?
            .into_iter()
            .filter(|p| p.display_name().to_lowercase().contains(&lower))
            .map(|p| p.id)
            .collect();
        let mut out = Vec::new();
        for v in self.activity.iter().values().rev() {
            let entry: Activity = decode("activity", &v?)?;
            if entry.matches(needle) || named.contains(&entry.subject) {
                out.push(entry);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Drops activity beyond `keep` entries or older than `before`; returns how many went.
    pub fn trim_activity(&self, keep: usize, before: jiff::Timestamp) -> Result<usize, StoreError> {
        let total = self.activity.len();
        let mut removed = 0;
        for kv in self.activity.iter() {
            let (k, v) = kv?;
            let entry: Activity = decode("activity", &v)?;
            if total - removed > keep || entry.at < before {
                self.activity.remove(k)?;
                removed += 1;
            } else {
                break;
            }
        }
        Ok(removed)
    }

    pub fn source_state(&self, source: &str) -> Result<SourceState, StoreError> {
        Ok(self
            .meta
            .get(format!("source:{source}"))?
            .map(|v| decode("source state", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Activity entries with fresh ids, encoded under their keys.
    fn numbered(&self, entries: &[Activity]) -> Result<Vec<Encoded>, StoreError> {
        entries
            .iter()
            .map(|a| {
                let id = self.next_id()?;
                Ok((id.to_be_bytes(), encode(&Activity { id, ..a.clone() })))
            })
            .collect()
    }

    /// Writes everything in `commit` atomically, then flushes.
    pub async fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        let touches_people = !commit.people.is_empty() || !commit.people_remove.is_empty();
        let activity = self.numbered(&commit.activity)?;
        let people: Vec<_> = commit
            .people
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.link.as_ref().map(link_key),
                    encode_compact(p),
                )
            })
            .collect();
        let creds: Vec<_> = commit
            .credentials_put
            .iter()
            .map(|c| (keys::card(c.card), encode_compact(c)))
            .collect();
        let outbox: Vec<_> = commit
            .outbox
            .iter()
            .map(|e| {
                let card = e.op.change.card();
                let (own, other) = if e.op.change.is_revoke() {
                    (keys::REVOKE, keys::GRANT)
                } else {
                    (keys::GRANT, keys::REVOKE)
                };
                (
                    keys::outbox(&e.controller, own, card),
                    keys::outbox(&e.controller, other, card),
                    encode(e),
                )
            })
            .collect();
        let mut meta: Vec<_> = commit
            .sources
            .iter()
            .map(|(name, state)| (format!("source:{name}"), encode(state)))
            .collect();
        meta.extend(
            commit
                .guards
                .iter()
                .map(|(name, guard)| (format!("guard:{name}"), encode(guard))),
        );
        let alerts: Vec<_> = commit
            .alerts
            .iter()
            .map(|a| (a.id.to_be_bytes(), encode(a)))
            .collect();
        let ignore: Vec<_> = commit.ignore.iter().map(link_key).collect();
        let passes: Vec<_> = commit
            .passes
            .iter()
            .map(|p| (p.id.clone(), encode(p)))
            .collect();

        (
            &self.people,
            &self.people_ext,
            &self.credentials,
            &self.outbox,
            &self.slots,
            &self.activity,
            &self.meta,
            &self.alerts,
            &self.ignored,
            &self.passes,
        )
            .transaction(
                |(
                    t_people,
                    t_ext,
                    t_creds,
                    t_outbox,
                    t_slots,
                    t_activity,
                    t_meta,
                    t_alerts,
                    t_ignored,
                    t_passes,
                )| {
                    for id in &commit.people_remove {
                        if let Some(old) = t_people.remove(id.as_bytes())? {
                            let old = decode_person(&old).map_err(abort)?;
                            if let Some(link) = &old.link {
                                t_ext.remove(link_key(link))?;
                            }
                        }
                    }
                    for (id, ext, value) in &people {
                        if let Some(old) = t_people.insert(id.as_bytes(), value.as_slice())? {
                            // A relinked person must not stay findable by their old record.
                            let old = decode_person(&old).map_err(abort)?;
                            if let Some(old_key) = old.link.as_ref().map(link_key)
                                && Some(&old_key) != ext.as_ref()
                            {
                                t_ext.remove(old_key)?;
                            }
                        }
                        if let Some(ext) = ext {
                            t_ext.insert(ext.as_slice(), id.as_bytes())?;
                        }
                    }
                    for (card, value) in &creds {
                        t_creds.insert(card, value.as_slice())?;
                    }
                    for card in &commit.credentials_remove {
                        t_creds.remove(&keys::card(*card))?;
                    }
                    for (own, other, value) in &outbox {
                        t_outbox.remove(other.as_slice())?;
                        t_outbox.insert(own.as_slice(), value.as_slice())?;
                    }
                    for (controller, card, slot) in &commit.slots {
                        let by_slot = keys::card_by_slot(controller, *slot);
                        if let Some(holder) = t_slots.get(&by_slot)?
                            && keys::u64_from(&holder) != Some(*card)
                        {
                            return Err(abort(StoreError::Conflict(format!(
                                "slot {slot} of {controller} is already taken"
                            ))));
                        }
                        let by_card = keys::slot_by_card(controller, *card);
                        if let Some(held) = t_slots.get(&by_card)?
                            && keys::u16_from(&held) != Some(*slot)
                        {
                            return Err(abort(StoreError::Conflict(format!(
                                "card {card} already has a slot on {controller}"
                            ))));
                        }
                        t_slots.insert(by_card, &slot.to_be_bytes())?;
                        t_slots.insert(by_slot, &card.to_be_bytes())?;
                    }
                    for (key, value) in &activity {
                        t_activity.insert(key, value.as_slice())?;
                    }
                    for (key, value) in &meta {
                        t_meta.insert(key.as_bytes(), value.as_slice())?;
                    }
                    for (key, value) in &alerts {
                        t_alerts.insert(key, value.as_slice())?;
                    }
                    for key in &ignore {
                        t_ignored.insert(key.as_slice(), &[])?;
                    }
                    for (id, value) in &passes {
                        t_passes.insert(id.as_bytes(), value.as_slice())?;
                    }
                    Ok(())
                },
            )
            .map_err(flatten)?;
        self.generation.fetch_add(1, Ordering::Release);
        if touches_people {
            self.people_generation.fetch_add(1, Ordering::Release);
        }
        self.flush().await
    }

    /// Writes each note's fingerprint on its person while they still hold the phone it was read
    /// as; returns how many it wrote. Bookkeeping: no person changes meaning, so neither
    /// generation moves, and a note lost to a concurrent write is made again by the next pass.
    pub fn note_phones(&self, notes: &[PhoneNote]) -> Result<usize, StoreError> {
        let mut written = 0;
        for chunk in notes.chunks(NOTES_PER_TRANSACTION) {
            written += self
                .people
                .transaction(|t| {
                    let mut n = 0;
                    for note in chunk {
                        let Some(value) = t.get(note.person.as_bytes())? else {
                            continue;
                        };
                        let mut person = decode_person(&value).map_err(abort)?;
                        if person.phone.as_deref() != Some(note.phone.as_str())
                            || person.phone_listed == note.listed
                        {
                            continue;
                        }
                        person.phone_listed = note.listed;
                        t.insert(note.person.as_bytes(), encode_compact(&person))?;
                        n += 1;
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(n)
                })
                .map_err(flatten)?;
        }
        Ok(written)
    }

    /// Excludes acks while held: plan under it (see the field's comment).
    pub async fn planning(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.planning.lock().await
    }

    /// Records that `controller` confirmed `sent`: each leaves the outbox unless a newer change
    /// for the same card replaced it meanwhile, the acked table follows, and a revoked card's
    /// slot is freed once nothing more is pending for it.
    /// `activity` is written in the same transaction, so whoever sees the outbox drained also
    /// sees what the controller confirmed.
    pub async fn ack(
        &self,
        controller: &str,
        sent: &[OutboxEntry],
        activity: &[Activity],
    ) -> Result<(), StoreError> {
        let _planning = self.planning().await;
        let activity = self.numbered(activity)?;
        (&self.outbox, &self.acked, &self.slots, &self.activity)
            .transaction(|(t_outbox, t_acked, t_slots, t_activity)| {
                for (key, value) in &activity {
                    t_activity.insert(key, value.as_slice())?;
                }
                for entry in sent {
                    let card = entry.op.change.card();
                    let own = if entry.op.change.is_revoke() {
                        keys::REVOKE
                    } else {
                        keys::GRANT
                    };
                    let key = keys::outbox(controller, own, card);
                    if let Some(current) = t_outbox.get(&key)? {
                        let current: OutboxEntry =
                            decode("outbox entry", &current).map_err(abort)?;
                        if current.seq == entry.seq {
                            t_outbox.remove(key)?;
                        }
                    }
                    let acked_key = keys::acked(controller, card);
                    match entry.op.change {
                        Change::Grant(credential) => {
                            let slot = AckedSlot {
                                slot: entry.op.slot,
                                credential,
                            };
                            t_acked.insert(acked_key, encode_compact(&slot))?;
                        }
                        Change::Revoke { .. } => {
                            t_acked.remove(acked_key)?;
                            let pending = t_outbox
                                .get(keys::outbox(controller, keys::REVOKE, card))?
                                .is_some()
                                || t_outbox
                                    .get(keys::outbox(controller, keys::GRANT, card))?
                                    .is_some();
                            if !pending {
                                t_slots.remove(keys::slot_by_card(controller, card))?;
                                // The slot is free only if it was this card's (a repair can
                                // clear a stray card from a slot another card is queued for).
                                let by_slot = keys::card_by_slot(controller, entry.op.slot);
                                if t_slots
                                    .get(&by_slot)?
                                    .is_some_and(|c| keys::u64_from(&c) == Some(card))
                                {
                                    t_slots.remove(by_slot)?;
                                }
                            }
                        }
                    }
                }
                Ok(())
            })
            .map_err(flatten)?;
        self.generation.fetch_add(1, Ordering::Release);
        self.flush().await
    }

    /// Queues `entries` (repairs after a readback), each only if nothing is pending for its
    /// card: a change the engine queued meanwhile — a revocation above all — always wins.
    /// Returns how many were queued.
    pub async fn enqueue_unless_pending(
        &self,
        entries: &[OutboxEntry],
    ) -> Result<usize, StoreError> {
        let encoded: Vec<_> = entries
            .iter()
            .map(|e| {
                let card = e.op.change.card();
                let own = if e.op.change.is_revoke() {
                    keys::REVOKE
                } else {
                    keys::GRANT
                };
                (
                    keys::outbox(&e.controller, keys::REVOKE, card),
                    keys::outbox(&e.controller, keys::GRANT, card),
                    keys::outbox(&e.controller, own, card),
                    encode(e),
                )
            })
            .collect();
        let queued = self
            .outbox
            .transaction(|t| {
                let mut queued = 0;
                for (revoke, grant, own, value) in &encoded {
                    if t.get(revoke)?.is_none() && t.get(grant)?.is_none() {
                        t.insert(own.as_slice(), value.as_slice())?;
                        queued += 1;
                    }
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(queued)
            })
            .map_err(flatten)?;
        self.flush().await?;
        Ok(queued)
    }

    /// Appends activity entries outside any other change (driver errors, pass summaries).
    pub async fn log(&self, entries: Vec<Activity>) -> Result<(), StoreError> {
        self.commit(Commit {
            activity: entries,
            ..Commit::default()
        })
        .await
    }
}

fn link_key(link: &SourceLink) -> Vec<u8> {
    keys::external(&link.source, &link.external_id)
}

fn corrupt_key(what: &str) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason: "malformed key".to_string(),
    }
}

#[cfg(test)]
mod tests;
