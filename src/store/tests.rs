use std::path::Path;

use jiff::Timestamp;
use jiff::civil::date;
use lintel_hal::{Change, Credential, Op};

use super::codec::{decode_compact, encode_compact};
use super::keys;
use super::{
    AckedSlot, Activity, Commit, CredentialRecord, Extra, OutboxEntry, Outcome, Person, PersonType,
    PhoneNote, SCHEMA_KEY, SCHEMA_VERSION, SourceLink, SourceState, Store, StoreError,
};

const C: &str = "lobby";

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("test timestamps are in range")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn locked(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("acquire lock"))
}

/// Runs `open` until a just-closed handle lets go of the directory lock: sled's I/O threads
/// drop their reference a moment after the last flush returns. Production never reopens
/// in-process; these tests do, to check what was written.
fn unlocked<T, E>(open: impl Fn() -> Result<T, E>, is_lock: impl Fn(&E) -> bool) -> Result<T, E> {
    for _ in 0..500 {
        match open() {
            Err(e) if is_lock(&e) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => return other,
        }
    }
    panic!("the store lock was never released");
}

fn try_open(path: &Path) -> Result<Store, StoreError> {
    unlocked(
        || Store::open(path),
        |e| matches!(e, StoreError::Sled(e) if locked(e)),
    )
}

fn open(path: &Path) -> Store {
    try_open(path).expect("store opens")
}

fn raw(path: &Path) -> sled::Db {
    // No background flusher holding the lock after drop (as Store::open does).
    unlocked(
        || sled::Config::new().path(path).flush_every_ms(None).open(),
        locked,
    )
    .expect("raw sled opens")
}

fn person(id: &str, external_id: &str) -> Person {
    Person {
        id: id.to_string(),
        link: Some(SourceLink {
            source: "pms".to_string(),
            external_id: external_id.to_string(),
        }),
        first_name: "Ada".to_string(),
        last_name: "Lovelace".to_string(),
        email: Some("ada@example.com".to_string()),
        phone: None,
        unit: Some("101".to_string()),
        building: None,
        status: "current".to_string(),
        lease_start: Some(date(2025, 8, 1)),
        lease_end: None,
        move_in: None,
        move_out: None,
        phone_listed: 0,
        person_type: PersonType::Resident,
        access_enabled: true,
        decoupled: false,
        at_source: true,
        created_at: ts(1_000),
        updated_at: ts(1_000),
        extra: Default::default(),
    }
}

// Card numbers are given as u32 and widened to whatever the store keeps, and read back as u64,
// so these tests do not depend on the card width.
#[allow(clippy::useless_conversion)]
fn credential(card: u32) -> Credential {
    Credential {
        card: card.into(),
        doors: 0b11,
        valid_from: 1_000,
        valid_until: Some(2_000),
        pin: None,
    }
}

fn grant(controller: &str, seq: u64, card: u32, slot: u16) -> OutboxEntry {
    OutboxEntry {
        controller: controller.to_string(),
        seq,
        op: Op {
            slot,
            change: Change::Grant(credential(card)),
        },
        enqueued_at: ts(1_000),
    }
}

#[allow(clippy::useless_conversion)]
fn revoke(controller: &str, seq: u64, card: u32, slot: u16) -> OutboxEntry {
    OutboxEntry {
        controller: controller.to_string(),
        seq,
        op: Op {
            slot,
            change: Change::Revoke { card: card.into() },
        },
        enqueued_at: ts(1_000),
    }
}

fn activity(n: i64) -> Activity {
    Activity::new(ts(n), Outcome::Processed, format!("s{n}"), format!("r{n}"))
}

/// Entries as written, before the store numbered them.
fn without_ids(entries: Vec<Activity>) -> Vec<Activity> {
    entries
        .into_iter()
        .map(|a| Activity { id: 0, ..a })
        .collect()
}

async fn commit(store: &Store, commit: Commit) {
    store.commit(commit).await.expect("commit succeeds");
}

async fn enqueue(store: &Store, entries: Vec<OutboxEntry>) {
    commit(
        store,
        Commit {
            outbox: entries,
            ..Commit::default()
        },
    )
    .await;
}

/// Commits `outbox` together with the slot each entry names, as the planner does.
async fn queue(store: &Store, outbox: Vec<OutboxEntry>) {
    let slots = outbox
        .iter()
        .map(|e| (e.controller.clone(), e.op.change.card(), e.op.slot))
        .collect();
    commit(
        store,
        Commit {
            outbox,
            slots,
            ..Commit::default()
        },
    )
    .await;
}

/// Acknowledges one sent entry.
async fn ack(store: &Store, entry: &OutboxEntry) {
    store
        .ack(&entry.controller, std::slice::from_ref(entry), &[])
        .await
        .expect("ack");
}

/// (seq, card, is_revoke) of every pending entry, in outbox order.
#[allow(clippy::useless_conversion)]
fn pending(store: &Store, controller: &str) -> Vec<(u64, u64, bool)> {
    store
        .outbox(controller)
        .expect("outbox reads")
        .iter()
        .map(|e| {
            (
                e.seq,
                u64::from(e.op.change.card()),
                e.op.change.is_revoke(),
            )
        })
        .collect()
}

