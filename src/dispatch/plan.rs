//! The diff: what a controller should hold against what it confirmed plus what is already on its
//! way. Cards keep their slot for as long as they are granted or pending; freed slots are reused
//! lowest first.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use lintel_hal::{Change, Credential, Op};

use crate::store::{AckedSlot, OutboxEntry};

/// New outbox entries and the slot allocation of every card they grant (new allocations and
/// kept ones alike, so that the commit re-checks each against the store).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub outbox: Vec<OutboxEntry>,
    pub slots: Vec<(String, u64, u16)>,
}

/// Plans the changes that bring `controller` from `acked` + `pending` to `desired`.
/// `slots` maps every allocated slot to its card.
pub fn plan_controller(
    controller: &str,
    desired: &BTreeMap<u64, Credential>,
    acked: &BTreeMap<u64, AckedSlot>,
    pending: &[OutboxEntry],
    slots: &BTreeMap<u16, u64>,
    now: Timestamp,
    next_seq: &mut dyn FnMut() -> u64,
) -> Plan {
    // What the controller will hold once everything already queued lands.
    let mut effective: BTreeMap<u64, Option<Credential>> = acked
        .iter()
        .map(|(card, a)| (*card, Some(a.credential)))
        .collect();
    for entry in pending {
        let value = match entry.op.change {
            Change::Grant(c) => Some(c),
            Change::Revoke { .. } => None,
        };
        effective.insert(entry.op.change.card(), value);
    }
    let slot_of: BTreeMap<u64, u16> = slots.iter().map(|(s, c)| (*c, *s)).collect();
    let used: BTreeSet<u16> = slots.keys().copied().collect();
    let mut free = (0..=u16::MAX).filter(|s| !used.contains(s));

    let mut plan = Plan::default();
    let mut push = |plan: &mut Plan, slot: u16, change: Change| {
        plan.outbox.push(OutboxEntry {
            controller: controller.to_string(),
            seq: next_seq(),
            op: Op { slot, change },
            enqueued_at: now,
        });
    };

    for (card, held) in &effective {
        if held.is_some()
            && !desired.contains_key(card)
            && let Some(slot) = slot_of.get(card)
        {
            push(&mut plan, *slot, Change::Revoke { card: *card });
        }
    }
    for (card, want) in desired {
        if effective.get(card).copied().flatten().as_ref() == Some(want) {
            continue;
        }
        let Some(slot) = slot_of.get(card).copied().or_else(|| free.next()) else {
            break;
        };
        plan.slots.push((controller.to_string(), *card, slot));
        push(&mut plan, slot, Change::Grant(*want));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(card: u64, doors: u8) -> Credential {
        Credential {
            card,
            doors,
            valid_from: 0,
            valid_until: None,
            pin: None,
        }
    }

    fn run(
        desired: &[Credential],
        acked: &[(u16, Credential)],
        pending: &[OutboxEntry],
        slots: &[(u16, u64)],
    ) -> Plan {
        let desired = desired.iter().map(|c| (c.card, *c)).collect();
        let acked = acked
            .iter()
            .map(|(slot, c)| {
                (
                    c.card,
                    AckedSlot {
                        slot: *slot,
                        credential: *c,
                    },
                )
            })
            .collect();
        let slots = slots.iter().copied().collect();
        let mut seq = 0;
        plan_controller(
            "c",
            &desired,
            &acked,
            pending,
            &slots,
            Timestamp::UNIX_EPOCH,
            &mut || {
                seq += 1;
                seq
            },
        )
    }

    #[test]
    fn new_cards_get_the_lowest_free_slots() {
        let plan = run(
            &[cred(10, 1), cred(20, 1)],
            &[(1, cred(5, 1))],
            &[],
            &[(1, 5)],
        );
        let ops: Vec<_> = plan.outbox.iter().map(|e| e.op).collect();
        assert_eq!(
            ops,
            vec![
                Op {
                    slot: 1,
                    change: Change::Revoke { card: 5 }
                },
                Op {
                    slot: 0,
                    change: Change::Grant(cred(10, 1))
                },
                Op {
                    slot: 2,
                    change: Change::Grant(cred(20, 1))
                },
            ]
        );
        assert_eq!(plan.slots, vec![("c".into(), 10, 0), ("c".into(), 20, 2)]);
    }

    #[test]
    fn nothing_to_do_when_in_sync() {
        let plan = run(&[cred(10, 1)], &[(0, cred(10, 1))], &[], &[(0, 10)]);
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn a_changed_credential_keeps_its_slot() {
        let plan = run(&[cred(10, 3)], &[(4, cred(10, 1))], &[], &[(4, 10)]);
        assert_eq!(
            plan.outbox[0].op,
            Op {
                slot: 4,
                change: Change::Grant(cred(10, 3))
            }
        );
        assert_eq!(plan.slots, vec![("c".into(), 10, 4)]);
    }

    #[test]
    fn a_pending_grant_no_longer_wanted_is_revoked() {
        let pending = OutboxEntry {
            controller: "c".into(),
            seq: 9,
            op: Op {
                slot: 0,
                change: Change::Grant(cred(10, 1)),
            },
            enqueued_at: Timestamp::UNIX_EPOCH,
        };
        let plan = run(&[], &[], &[pending], &[(0, 10)]);
        assert_eq!(
            plan.outbox[0].op,
            Op {
                slot: 0,
                change: Change::Revoke { card: 10 }
            }
        );
    }

    #[test]
    fn a_pending_revoke_already_matching_desired_is_left_alone() {
        let pending = OutboxEntry {
            controller: "c".into(),
            seq: 9,
            op: Op {
                slot: 0,
                change: Change::Revoke { card: 10 },
            },
            enqueued_at: Timestamp::UNIX_EPOCH,
        };
        let plan = run(&[], &[(0, cred(10, 1))], &[pending], &[(0, 10)]);
        assert_eq!(plan, Plan::default());
    }
}
