//! A synthetic building shared by the benches and `benches/measure.rs`: `n` residents from the
//! demo PMS generator (`lintel::demo::pms::demo_residents`), every one holding one card, split
//! by unit over as many controllers as keep each one within the default register profile's
//! 8190 slots (two up to 12k people, 17 at 100k), as a real building of that size would be
//! wired. Every other person is made staff, which changes nothing about their doors.
//!
//! "No change" means: the source listing is the one the store was built from, the store holds
//! every person, credential, acknowledged slot and slot allocation that listing implies, and the
//! outbox is empty. A reconciliation then must decide nothing and queue nothing; the helpers here
//! assert that, so a bench cannot silently measure a pass that does work.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use lintel::Config;
use lintel::access::Policy;
use lintel::config::SourceConfig;
use lintel::dispatch::plan_controller;
use lintel::sources::Pull;
use lintel::sources::json::JsonSource;
use lintel::store::{AckedSlot, Commit, CredentialRecord, GuardState, Person, PersonType, Store};
use lintel::sync::{PassInput, PassPlan, plan_pass};
use serde_json::{Value, json};

/// The instant every pure bench plans at: inside every demo resident's window.
pub fn now() -> Timestamp {
    "2026-06-01T12:00:00Z".parse().expect("timestamp")
}

/// The demo PMS generator's units, in the order it deals them out (it reuses them from the
/// start once every one is taken).
fn units() -> Vec<String> {
    let mut units: Vec<String> = Vec::new();
    for resident in listing(UNITS_SEEN) {
        let unit = resident["unit"].as_str().expect("a demo unit").to_string();
        if units.contains(&unit) {
            break;
        }
        units.push(unit);
    }
    units
}

/// Enough demo residents to have seen every unit the generator deals out.
const UNITS_SEEN: usize = 1_000;

/// Controllers of the synthetic building of `n` people: `c0`, `c1`, …, each serving the units
/// [`units`] deals it round-robin, ~6k people at most (the default profile addresses 8190).
pub fn controllers(n: usize) -> Vec<String> {
    let count = n.div_ceil(6_000).clamp(2, units().len());
    (0..count).map(|i| format!("c{i}")).collect()
}

/// How many people each of [`controllers`]'s controllers serves.
pub fn load(n: usize) -> Vec<usize> {
    let units = units().len();
    let mut load = vec![0; controllers(n).len()];
    let count = load.len();
    for i in 0..n {
        load[(i % units) % count] += 1;
    }
    load
}

/// The demo PMS listing for `n` residents.
/// Their phones as a PMS shows them, `(555) 010-0042`, rather than the demo's E.164: each pass
/// reads them as it would a real building's.
pub fn listing(n: usize) -> Vec<Value> {
    let mut residents = lintel::demo::pms::demo_residents(n);
    for resident in &mut residents {
        if let Some(Value::String(phone)) = resident.get_mut("phone")
            && let Some(number) = phone.strip_prefix("+1")
            && number.len() == 10
        {
            *phone = format!("({}) {}-{}", &number[..3], &number[3..6], &number[6..]);
        }
    }
    residents
}

/// The body the fixture PMS serves for `listing`.
pub fn body(listing: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "residents": listing })).expect("json body")
}

/// Config text for the synthetic building. `controllers` gives each controller's address
/// (unreachable ones are fine for anything that does not dispatch); their number is
/// [`controllers`]'s for the building's size.
pub fn config_text(dir: &Path, pms_url: &str, controllers: &[(&str, String)]) -> String {
    let mut text = format!(
        r#"
[site]
name = "Bench Towers"
timezone = "America/New_York"
default_country = "US"

[store]
path = "{store}"

[control]
socket = "{socket}"

[policy]
# "future" too, so that every demo resident is taken in and a pass over the same listing
# really changes nothing (no per-pass skips).
lease_statuses = ["pending", "current", "notice", "future"]
# Far above any count a bench changes; a no-change pass never gets near it anyway.
mass_disable = {{ max_count = 1000000, max_percent = 100.0 }}

[sync]
interval = "1h"

[[source]]
name = "pms"
kind = "json"
url = "{pms_url}"
records = "residents"
timeout = "60s"
# 100k demo residents are ~33 MB in one page; the default cap is 16 MiB.
max_body_bytes = 268435456
"#,
        store = dir.join("store").display(),
        socket = dir.join("control.sock").display(),
    );
    let units = units();
    for (i, (name, addr)) in controllers.iter().enumerate() {
        let served: Vec<String> = units
            .iter()
            .skip(i)
            .step_by(controllers.len())
            .map(|u| format!("\"{u}\""))
            .collect();
        text.push_str(&format!(
            "\n[[controller]]\nname = \"{name}\"\nkind = \"modbus-tcp\"\naddress = \"{addr}\"\ntimeout = \"2s\"\n\n[[door]]\nname = \"{name}-door\"\ncontroller = \"{name}\"\nindex = 0\n\n[[group]]\nname = \"{name}-units\"\nmatch = {{ units = [{}] }}\ndoors = [\"{name}-door\"]\n",
            served.join(", ")
        ));
    }
    text
}