#[allow(clippy::useless_conversion)]
fn slots(store: &Store, controller: &str) -> Vec<(u16, u64)> {
    store
        .slots(controller)
        .expect("slots read")
        .into_iter()
        .map(|(slot, card)| (slot, u64::from(card)))
        .collect()
}

fn write_raw_schema(path: &Path, bytes: &[u8]) {
    let db = raw(path);
    let meta = db.open_tree("meta").expect("meta tree");
    meta.insert(SCHEMA_KEY, bytes).expect("raw insert");
    db.flush().expect("raw flush");
}

#[test]
fn open_records_the_schema_version() {
    let dir = tempdir();
    drop(open(dir.path()));
    let version: u32 = serde_json::from_slice(&raw_schema(dir.path())).expect("a JSON number");
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempdir();
    {
        let store = open(dir.path());
        commit(
            &store,
            Commit {
                people: vec![person("p1", "T-1")],
                outbox: vec![grant(C, 1, 7, 0)],
                slots: vec![(C.to_string(), 7, 0)],
                ..Commit::default()
            },
        )
        .await;
    }
    let store = open(dir.path());
    assert_eq!(
        store.person("p1").expect("reads"),
        Some(person("p1", "T-1"))
    );
    assert_eq!(pending(&store, C), [(1, 7, false)]);
    assert_eq!(slots(&store, C), [(0, 7)]);
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempdir();
    write_raw_schema(
        dir.path(),
        &serde_json::to_vec(&(SCHEMA_VERSION + 1)).expect("encodes"),
    );
    match try_open(dir.path()) {
        Err(StoreError::NewerSchema { found }) => assert_eq!(found, SCHEMA_VERSION + 1),
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

/// `person` with every kind of field filled: text that is not ASCII, a PIN, lists, a timestamp
/// with nanoseconds.
fn someone() -> Person {
    Person {
        first_name: "Zoë".into(),
        phone: Some("+14155550123".into()),
        lease_end: Some(date(2026, 12, 31)),
        person_type: PersonType::Staff,
        created_at: "2025-01-01T08:00:00.123456789Z"
            .parse()
            .expect("a timestamp"),
        extra: Extra {
            pin: Some("4711".into()),
            tags: vec!["night shift".into()],
            grants: vec!["garage".into()],
            ..Extra::default()
        }
        .into(),
        ..person("p1", "T-1")
    }
}

#[test]
fn a_person_reads_back_as_written() {
    let p = someone();
    assert_eq!(
        decode_compact::<Person>("person", &encode_compact(&p)).expect("decodes"),
        p
    );
}

/// The bytes a schema 2 or 3 store holds for [`someone`] (commit 09dbbe9, before `Person` kept
/// its rarer fields apart: the layout on disk did not change with it).
const SOMEONE_STORED_3: &str = "0270310103706d7303542d31045a6fc3ab084c6f76656c616365010f616461406578616d706c652e636f6d010c2b31343135353535303132330103313031000763757272656e74010a323032352d30382d3031010a323032362d31322d33310000010100010434373131010b6e69676874207368696674000106676172616765000100001e323032352d30312d30315430383a30303a30302e3132333435363738395a14313937302d30312d30315430303a31363a34305a";

/// Schema 4 appends `phone_listed`, a varint.
#[test]
fn a_person_is_stored_in_the_schema_4_layout() {
    assert_stored_as(&someone(), "person", &format!("{SOMEONE_STORED_3}00"));
    let listed = Person {
        phone_listed: 300,
        ..someone()
    };
    assert_stored_as(&listed, "person", &format!("{SOMEONE_STORED_3}ac02"));
}

#[tokio::test]
async fn a_schema_3_store_has_its_people_end_with_phone_listed() {
    let dir = tempdir();
    let bob = person("p2", "T-2");
    old_store(
        dir.path(),
        b"3",
        &[
            ("people", b"p1".to_vec(), unhex(SOMEONE_STORED_3)),
            ("people", b"p2".to_vec(), before_schema_4(&bob)),
        ],
    );
    {
        let store = open(dir.path());
        assert_eq!(store.people().expect("reads"), [someone(), bob.clone()]);
    }
    assert_eq!(
        raw_schema(dir.path()),
        serde_json::to_vec(&SCHEMA_VERSION).expect("encodes")
    );
    assert_eq!(
        raw_value(dir.path(), "people", b"p1"),
        unhex(&format!("{SOMEONE_STORED_3}00"))
    );
    assert_eq!(raw_value(dir.path(), "people", b"p2"), encode_compact(&bob));
}

#[test]
fn a_schema_3_person_that_does_not_read_refuses_the_store_and_keeps_it_as_it_was() {
    let dir = tempdir();
    let good = unhex(SOMEONE_STORED_3);
    let truncated = good[..good.len() - 4].to_vec();
    old_store(
        dir.path(),
        b"3",
        &[
            ("people", b"p1".to_vec(), good.clone()),
            ("people", b"p2".to_vec(), truncated.clone()),
        ],
    );
    match try_open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "person"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(raw_schema(dir.path()), b"3");
    assert_eq!(raw_value(dir.path(), "people", b"p1"), good);
    assert_eq!(raw_value(dir.path(), "people", b"p2"), truncated);
}

/// `person` as schemas 2 and 3 stored it: without `phone_listed` (0), the last byte of
/// schema 4's layout.
fn before_schema_4(person: &Person) -> Vec<u8> {
    assert_eq!(person.phone_listed, 0);
    let mut bytes = encode_compact(person);
    bytes.pop();
    bytes
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `value` encodes as `stored` (hex) and `stored` decodes as `value`.
fn assert_stored_as<T>(value: &T, what: &str, stored: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let hex: String = encode_compact(value)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, stored, "{what} {value:?}");
    assert_eq!(
        &decode_compact::<T>(what, &unhex(stored)).expect("decodes"),
        value
    );
}

/// A person with nothing extra set equals one whose extra fields were set and cleared.
#[test]
fn extra_fields_compare_by_value_set_or_not() {
    let plain = person("p1", "T-1");
    let mut cleared = plain.clone();
    cleared.extra.tags.push("night shift".into());
    assert_ne!(cleared, plain);
    cleared.extra.tags.clear();
    assert_eq!(cleared, plain);
    assert_eq!(format!("{cleared:?}"), format!("{plain:?}"));
}

#[test]
fn a_truncated_padded_or_json_person_is_corrupt() {
    let bytes = encode_compact(&someone());
    let mut padded = bytes.clone();
    padded.push(0);
    let json = serde_json::to_vec(&someone()).expect("encodes");
    for bad in [&bytes[..bytes.len() - 1], &padded[..], &json[..], &[][..]] {
        match decode_compact::<Person>("person", bad) {
            Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "person"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

/// A store as an older lintel left it: schema `version`, holding `rows` (tree, key, value) as
/// given.
fn old_store(path: &Path, version: &[u8], rows: &[(&str, Vec<u8>, Vec<u8>)]) {
    let db = raw(path);
    for (tree, key, value) in rows {
        db.open_tree(tree)
            .expect("tree")
            .insert(key.as_slice(), value.as_slice())
            .expect("raw insert");
    }
    db.open_tree("meta")
        .expect("meta tree")
        .insert(SCHEMA_KEY, version)
        .expect("raw insert");
    db.flush().expect("raw flush");
}

fn raw_value(path: &Path, tree: &str, key: &[u8]) -> Vec<u8> {
    raw(path)
        .open_tree(tree)
        .expect("tree")
        .get(key)
        .expect("reads")
        .expect("still there")
        .to_vec()
}

fn raw_schema(path: &Path) -> Vec<u8> {
    raw_value(path, "meta", SCHEMA_KEY.as_bytes())
}

#[test]
fn the_same_schema_opens_and_is_not_rewritten() {
    let dir = tempdir();
    // Spaced, so that a rewrite would show.
    let written = format!(" {SCHEMA_VERSION} ");
    write_raw_schema(dir.path(), written.as_bytes());
    drop(open(dir.path()));
    assert_eq!(raw_schema(dir.path()), written.as_bytes());
}

#[tokio::test]
async fn a_schema_1_store_has_its_people_rewritten_as_postcard() {
    let dir = tempdir();
    let (ada, bob) = (person("p1", "T-1"), person("p2", "T-2"));
    let json = |p: &Person| serde_json::to_vec(p).expect("encodes");
    old_store(
        dir.path(),
        b"1",
        &[
            ("people", b"p1".to_vec(), json(&ada)),
            ("people", b"p2".to_vec(), json(&bob)),
        ],
    );
    {
        let store = open(dir.path());
        assert_eq!(store.people().expect("reads"), [ada.clone(), bob.clone()]);
        // Written again, so the transaction's decode of the old value meets postcard.
        let mut moved = bob.clone();
        moved.unit = Some("202".into());
        commit(
            &store,
            Commit {
                people: vec![moved.clone()],
                ..Commit::default()
            },
        )
        .await;
        assert_eq!(store.person("p2").expect("reads"), Some(moved));
    }
    assert_eq!(
        raw_schema(dir.path()),
        serde_json::to_vec(&SCHEMA_VERSION).expect("encodes")
    );
    let stored = raw_value(dir.path(), "people", b"p1");
    assert_eq!(
        decode_compact::<Person>("person", &stored).expect("postcard"),
        ada
    );
}

#[test]
fn a_schema_1_person_that_is_not_json_refuses_the_store_and_keeps_it_as_it_was() {
    let dir = tempdir();
    old_store(
        dir.path(),
        b"1",
        &[("people", b"p1".to_vec(), b"{not json".to_vec())],
    );
    match try_open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "person"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(raw_schema(dir.path()), b"1");
}

/// A card of each kind a credential record can hold, and what a controller acknowledged for
/// it.
fn cards() -> Vec<(CredentialRecord, AckedSlot)> {
    use crate::credentials::{Credential as Card, CredentialFormat};
    let cards = [
        Card::wiegand(CredentialFormat::Wiegand37, 1000, 300_000).expect("card"),
        Card::uid(&[0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6]).expect("card"),
        Card::raw(8_392_263).expect("card"),
        Card::pin("4821").expect("pin"),
    ];
    cards
        .into_iter()
        .zip(1u64..)
        .map(|(card, n)| {
            let record = CredentialRecord {
                card: n,
                credential: card,
                person_id: format!("p{n}"),
                added_at: "2025-01-01T08:00:00.5Z".parse().expect("a timestamp"),
            };
            let slot = AckedSlot {
                slot: u16::try_from(n).expect("small") * 300,
                credential: Credential {
                    card: n,
                    doors: 0b101,
                    valid_from: 1_735_718_400,
                    valid_until: (n % 2 == 0).then_some(1_767_225_599),
                    pin: (n == 4).then_some(4821),
                },
            };
            (record, slot)
        })
        .collect()
}

/// [`cards`] as the store keeps them since schema 3, hex-encoded: record, then acked slot.
const CARDS_STORED: [(&str, &str); 4] = [
    (
        "010002e807e0a71202703116323032352d30312d30315430383a30303a30302e355a",
        "ac02010580ecd3bb060000",
    ),
    (
        "02010704a1b2c3d4e5f602703216323032352d30312d30315430383a30303a30302e355a",
        "d804020580ecd3bb0601fff1d6ca0600",
    ),
    (
        "0302c79c800402703316323032352d30312d30315430383a30303a30302e355a",
        "8407030580ecd3bb060000",
    ),
    (
        "0403043438323102703416323032352d30312d30315430383a30303a30302e355a",
        "b009040580ecd3bb0601fff1d6ca0601d525",
    ),
];

#[test]
fn credentials_and_acked_slots_are_stored_in_the_schema_3_layout() {
    for ((record, slot), (record_hex, slot_hex)) in cards().into_iter().zip(CARDS_STORED) {
        assert_stored_as(&record, "credential", record_hex);
        assert_stored_as(&slot, "acked slot", slot_hex);
    }
}

#[tokio::test]
async fn a_schema_2_store_has_its_credentials_and_acked_slots_rewritten_as_postcard() {
    let dir = tempdir();
    let ada = person("p1", "T-1");
    let cards = cards();
    let mut rows = vec![("people", b"p1".to_vec(), before_schema_4(&ada))];
    for (record, slot) in &cards {
        rows.push((
            "credentials",
            keys::card(record.card).to_vec(),
            serde_json::to_vec(record).expect("encodes"),
        ));
        rows.push((
            "acked",
            keys::acked(C, record.card),
            serde_json::to_vec(slot).expect("encodes"),
        ));
    }
    old_store(dir.path(), b"2", &rows);
    {
        let store = open(dir.path());
        assert_eq!(store.people().expect("reads"), std::slice::from_ref(&ada));
        let records: Vec<_> = cards.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(store.credentials().expect("reads"), records);
        let acked: Vec<_> = cards.iter().map(|(r, s)| (r.card, *s)).collect();
        assert_eq!(
            store
                .acked(C)
                .expect("reads")
                .into_iter()
                .collect::<Vec<_>>(),
            acked
        );
    }
    assert_eq!(
        raw_schema(dir.path()),
        serde_json::to_vec(&SCHEMA_VERSION).expect("encodes")
    );
    let (record, slot) = &cards[1];
    let stored = raw_value(dir.path(), "credentials", &keys::card(record.card));
    assert_eq!(stored, encode_compact(record));
    let stored = raw_value(dir.path(), "acked", &keys::acked(C, record.card));
    assert_eq!(stored, encode_compact(slot));
    // People were postcard already, and gain only `phone_listed`.
    assert_eq!(raw_value(dir.path(), "people", b"p1"), encode_compact(&ada));
}

#[test]
fn a_schema_2_acked_slot_that_is_not_json_refuses_the_store_and_keeps_it_as_it_was() {
    let dir = tempdir();
    let (record, _) = &cards()[0];
    let record_json = serde_json::to_vec(record).expect("encodes");
    old_store(
        dir.path(),
        b"2",
        &[
            ("credentials", keys::card(1).to_vec(), record_json.clone()),
            ("acked", keys::acked(C, 1), b"{not json".to_vec()),
        ],
    );
    match try_open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "acked slot"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(raw_schema(dir.path()), b"2");
    assert_eq!(
        raw_value(dir.path(), "credentials", &keys::card(1)),
        record_json
    );
}

#[test]
fn garbage_schema_version_is_corrupt() {
    let dir = tempdir();
    write_raw_schema(dir.path(), b"not a number");
    match try_open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, SCHEMA_KEY),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn commit_writes_every_part_and_it_reads_back() {
    let dir = tempdir();
    let store = open(dir.path());
    let p1 = person("p1", "T-1");
    let mut p2 = person("p2", "T-2");
    p2.link = Some(SourceLink {
        source: "roster".to_string(),
        external_id: "T-2".to_string(),
    });
    let cred = CredentialRecord {
        card: 42,
        credential: crate::credentials::Credential::raw(42).expect("card"),
        person_id: "p1".to_string(),
        added_at: ts(1_500),
    };
    let state = SourceState {
        last_attempt_at: Some(ts(1_600)),
        last_success_at: Some(ts(1_600)),
        last_success_pms_clock: Some(ts(1_590)),
        last_error: None,
        people_in_scope: 2,
        last_pass: Some("pass ok".to_string()),
        disabled: false,
    };
    commit(
        &store,
        Commit {
            people: vec![p1.clone(), p2.clone()],
            credentials_put: vec![cred.clone()],
            credentials_remove: Vec::new(),
            outbox: vec![grant(C, 10, 42, 3), grant("garage", 11, 42, 0)],
            slots: vec![(C.to_string(), 42, 3), ("garage".to_string(), 42, 0)],
            activity: vec![activity(1), activity(2)],
            sources: vec![("pms".to_string(), state.clone())],
            ..Commit::default()
        },
    )
    .await;

    let mut people = store.people().expect("people read");
    people.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(people, [p1.clone(), p2.clone()]);
    assert_eq!(
        store.person_by_external("pms", "T-1").expect("reads"),
        Some(p1)
    );
    assert_eq!(
        store.person_by_external("roster", "T-2").expect("reads"),
        Some(p2)
    );
    // The external index is per source.
    assert_eq!(store.person_by_external("pms", "T-2").expect("reads"), None);
    assert_eq!(
        store.person_by_external("roster", "T-1").expect("reads"),
        None
    );

    assert_eq!(store.credential(42).expect("reads"), Some(cred.clone()));
    assert_eq!(store.credentials().expect("reads"), [cred]);
    assert_eq!(pending(&store, C), [(10, 42, false)]);
    assert_eq!(pending(&store, "garage"), [(11, 42, false)]);
    assert_eq!(store.outbox_len(C), 1);
    assert_eq!(slots(&store, C), [(3, 42)]);
    assert_eq!(slots(&store, "garage"), [(0, 42)]);
    assert_eq!(
        without_ids(store.activity(10).expect("reads")),
        [activity(2), activity(1)]
    );
    assert_eq!(store.source_state("pms").expect("reads"), state);
    assert_eq!(
        store.source_state("other").expect("reads"),
        SourceState::default()
    );
    // A state stored before the PMS clock was kept still reads: the gateway clock stands in.
    store
        .meta
        .insert(
            "source:old",
            br#"{"last_attempt_at":"1970-01-01T00:26:40Z","last_success_at":"1970-01-01T00:26:40Z","last_error":null,"people_in_scope":2}"#.as_slice(),
        )
        .expect("raw write");
    let old = store.source_state("old").expect("an old state reads");
    assert_eq!(old.last_success_at, Some(ts(1_600)));
    assert_eq!(old.last_success_pms_clock, None);

    // Credentials can be removed later.
    commit(
        &store,
        Commit {
            credentials_remove: vec![42],
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(store.credential(42).expect("reads"), None);
    assert!(store.credentials().expect("reads").is_empty());
}

#[tokio::test]
async fn updating_a_person_overwrites_in_place() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut p = person("p1", "T-1");
    commit(
        &store,
        Commit {
            people: vec![p.clone()],
            ..Commit::default()
        },
    )
    .await;
    p.unit = Some("202".to_string());
    p.at_source = false;
    commit(
        &store,
        Commit {
            people: vec![p.clone()],
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(store.people().expect("reads"), [p.clone()]);
    assert_eq!(
        store.person_by_external("pms", "T-1").expect("reads"),
        Some(p)
    );
}

/// `Engine::apply_over` reuses a caller's people only while the generation it was read at
/// still stands: every commit and every ack must move it.
#[tokio::test]
async fn commits_and_acks_move_the_generation_a_snapshot_was_read_at() {
    let dir = tempdir();
    let store = open(dir.path());
    let before = store.people_snapshot().expect("reads");
    assert!(before.people.is_empty());
    commit(
        &store,
        Commit {
            people: vec![person("p1", "T-1")],
            ..Commit::default()
        },
    )
    .await;
    let after = store.people_snapshot().expect("reads");
    assert_ne!(after.generation, before.generation, "a commit moves it");
    assert_eq!(after.people.len(), 1);
    assert_eq!(store.generation(), after.generation, "reading does not");

    let entry = grant("door", 1, 7, 0);
    queue(&store, vec![entry.clone()]).await;
    let queued = store.generation();
    ack(&store, &entry).await;
    assert_ne!(store.generation(), queued, "an ack moves it");
    assert_eq!(store.acked_len("door"), 1);
    assert_eq!(store.acked_len("other"), 0);
}

/// STATUS= counts people again only when this moves: it must follow every write or removal of
/// a person, and nothing else.
#[tokio::test]
async fn the_people_generation_moves_with_people_only() {
    let dir = tempdir();
    let store = open(dir.path());
    let start = store.people_generation();
    commit(
        &store,
        Commit {
            people: vec![person("p1", "T-1")],
            ..Commit::default()
        },
    )
    .await;
    let written = store.people_generation();
    assert_ne!(written, start, "a person written moves it");

    store.log(vec![activity(1)]).await.expect("log");
    let entry = grant("door", 1, 7, 0);
    queue(&store, vec![entry.clone()]).await;
    ack(&store, &entry).await;
    assert_eq!(
        store.people_generation(),
        written,
        "activity, outbox and acks do not"
    );

    commit(
        &store,
        Commit {
            people_remove: vec!["p1".into()],
            ..Commit::default()
        },
    )
    .await;
    assert_ne!(
        store.people_generation(),
        written,
        "a person removed moves it"
    );
}

/// STATUS= reads these counts every few seconds from a cache: a commit or an ack must show in
/// the next answer, or status would report stale numbers.
#[tokio::test]
async fn counts_follow_every_commit_and_ack() {
    let dir = tempdir();
    let store = open(dir.path());
    assert_eq!((store.credentials_len(), store.acked_len("door")), (0, 0));
    let record = |card: u64| CredentialRecord {
        card,
        credential: crate::credentials::Credential::raw(card).expect("card"),
        person_id: "p1".to_string(),
        added_at: ts(1_500),
    };
    commit(
        &store,
        Commit {
            credentials_put: vec![record(41), record(42)],
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(store.credentials_len(), 2);

    let entry = grant("door", 1, 7, 0);
    queue(&store, vec![entry.clone()]).await;
    assert_eq!(store.acked_len("door"), 0, "queued is not acknowledged");
    ack(&store, &entry).await;
    assert_eq!((store.acked_len("door"), store.acked_len("other")), (1, 0));

    let gone = revoke("door", 2, 7, 0);
    queue(&store, vec![gone.clone()]).await;
    ack(&store, &gone).await;
    assert_eq!(
        store.acked_len("door"),
        0,
        "an acked revocation empties the slot"
    );
    commit(
        &store,
        Commit {
            credentials_remove: vec![41],
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(store.credentials_len(), 1);
}

#[tokio::test]
async fn a_new_change_replaces_the_pending_one_for_the_same_card() {
    let dir = tempdir();
    let store = open(dir.path());

    enqueue(&store, vec![revoke(C, 1, 5, 0)]).await;
    enqueue(&store, vec![grant(C, 2, 5, 0)]).await;
    assert_eq!(pending(&store, C), [(2, 5, false)], "grant replaced revoke");

    enqueue(&store, vec![revoke(C, 3, 5, 0)]).await;
    assert_eq!(pending(&store, C), [(3, 5, true)], "revoke replaced grant");

    enqueue(&store, vec![revoke(C, 4, 5, 0)]).await;
    assert_eq!(
        pending(&store, C),
        [(4, 5, true)],
        "newer revoke replaced older"
    );
}

#[tokio::test]
async fn revocations_come_first_across_cards() {
    let dir = tempdir();
    let store = open(dir.path());
    enqueue(
        &store,
        vec![
            grant(C, 1, 1, 0),
            grant(C, 2, 300, 1),
            revoke(C, 3, 900, 2),
            grant(C, 4, 2, 3),
            revoke(C, 5, 4, 4),
            grant("garage", 6, 7, 0),
            revoke("garage", 7, 8, 1),
        ],
    )
    .await;
    // A later revoke must still jump ahead of grants queued before it.
    enqueue(&store, vec![revoke(C, 8, 3, 5)]).await;

    assert_eq!(
        pending(&store, C),
        [
            (8, 3, true),
            (5, 4, true),
            (3, 900, true),
            (1, 1, false),
            (4, 2, false),
            (2, 300, false),
        ]
    );
    let batch: Vec<_> = store
        .outbox_batch(C, 2)
        .await
        .expect("reads")
        .iter()
        .map(|e| (e.seq, e.op.change.is_revoke()))
        .collect();
    assert_eq!(batch, [(8, true), (5, true)]);
    // Another controller's queue is separate.
    assert_eq!(pending(&store, "garage"), [(7, 8, true), (6, 7, false)]);
    assert_eq!(store.outbox_len(C), 6);
}

#[tokio::test]
async fn slot_conflict_aborts_the_whole_commit() {
    let dir = tempdir();
    let store = open(dir.path());
    queue(&store, vec![grant(C, 1, 1, 0)]).await;
    let before_activity = store.activity(100).expect("reads").len();

    let result = store
        .commit(Commit {
            people: vec![person("p2", "T-2")],
            credentials_put: vec![CredentialRecord {
                card: 2,
                credential: crate::credentials::Credential::raw(2).expect("card"),
                person_id: "p2".to_string(),
                added_at: ts(1_000),
            }],
            credentials_remove: Vec::new(),
            outbox: vec![grant(C, 2, 2, 0)],
            slots: vec![(C.to_string(), 2, 0)],
            activity: vec![activity(9)],
            sources: vec![("pms".to_string(), SourceState::default())],
            ..Commit::default()
        })
        .await;
    match result {
        Err(StoreError::Conflict(message)) => assert!(message.contains("slot 0"), "{message}"),
        other => panic!("expected a slot conflict, got {other:?}"),
    }

    assert!(store.people().expect("reads").is_empty());
    assert_eq!(store.person_by_external("pms", "T-2").expect("reads"), None);
    assert_eq!(store.credential(2).expect("reads"), None);
    assert_eq!(pending(&store, C), [(1, 1, false)]);
    assert_eq!(slots(&store, C), [(0, 1)]);
    assert_eq!(store.activity(100).expect("reads").len(), before_activity);
}

#[tokio::test]
async fn reallocating_a_cards_own_slot_is_not_a_conflict() {
    let dir = tempdir();
    let store = open(dir.path());
    for seq in [1, 2] {
        queue(&store, vec![grant(C, seq, 1, 0)]).await;
    }
    assert_eq!(slots(&store, C), [(0, 1)]);
    // The same slot number on another controller is independent.
    queue(&store, vec![grant("garage", 3, 2, 0)]).await;
    assert_eq!(slots(&store, "garage"), [(0, 2)]);
}

#[tokio::test]
async fn ack_removes_only_the_entry_that_was_sent() {
    let dir = tempdir();
    let store = open(dir.path());
    let sent = grant(C, 1, 1, 0);
    queue(&store, vec![sent.clone(), grant(C, 5, 9, 1)]).await;
    // A newer change for card 1 replaces the one in flight.
    let mut newer = grant(C, 2, 1, 0);
    if let Change::Grant(c) = &mut newer.op.change {
        c.doors = 0b1;
    }
    enqueue(&store, vec![newer.clone()]).await;

    ack(&store, &sent).await;
    // The controller holds what was sent; the newer entry still has to go out.
    assert_eq!(pending(&store, C), [(2, 1, false), (5, 9, false)]);
    let acked = store.acked(C).expect("reads");
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[&1].slot, 0);
    assert_eq!(acked[&1].credential, credential(1));

    ack(&store, &newer).await;
    assert_eq!(pending(&store, C), [(5, 9, false)]);
    assert_eq!(store.acked(C).expect("reads")[&1].credential.doors, 0b1);
    // Acks are per controller.
    assert!(store.acked("garage").expect("reads").is_empty());
}

#[tokio::test]
async fn revoke_ack_frees_the_slot_when_nothing_else_is_pending() {
    let dir = tempdir();
    let store = open(dir.path());
    let g = grant(C, 1, 1, 4);
    queue(&store, vec![g.clone(), grant(C, 2, 2, 5)]).await;
    ack(&store, &g).await;
    let r = revoke(C, 3, 1, 4);
    enqueue(&store, vec![r.clone()]).await;

    ack(&store, &r).await;
    assert!(!store.acked(C).expect("reads").contains_key(&1));
    assert_eq!(
        slots(&store, C),
        [(5, 2)],
        "card 1's slot freed, card 2's kept"
    );
    assert_eq!(pending(&store, C), [(2, 2, false)]);

    // The freed slot can go to another card now.
    queue(&store, vec![grant(C, 4, 3, 4)]).await;
    assert_eq!(slots(&store, C), [(4, 3), (5, 2)]);
}

#[tokio::test]
async fn revoke_ack_keeps_the_slot_while_a_newer_grant_is_pending() {
    let dir = tempdir();
    let store = open(dir.path());
    let g = grant(C, 1, 1, 4);
    queue(&store, vec![g.clone()]).await;
    ack(&store, &g).await;
    let r = revoke(C, 2, 1, 4);
    enqueue(&store, vec![r.clone()]).await;
    // Re-granted while the revoke was in flight.
    enqueue(&store, vec![grant(C, 3, 1, 4)]).await;

    ack(&store, &r).await;
    assert!(!store.acked(C).expect("reads").contains_key(&1));
    assert_eq!(slots(&store, C), [(4, 1)]);
    assert_eq!(pending(&store, C), [(3, 1, false)]);
}

#[tokio::test]
async fn revoke_ack_keeps_the_slot_while_a_newer_revoke_is_pending() {
    let dir = tempdir();
    let store = open(dir.path());
    let r = revoke(C, 2, 1, 4);
    queue(&store, vec![r.clone()]).await;
    enqueue(&store, vec![revoke(C, 3, 1, 4)]).await;

    ack(&store, &r).await;
    assert_eq!(pending(&store, C), [(3, 1, true)]);
    assert_eq!(slots(&store, C), [(4, 1)]);
}

#[tokio::test]
async fn activity_is_newest_first_and_limited() {
    let dir = tempdir();
    let store = open(dir.path());
    assert!(store.activity(10).expect("reads").is_empty());
    commit(
        &store,
        Commit {
            activity: vec![activity(1), activity(2), activity(3)],
            ..Commit::default()
        },
    )
    .await;
    store.log(vec![activity(4)]).await.expect("log");

    assert_eq!(
        without_ids(store.activity(2).expect("reads")),
        [activity(4), activity(3)]
    );
    let all = store.activity(10).expect("reads");
    assert!(
        all.windows(2).all(|w| w[0].id > w[1].id),
        "ids increase with time: {all:?}"
    );
    assert_eq!(
        store
            .activity_entry(all[1].id)
            .expect("reads")
            .map(|a| a.subject),
        Some("s3".to_string())
    );
    assert_eq!(
        without_ids(all),
        [activity(4), activity(3), activity(2), activity(1)]
    );
    assert!(store.activity(0).expect("reads").is_empty());
}

#[tokio::test]
async fn two_cards_claiming_one_slot_in_one_commit_conflict() {
    let dir = tempdir();
    let store = open(dir.path());
    let result = store
        .commit(Commit {
            people: vec![person("p1", "T-1")],
            outbox: vec![grant(C, 1, 1, 0), grant(C, 2, 2, 0)],
            slots: vec![(C.to_string(), 1, 0), (C.to_string(), 2, 0)],
            ..Commit::default()
        })
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(slots(&store, C).is_empty());
    assert!(pending(&store, C).is_empty());
    assert!(store.people().expect("reads").is_empty());
}

#[tokio::test]
async fn activity_retention_drops_the_oldest_by_count_and_by_age() {
    let dir = tempdir();
    let store = open(dir.path());
    commit(
        &store,
        Commit {
            activity: (1..=6).map(activity).collect(),
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(
        store.trim_activity(4, ts(0)).expect("trim"),
        2,
        "over the count"
    );
    assert_eq!(
        store.trim_activity(10, ts(5)).expect("trim"),
        2,
        "older than the cut-off"
    );
    let left: Vec<String> = store
        .activity(10)
        .expect("reads")
        .into_iter()
        .map(|a| a.subject)
        .collect();
    assert_eq!(left, ["s6", "s5"]);
    assert_eq!(
        store.search_activity("S5", 10).expect("search").len(),
        1,
        "search ignores case"
    );
}

#[tokio::test]
async fn activity_search_finds_a_person_by_name() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut grace = person("p1", "T-1");
    grace.first_name = "Grace".into();
    grace.last_name = "Hopper".into();
    commit(
        &store,
        Commit {
            people: vec![grace, person("p2", "T-2")],
            activity: vec![
                Activity::new(ts(1), Outcome::Updated, "p1", "`pms` changed unit"),
                Activity::new(ts(2), Outcome::Updated, "p2", "`pms` changed unit"),
            ],
            ..Commit::default()
        },
    )
    .await;
    let found = store.search_activity("grace hop", 10).expect("search");
    assert_eq!(
        found.iter().map(|a| a.subject.as_str()).collect::<Vec<_>>(),
        ["p1"]
    );
    assert!(
        store
            .search_activity("nobody", 10)
            .expect("search")
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn the_sender_waits_out_a_planners_commit() {
    let dir = tempdir();
    let store = open(dir.path());
    let planning = store.planning().await;
    enqueue(&store, vec![revoke(C, 1, 9, 0)]).await;
    let reader = store.clone();
    let read = tokio::spawn(async move { reader.outbox_batch(C, 10).await });
    // Every task idles first, so the paused clock only jumps once the reader is blocked.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        !read.is_finished(),
        "read an entry whose commit was not over"
    );
    drop(planning);
    let batch = read.await.expect("joins").expect("reads");
    assert_eq!(batch.len(), 1);
}

#[tokio::test]
async fn an_ack_records_its_activity_with_the_outbox_change() {
    let dir = tempdir();
    let store = open(dir.path());
    let entry = grant(C, 1, 5, 0);
    enqueue(&store, vec![entry.clone()]).await;
    store
        .ack(C, std::slice::from_ref(&entry), &[activity(1)])
        .await
        .expect("ack");
    assert_eq!(store.outbox_len(C), 0);
    assert_eq!(
        without_ids(store.activity(10).expect("activity")),
        without_ids(vec![activity(1)])
    );
}

#[tokio::test]
async fn phone_notes_are_written_only_where_the_phone_still_holds_and_move_no_generation() {
    let dir = tempdir();
    let store = open(dir.path());
    let with_phone = |id: &str, phone: &str| Person {
        phone: Some(phone.into()),
        ..person(id, &format!("T-{id}"))
    };
    let (ada, bob) = (
        with_phone("p1", "+12125550142"),
        with_phone("p2", "+12125550143"),
    );
    commit(
        &store,
        Commit {
            people: vec![ada.clone(), bob.clone()],
            ..Commit::default()
        },
    )
    .await;
    let generations = (store.generation(), store.people_generation());
    let note = |person: &str, phone: &str, listed| PhoneNote {
        person: person.into(),
        phone: phone.into(),
        listed,
    };
    let notes = [
        note("p1", "+12125550142", 7),
        // Bob's phone changed since it was read: the note no longer holds.
        note("p2", "+19999999999", 8),
        note("p3", "+12125550144", 9),
    ];
    assert_eq!(store.note_phones(&notes).expect("noted"), 1);
    let noted = store.person("p1").expect("reads").expect("there");
    assert_eq!(
        noted,
        Person {
            phone_listed: 7,
            ..ada
        }
    );
    assert_eq!(store.person("p2").expect("reads"), Some(bob));
    assert_eq!(store.person("p3").expect("reads"), None);
    assert_eq!((store.generation(), store.people_generation()), generations);
    assert_eq!(
        store.note_phones(&notes[..1]).expect("noted"),
        0,
        "noted already"
    );
}

/// More notes than one transaction takes are all written.
#[tokio::test]
async fn phone_notes_past_one_transaction_are_all_written() {
    let dir = tempdir();
    let store = open(dir.path());
    let people: Vec<Person> = (0..1_201)
        .map(|i| Person {
            phone: Some(format!("+1212555{i:04}")),
            ..person(&format!("p{i:05}"), &format!("T-{i}"))
        })
        .collect();
    let notes: Vec<PhoneNote> = (people.iter())
        .map(|p| PhoneNote {
            person: p.id.clone(),
            phone: p.phone.clone().expect("a phone"),
            listed: 1,
        })
        .collect();
    commit(
        &store,
        Commit {
            people,
            ..Commit::default()
        },
    )
    .await;
    assert_eq!(store.note_phones(&notes).expect("noted"), 1_201);
    let people = store.people().expect("reads");
    assert!(people.iter().all(|p| p.phone_listed == 1));
}
