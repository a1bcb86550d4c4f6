//! Readback verification: what a drift report means for the activity log, and which slots to
//! repair — exactly the drifted ones, except where a newer change is already queued.

use std::collections::HashSet;

use lintel_hal::{Credential, DeviceEvent, Drift, Op, SlotDrift};

use crate::store::{AckedSlot, OutboxEntry};

/// At most this many slots are named in one activity entry.
const NAMED: usize = 10;

/// The table the controller should hold: what it acknowledged, by slot.
pub fn expected(acked: impl IntoIterator<Item = AckedSlot>) -> Vec<(u16, Credential)> {
    let mut table: Vec<(u16, Credential)> =
        acked.into_iter().map(|a| (a.slot, a.credential)).collect();
    table.sort_by_key(|(slot, _)| *slot);
    table
}

/// Slots and cards with a change still in the outbox: the worker sends those anyway, and a
/// repair written now could only race them.
#[derive(Debug, Default)]
pub struct Pending {
    slots: HashSet<u16>,
    cards: HashSet<u64>,
}

impl Pending {
    pub fn new(outbox: &[OutboxEntry]) -> Self {
        Pending {
            slots: outbox.iter().map(|e| e.op.slot).collect(),
            cards: outbox.iter().map(|e| e.op.change.card()).collect(),
        }
    }

    fn covers_drift(&self, drift: &SlotDrift) -> bool {
        let cards = match drift {
            SlotDrift::Missing { expected, .. } => vec![expected.card],
            SlotDrift::Unexpected { found, .. } => vec![found.card],
            SlotDrift::Different {
                expected, found, ..
            } => vec![expected.card, found.card],
            SlotDrift::Garbled { expected, card, .. } => {
                expected.iter().map(|c| c.card).chain(*card).collect()
            }
        };
        self.slots.contains(&drift.slot()) || cards.iter().any(|c| self.cards.contains(c))
    }
}

/// The drifted slots nothing queued will fix anyway.
pub fn unexplained<'a>(drift: &'a Drift, pending: &Pending) -> Vec<&'a SlotDrift> {
    drift
        .slots
        .iter()
        .filter(|d| !pending.covers_drift(d))
        .collect()
}

/// Repairs for `drift`: clearing ops first, so a revocation the device lost goes out before
/// any grant.
pub fn repairs(drift: &[&SlotDrift]) -> Vec<Op> {
    let mut ops: Vec<Op> = drift.iter().map(|d| d.repair()).collect();
    ops.sort_by_key(|op| !op.change.is_revoke());
    ops
}

/// The activity reason for a drift report.
pub fn describe(drift: &Drift, slots: &[&SlotDrift]) -> String {
    let mut named: Vec<String> = slots.iter().take(NAMED).map(|d| d.describe()).collect();
    if slots.len() > NAMED {
        named.push(format!("and {} more", slots.len() - NAMED));
    }
    let generation = drift
        .generation
        .map(|g| format!(" (device table generation {g})"))
        .unwrap_or_default();
    format!(
        "readback found {} slot(s) differing from what the controller acknowledged{generation}: \
         {}; re-sending exactly those",
        slots.len(),
        named.join("; ")
    )
}

/// The activity reason for an access event, or `None` for events that are not swipes.
pub fn access_reason(event: &DeviceEvent) -> Option<String> {
    let DeviceEvent::Access {
        card,
        uid,
        known,
        granted,
        access,
        hostname,
        ..
    } = event
    else {
        return None;
    };
    let who = match card {
        Some(card) => format!("card {card} (uid {uid})"),
        None => format!("uid {uid} (not a card number in the configured format)"),
    };
    let at = if hostname.is_empty() {
        String::new()
    } else {
        format!(" at {hostname}")
    };
    let known = if *known { "known" } else { "unknown card" };
    let opened = if *granted { "door opened" } else { "refused" };
    let verdict = if access.is_empty() {
        String::new()
    } else {
        format!(" ({access})")
    };
    Some(format!("{who} presented{at}: {known}, {opened}{verdict}"))
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use lintel_hal::{Change, Check};

    use super::*;

    fn c(card: u64) -> Credential {
        Credential {
            card,
            doors: 1,
            valid_from: 0,
            valid_until: None,
            pin: None,
        }
    }

    fn pending(slot: u16, card: u64) -> OutboxEntry {
        OutboxEntry {
            controller: "x".into(),
            seq: 1,
            op: Op {
                slot,
                change: Change::Revoke { card },
            },
            enqueued_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn drift_with_a_queued_change_is_left_to_the_queue() {
        let drift = Drift {
            check: Check::FullRead,
            generation: Some(0),
            slots: vec![
                SlotDrift::Missing {
                    slot: 0,
                    expected: c(10),
                },
                SlotDrift::Unexpected {
                    slot: 1,
                    found: c(11),
                },
                SlotDrift::Missing {
                    slot: 2,
                    expected: c(12),
                },
                SlotDrift::Garbled {
                    slot: 3,
                    expected: None,
                    card: None,
                    detail: "x".into(),
                },
            ],
        };
        // Slot 2 has a queued change; card 11 too (under another slot).
        let p = Pending::new(&[pending(2, 99), pending(7, 11)]);
        let left = unexplained(&drift, &p);
        assert_eq!(left.iter().map(|d| d.slot()).collect::<Vec<_>>(), [0, 3]);
        let ops = repairs(&left);
        assert!(ops[0].change.is_revoke(), "{ops:?}");
        assert_eq!(ops[0].slot, 3);
        assert_eq!(ops[1].change, Change::Grant(c(10)));
        let reason = describe(&drift, &left);
        assert!(
            reason.contains("2 slot(s)")
                && reason.contains("slot 0: card 10 missing")
                && reason.contains("generation 0"),
            "{reason}"
        );
    }

    #[test]
    fn access_reasons_say_uid_known_and_granted() {
        let e = DeviceEvent::Access {
            card: Some(5001),
            uid: "00001389".into(),
            known: false,
            granted: false,
            access: "Denied".into(),
            username: "Unknown".into(),
            hostname: "lobby".into(),
        };
        assert_eq!(
            access_reason(&e).as_deref(),
            Some("card 5001 (uid 00001389) presented at lobby: unknown card, refused (Denied)")
        );
        assert_eq!(
            access_reason(&DeviceEvent::Unsupported { reason: "x".into() }),
            None
        );
    }
}
