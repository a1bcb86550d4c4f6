//! A watcher over a simulated controller's change feed: every table the controller passes
//! through is checked, so a fault test sees transient states, not just the final one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use lintel_hal::RegisterProfile;
use lintel_hal::sim::SimDevice;

#[derive(Debug, Default)]
pub struct Seen {
    /// How many times each card went from absent to held.
    pub grants: BTreeMap<u64, usize>,
    /// Cards held at some point and later absent.
    pub dropped: BTreeSet<u64>,
    /// Breaches: a card held in two slots at once.
    pub violations: Vec<String>,
    held: BTreeSet<u64>,
}

/// Records what the controller does until dropped.
pub struct Watch {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    pub fn start(door: &SimDevice) -> Watch {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let door = door.clone();
        let shared = seen.clone();
        let task = tokio::spawn(async move {
            let mut changes = door.subscribe();
            loop {
                note(&shared, &door.table());
                if changes.changed().await.is_err() {
                    return;
                }
            }
        });
        Watch { seen, task }
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails the test on a card in two slots, on a card of `kept` ever dropped, and on any card
    /// granted more than once (a re-grant means it was revoked in between or written twice).
    pub fn assert_clean(&self, what: &str, kept: &[u64]) {
        let seen = self.seen();
        assert!(seen.violations.is_empty(), "{what}: {:?}", seen.violations);
        let lost: Vec<&u64> = kept.iter().filter(|c| seen.dropped.contains(c)).collect();
        assert!(lost.is_empty(), "{what}: wrongly revoked {lost:?}");
        let twice: Vec<(&u64, &usize)> = seen.grants.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{what}: granted more than once {twice:?}");
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn note(seen: &Mutex<Seen>, table: &[(u16, lintel_hal::Credential)]) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut now = BTreeSet::new();
    for (slot, c) in table {
        if !now.insert(c.card) {
            seen.violations
                .push(format!("card {} held twice (again in slot {slot})", c.card));
        }
    }
    for card in now.difference(&seen.held.clone()) {
        *seen.grants.entry(*card).or_default() += 1;
    }
    let gone: Vec<u64> = seen.held.difference(&now).copied().collect();
    seen.dropped.extend(gone);
    seen.held = now;
}

/// Every slot each card was ever written into, decoded from the device's write log (default
/// register profile). A retried write lands in the same slot; a second slot is a duplicate grant.
pub fn assert_one_slot_per_card(what: &str, device: &SimDevice) {
    let profile = RegisterProfile::default();
    let size = usize::from(profile.slot_registers);
    let mut slots: BTreeMap<u64, BTreeSet<u16>> = BTreeMap::new();
    for write in device.writes() {
        let Some(offset) = write.start.checked_sub(profile.slots_base) else {
            continue;
        };
        let first = offset / profile.slot_registers;
        for (i, regs) in write.values.chunks_exact(size).enumerate() {
            if let Ok(Some(c)) = profile.decode_slot(regs) {
                let slot = first + u16::try_from(i).expect("slot");
                slots.entry(c.card).or_default().insert(slot);
            }
        }
    }
    let twice: Vec<_> = slots.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: cards written to two slots {twice:?}"
    );
}