/// The synthetic building of `n` people with every controller unreachable.
pub fn config(dir: &Path, pms_url: &str, n: usize) -> Config {
    let names = controllers(n);
    let controllers: Vec<(&str, String)> = names
        .iter()
        .map(|c| (c.as_str(), "127.0.0.1:9".to_string()))
        .collect();
    Config::parse(&config_text(dir, pms_url, &controllers), "bench").expect("bench config")
}

pub fn json_source(config: &Config) -> JsonSource {
    match &config.sources[0] {
        SourceConfig::Json(c) => JsonSource::new(c).expect("json source"),
        other => panic!("expected a json source, got {}", other.name()),
    }
}

/// Card of the `i`-th person (in id order).
pub fn card(i: usize) -> u64 {
    1_000_000 + i as u64
}

/// Everything a no-change reconciliation reads, in memory.
pub struct Snapshot {
    pub config: Config,
    pub policy: Policy,
    pub pull: Pull,
    pub people: Vec<Person>,
    pub credentials: Vec<CredentialRecord>,
    pub acked: BTreeMap<String, BTreeMap<u64, AckedSlot>>,
    pub slots: BTreeMap<String, BTreeMap<u16, u64>>,
}

/// People as the first pass over `pull` creates them, every other one made staff.
pub fn first_pass_people(config: &Config, pull: &Pull, now: Timestamp) -> Vec<Person> {
    let ignored = HashSet::new();
    let guard = GuardState::default();
    let input = PassInput {
        source: "pms",
        pull,
        people: &[],
        ignored: &ignored,
        alerts: &[],
        guard: &guard,
        policy: &config.policy,
        country: config.site.default_country.parse().ok(),
        now,
    };
    let mut next = 0u64;
    let plan = plan_pass(&input, &mut || {
        next += 1;
        next
    })
    .expect("first pass");
    assert_eq!(
        plan.added,
        pull.records.len(),
        "every record is taken in: {:?}",
        plan.activity.first()
    );
    let mut people = plan.people;
    people.sort_by(|a, b| a.id.cmp(&b.id));
    for (i, p) in people.iter_mut().enumerate() {
        if i % 2 == 1 {
            p.person_type = PersonType::Staff;
        }
    }
    people
}

pub fn credentials_for(people: &[Person], now: Timestamp) -> Vec<CredentialRecord> {
    people
        .iter()
        .enumerate()
        .map(|(i, p)| CredentialRecord {
            card: card(i),
            credential: lintel::credentials::Credential::raw(card(i)).expect("raw card"),
            person_id: p.id.clone(),
            added_at: now,
        })
        .collect()
}

impl Snapshot {
    pub fn new(n: usize) -> Snapshot {
        let dir = std::env::temp_dir();
        let config = config(&dir, "http://127.0.0.1:9/residents", n);
        let source = json_source(&config);
        let pull = source.parse(&body(&listing(n))).expect("parse listing");
        assert_eq!(pull.records.len(), n);
        let now = now();
        let people = first_pass_people(&config, &pull, now);
        let credentials = credentials_for(&people, now);
        let policy = Policy::new(&config);
        let (desired, _) = policy.desired(&people, &[], &credentials, now);
        let mut acked = BTreeMap::new();
        let mut slots = BTreeMap::new();
        for (controller, table) in &desired {
            let mut a = BTreeMap::new();
            let mut s = BTreeMap::new();
            for (slot, (card, credential)) in table.iter().enumerate() {
                let slot = u16::try_from(slot).expect("fewer than 65536 cards per controller");
                a.insert(
                    *card,
                    AckedSlot {
                        slot,
                        credential: *credential,
                    },
                );
                s.insert(slot, *card);
            }
            acked.insert(controller.clone(), a);
            slots.insert(controller.clone(), s);
        }
        Snapshot {
            config,
            policy,
            pull,
            people,
            credentials,
            acked,
            slots,
        }
    }

