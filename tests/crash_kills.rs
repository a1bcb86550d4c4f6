//! Crash consistency under many kills (docs/RELIABILITY.md): `lintel run` runs as a child
//! process and is SIGKILLed at a random instant while the test issues cards, moves people in
//! and out at the PMS and asks for syncs — so kills land in sync passes, in store commits and
//! with controller writes in flight (some held unanswered by the simulator). After every restart:
//!
//! - every card whose `credentials add` was answered is still in the store (nothing
//!   acknowledged is lost);
//! - the controller converges to exactly the cards of the people the PMS lists;
//! - at no instant does the controller hold a card twice, a card never issued, or a card whose
//!   revocation it had already applied while its owner stayed unlisted (no wrongful grant).
//!
//! `LINTEL_KILLS` sets the number of kills (default 50, what `cargo test` and CI run); a long
//! run is `LINTEL_KILLS=1000 cargo test --test crash_kills -- --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lintel::control::Request;
use lintel::control::client::ClientError;
use lintel::demo::pms::PmsServer;
use lintel_hal::sim::SimHandle;
use rand::Rng;
use rand::seq::IndexedRandom;

const PEOPLE: usize = 200;

fn kills() -> usize {
    std::env::var("LINTEL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// What the test knows for certain.
#[derive(Default)]
struct Model {
    /// Residents the PMS lists.
    listed: BTreeSet<String>,
    /// Cards whose `credentials add` was answered OK, by card → resident id.
    cards: BTreeMap<u64, String>,
    /// Cards asked for when the daemon died: in the store or not, either is fine.
    uncertain: BTreeMap<u64, String>,
    /// Every card ever asked for.
    issued: BTreeSet<u64>,
    /// Cards the controller has been seen to drop after their owner left the PMS; while the
    /// owner stays unlisted, seeing one again is a wrongful grant.
    revoked: BTreeSet<u64>,
    /// Cards the controller has been seen to hold at some point.
    seen_held: BTreeSet<u64>,
    /// Invariant breaches seen by the watcher.
    violations: Vec<String>,
}

impl Model {
    /// `id` is listed again: its cards may be granted again. A new listing period starts, so
    /// a card counts as dropped only once it is seen held again: a grant sent while the owner
    /// was listed may land after they leave again (it was in flight), and the revocation that
    /// follows it is what the model then waits for.
    fn relist(&mut self, id: &str) {
        let cards: Vec<u64> = self
            .cards
            .iter()
            .chain(self.uncertain.iter())
            .filter(|(_, o)| *o == id)
            .map(|(c, _)| *c)
            .collect();
        for c in cards {
            self.revoked.remove(&c);
            self.seen_held.remove(&c);
        }
        self.listed.insert(id.to_string());
    }
}

type Shared = Arc<Mutex<Model>>;

fn lock(m: &Shared) -> std::sync::MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches every change the controller applies and records invariant breaches.
fn watch_controller(door: SimHandle, model: Shared) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = door.subscribe();
        loop {
            let table = door.table();
            {
                let mut m = lock(&model);
                let mut seen = BTreeSet::new();
                let mut found = Vec::new();
                for (slot, c) in &table {
                    if !seen.insert(c.card) {
                        found.push(format!("card {} held twice (again in slot {slot})", c.card));
                    }
                    if !m.issued.contains(&c.card) {
                        found.push(format!("card {} was never issued", c.card));
                    }
                    m.seen_held.insert(c.card);
                    if m.revoked.contains(&c.card) {
                        found.push(format!(
                            "card {} granted again after its revocation, owner still unlisted",
                            c.card
                        ));
                    }
                }
                m.violations.extend(found);
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
}

async fn credentials(dir: &Path) -> BTreeMap<u64, String> {
    let list = call(dir, Request::CredentialsList).await;
    let rows = list.as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|row| {
            let card = row["card"].as_u64().expect("card number");
            (
                card,
                row["person_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Restart checks: nothing acknowledged lost, then convergence to the PMS's truth.
async fn converge(dir: &Path, pms: &PmsServer, door: &SimHandle, model: &Shared, cycle: usize) {
    let passes = sync_now(dir).await;
    assert_eq!(passes[0]["ok"], true, "cycle {cycle}: {passes}");
    let stored = credentials(dir).await;
    let stored_cards: BTreeSet<u64> = stored.keys().copied().collect();
    let want: Vec<u64> = {
        let mut m = lock(model);
        let lost: Vec<u64> = m
            .cards
            .keys()
            .filter(|c| !stored_cards.contains(c))
            .copied()
            .collect();
        assert!(
            lost.is_empty(),
            "cycle {cycle}: acknowledged cards lost from the store: {lost:?}"
        );
        let uncertain = std::mem::take(&mut m.uncertain);
        for (card, owner) in uncertain {
            if stored_cards.contains(&card) {
                m.cards.insert(card, owner);
            }
        }
        let extra: Vec<u64> = stored_cards
            .iter()
            .filter(|c| !m.cards.contains_key(c))
            .copied()
            .collect();
        assert!(
            extra.is_empty(),
            "cycle {cycle}: store holds cards never asked for: {extra:?}"
        );
        m.cards
            .iter()
            .filter(|(_, owner)| m.listed.contains(*owner))
            .map(|(card, _)| *card)
            .collect()
    };
    let mut changes = door.subscribe();
    let converged = tokio::time::timeout(PATIENCE, async {
        loop {
            if held(door).keys().copied().collect::<Vec<_>>() == want {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    if converged.is_err() {
        let have: BTreeSet<u64> = held(door).keys().copied().collect();
        let missing: Vec<u64> = want.iter().filter(|c| !have.contains(c)).copied().collect();
        let extra: Vec<&u64> = have.iter().filter(|c| !want.contains(c)).collect();
        let status = call(dir, Request::Status).await;
        eprintln!("status: {status:#}");
        for card in &missing {
            let why = lintel::control::client::request(
                &socket(dir),
                &Request::Explain {
                    person: card.to_string(),
                    door: None,
                },
            )
            .await;
            eprintln!("explain {card}: {why:?}");
        }
        let log = lintel::control::client::request(
            &socket(dir),
            &Request::Activity {
                limit: 40,
                search: None,
            },
        )
        .await;
        eprintln!("activity: {log:#?}");
        panic!("cycle {cycle}: no convergence; missing {missing:?}, extra {extra:?}");
    }
    // Every card the controller holds opens door 0 only, as configured.
    for (slot, c) in door.table() {
        assert_eq!(c.doors, 1, "cycle {cycle}: slot {slot} holds {c:?}");
    }
    // The PMS listing the test believes in is the one served.
    assert_eq!(pms.residents().len(), lock(model).listed.len());
}

/// One random step against the running daemon. Returns false once the daemon is gone.
async fn step(
    dir: &Path,
    pms: &PmsServer,
    door: &SimHandle,
    model: &Shared,
    next_card: &mut u64,
) -> bool {
    let choice = rand::rng().random_range(0..100);
    match choice {
        0..40 => {
            let owner = {
                let ids: Vec<String> = (1..=PEOPLE).map(|i| format!("R-{i}")).collect();
                ids.choose(&mut rand::rng()).cloned().expect("a person")
            };
            *next_card += 1;
            let card = *next_card;
            {
                let mut m = lock(model);
                m.issued.insert(card);
                m.uncertain.insert(card, owner.clone());
            }
            let req = Request::CredentialsAdd {
                person: owner.clone(),
                card: card.to_string(),
            };
            match lintel::control::client::request(&socket(dir), &req).await {
                Ok(_) => {
                    let mut m = lock(model);
                    m.uncertain.remove(&card);
                    m.cards.insert(card, owner);
                    true
                }
                Err(ClientError::Refused(why)) => panic!("card {card} for {owner} refused: {why}"),
                Err(_) => false,
            }
        }
        40..70 => {
            // Move someone out (or back in) at the PMS, then sync.
            let i = rand::rng().random_range(1..=PEOPLE);
            let id = format!("R-{i}");
            let listed = lock(model).listed.contains(&id);
            if listed {
                assert!(pms.remove(&id));
                lock(model).listed.remove(&id);
            } else {
                lock(model).relist(&id);
                pms.push(resident(&id, "current"));
            }
            lintel::control::client::request(&socket(dir), &Request::SyncNow { dry_run: false })
                .await
                .is_ok()
        }
        70..80 => {
            // A bigger pass: a tenth of the building moves, out if listed, back in if not.
            let tenth = rand::rng().random_range(0..10);
            for i in (1..=PEOPLE).filter(|i| i % 10 == tenth) {
                let id = format!("R-{i}");
                let mut m = lock(model);
                if m.listed.remove(&id) {
                    drop(m);
                    assert!(pms.remove(&id));
                } else {
                    m.relist(&id);
                    drop(m);
                    pms.push(resident(&id, "current"));
                }
            }
            lintel::control::client::request(&socket(dir), &Request::SyncNow { dry_run: false })
                .await
                .is_ok()
        }
        80..90 => {
            // Writes arrive but go unanswered until the kill: they are in flight then.
            door.hold_writes();
            true
        }
        _ => {
            // Let the controller catch up, marking what it revoked.
            note_revocations(door, model);
            tokio::task::yield_now().await;
            true
        }
    }
}

/// Cards of unlisted owners that the controller held and no longer holds are revoked for good
/// (until their owner is listed again). A card never seen held is not marked: a grant written
/// just before a kill may still land late (the device applies a request whose master died),
/// and the restarted gateway then revokes it.
fn note_revocations(door: &SimHandle, model: &Shared) {
    let held: BTreeSet<u64> = door.table().iter().map(|(_, c)| c.card).collect();
    let mut m = lock(model);
    let gone: Vec<u64> = m
        .cards
        .iter()
        .filter(|(card, owner)| {
            !m.listed.contains(*owner) && !held.contains(card) && m.seen_held.contains(card)
        })
        .map(|(c, _)| *c)
        .collect();
    m.revoked.extend(gone);
}

/// The card numbers named in breach messages.
fn cards_of(breaches: &[String]) -> Vec<u64> {
    breaches
        .iter()
        .filter_map(|b| b.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// The controller's last `n` writes, decoded slot by slot, for a failure's evidence, and every
/// write that touched a slot once holding one of `cards`.
fn dump_writes(door: &SimHandle, n: usize, cards: &[u64]) {
    let profile = lintel_hal::RegisterProfile::default();
    let writes = door.writes();
    eprintln!("{} writes so far; the last {n}:", writes.len());
    let decoded = |w: &lintel_hal::sim::SimWrite| -> Vec<(u16, Option<u64>)> {
        let Some(offset) = w.start.checked_sub(profile.slots_base) else {
            return Vec::new();
        };
        w.values
            .chunks(usize::from(profile.slot_registers))
            .zip(offset / profile.slot_registers..)
            .map(|(r, slot)| (slot, profile.decode_slot(r).ok().flatten().map(|c| c.card)))
            .collect()
    };
    let slots: BTreeSet<u16> = writes
        .iter()
        .flat_map(&decoded)
        .filter(|(_, c)| c.is_some_and(|c| cards.contains(&c)))
        .map(|(s, _)| s)
        .collect();
    for (i, w) in writes.iter().enumerate() {
        let d = decoded(w);
        if d.iter().any(|(s, _)| slots.contains(s)) {
            eprintln!("history: write #{i} at {}: {d:?}", w.start);
        }
    }
    for w in writes.iter().rev().take(n).rev() {
        let Some(offset) = w.start.checked_sub(profile.slots_base) else {
            eprintln!("write at {}: header {:?}", w.start, w.values);
            continue;
        };
        let first = offset / profile.slot_registers;
        let slots: Vec<String> = w
            .values
            .chunks(usize::from(profile.slot_registers))
            .zip(first..)
            .map(|(r, slot)| {
                format!(
                    "{slot}:{:?}",
                    profile.decode_slot(r).ok().flatten().map(|c| c.card)
                )
            })
            .collect();
        eprintln!("write at {}: {}", w.start, slots.join(" "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_during_sync_and_dispatch_lose_nothing_and_grant_nothing_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(PEOPLE)).expect("pms");
    let door = sim(1024).await;
    let config_path = dir.path().join("lintel.toml");
    let mut text = config_text(
        dir.path(),
        &pms.url(),
        &[("door", door.local_addr().to_string())],
    );
    // Moves of a tenth of the building at once must go through, not wait for approval.
    text.push_str("\n[policy]\nmass_disable = { max_count = 100000, max_percent = 100.0 }\n");
    std::fs::write(&config_path, text).expect("write config");

    let model: Shared = Arc::new(Mutex::new(Model {
        listed: (1..=PEOPLE).map(|i| format!("R-{i}")).collect(),
        ..Model::default()
    }));
    let watcher = watch_controller(door.clone(), model.clone());
    let mut next_card = 500_000u64;
    let mut in_flight_kills = 0;
    let total = kills();
    for cycle in 0..=total {
        let mut daemon = start_lintel(dir.path(), &config_path).await;
        converge(dir.path(), &pms, &door, &model, cycle).await;
        note_revocations(&door, &model);
        if cycle == total {
            daemon.kill().await.expect("kill");
            break;
        }
        let arrivals = door.arrivals();
        let before = *arrivals.borrow();
        let kill_after = Duration::from_millis(rand::rng().random_range(0..300));
        let work = async {
            loop {
                if !step(dir.path(), &pms, &door, &model, &mut next_card).await {
                    // The daemon cannot be gone before the kill; keep the clock running.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = work => {}
            () = tokio::time::sleep(kill_after) => {}
        }
        let breaches = lock(&model).violations.clone();
        if !breaches.is_empty() {
            // Evidence while the daemon still runs: its activity log and the writes seen.
            let log = lintel::control::client::request(
                &socket(dir.path()),
                &Request::Activity {
                    limit: 60,
                    search: None,
                },
            )
            .await;
            eprintln!("activity: {log:#?}");
            eprintln!("breaches: {breaches:#?}");
            for card in cards_of(&breaches).into_iter().collect::<BTreeSet<_>>() {
                let owner = lock(&model).cards.get(&card).cloned().unwrap_or_default();
                let log = lintel::control::client::request(
                    &socket(dir.path()),
                    &Request::Activity {
                        limit: 40,
                        search: Some(owner.clone()),
                    },
                )
                .await;
                eprintln!("activity of {owner} (card {card}): {log:?}");
                let log = lintel::control::client::request(
                    &socket(dir.path()),
                    &Request::Activity {
                        limit: 40,
                        search: Some(card.to_string()),
                    },
                )
                .await;
                eprintln!("activity of card {card}: {log:?}");
            }
            dump_writes(&door, 40, &cards_of(&breaches));
        }
        daemon.kill().await.expect("SIGKILL");
        if *arrivals.borrow() > before {
            in_flight_kills += 1;
        }
        door.release_writes();
        let breaches = lock(&model).violations.clone();
        if !breaches.is_empty() {
            dump_writes(&door, 60, &cards_of(&breaches));
        }
        assert!(breaches.is_empty(), "cycle {cycle}: {breaches:#?}");
    }
    watcher.abort();
    let m = lock(&model);
    assert!(m.violations.is_empty(), "{:#?}", m.violations);
    eprintln!(
        "crash_kills: {total} kills ({in_flight_kills} after controller writes had started), \
         {} cards issued, {} acknowledged, {} of {PEOPLE} residents listed at the end",
        m.issued.len(),
        m.cards.len(),
        m.listed.len()
    );
}