    /// The sync decision (`plan_pass`) over the whole listing at `now`.
    fn decide(&self, now: Timestamp) -> PassPlan {
        let ignored = HashSet::new();
        let guard = GuardState::default();
        let input = PassInput {
            source: "pms",
            pull: &self.pull,
            people: &self.people,
            ignored: &ignored,
            alerts: &[],
            guard: &guard,
            policy: &self.config.policy,
            country: self.config.site.default_country.parse().ok(),
            now,
        };
        let mut next = 1u64 << 40;
        plan_pass(&input, &mut || {
            next += 1;
            next
        })
        .expect("pass")
    }

    /// Only the sync decision over the whole listing; returns activity entries.
    pub fn plan_only(&self) -> usize {
        let plan = self.decide(now());
        assert!(plan.people.is_empty());
        plan.activity.len()
    }

    /// One full reconciliation with no changes: the sync decision over the whole listing, the
    /// desired tables, and the diff against every controller's acknowledged table. Returns the
    /// number of people it looked at; panics if it decided anything.
    pub fn reconcile(&self) -> usize {
        let plan = self.decide(now());
        assert!(
            plan.people.is_empty() && plan.alerts.is_empty(),
            "a no-change pass changed {} people",
            plan.people.len()
        );
        let queued = self.diff();
        assert_eq!(queued, 0, "a no-change reconciliation queued {queued} ops");
        plan.activity.len() + self.people.len()
    }

    /// `Policy::desired` plus `plan_controller` for every controller; returns ops queued.
    pub fn diff(&self) -> usize {
        let now = now();
        let (desired, _) = self
            .policy
            .desired(&self.people, &[], &self.credentials, now);
        let mut queued = 0;
        let mut seq = 0u64;
        for (controller, table) in &desired {
            let plan = plan_controller(
                controller,
                table,
                &self.acked[controller],
                &[],
                &self.slots[controller],
                now,
                &mut || {
                    seq += 1;
                    seq
                },
            );
            queued += plan.outbox.len();
        }
        queued
    }
}

/// Seeds `store` so that the listing `pull` (of the building in `config`) is a no-change
/// reconciliation at `now`: people, credentials, acknowledged slots, slot allocations, and the
/// source's last success. Written with the store's own commit and ack, as the daemon would.
pub async fn seed_store(store: &Store, config: &Config, pull: &Pull, now: Timestamp) {
    let people = first_pass_people(config, pull, now);
    let credentials = credentials_for(&people, now);
    let policy = Policy::new(config);
    let (desired, _) = policy.desired(&people, &[], &credentials, now);
    let mut outbox = Vec::new();
    let mut slots = Vec::new();
    let mut seq = 0u64;
    for (controller, table) in &desired {
        let plan = plan_controller(
            controller,
            table,
            &BTreeMap::new(),
            &[],
            &BTreeMap::new(),
            now,
            &mut || {
                seq += 1;
                seq
            },
        );
        outbox.extend(plan.outbox);
        slots.extend(plan.slots);
    }
    // In chunks: one sled transaction of 100k people is slow and memory-hungry, and the daemon
    // never writes that much at once either.
    for chunk in people.chunks(5_000) {
        store
            .commit(Commit {
                people: chunk.to_vec(),
                ..Commit::default()
            })
            .await
            .expect("seed people");
    }
    for chunk in credentials.chunks(5_000) {
        store
            .commit(Commit {
                credentials_put: chunk.to_vec(),
                ..Commit::default()
            })
            .await
            .expect("seed credentials");
    }
    let state = lintel::store::SourceState {
        last_success_at: Some(now),
        people_in_scope: pull.records.len(),
        ..Default::default()
    };
    let slot_of: std::collections::HashMap<(String, u64), u16> = slots
        .into_iter()
        .map(|(controller, card, slot)| ((controller, card), slot))
        .collect();
    for chunk in outbox.chunks(2_000) {
        let slot_chunk: Vec<(String, u64, u16)> = chunk
            .iter()
            .filter_map(|e| {
                let key = (e.controller.clone(), e.op.change.card());
                slot_of.get(&key).map(|slot| (key.0, key.1, *slot))
            })
            .collect();
        store
            .commit(Commit {
                outbox: chunk.to_vec(),
                slots: slot_chunk,
                ..Commit::default()
            })
            .await
            .expect("seed outbox");
    }
    for controller in config.controllers.iter().map(|c| c.name()) {
        let pending = store.outbox(controller).expect("outbox");
        for chunk in pending.chunks(2_000) {
            store.ack(controller, chunk, &[]).await.expect("seed acks");
        }
        assert_eq!(store.outbox_len(controller), 0);
    }
    store
        .commit(Commit {
            sources: vec![("pms".to_string(), state)],
            ..Commit::default()
        })
        .await
        .expect("seed source state");
}
