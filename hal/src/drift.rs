//! What readback verification found: how a device's table differs from the one the gateway
//! expects, slot by slot, so the caller can repair exactly those slots and log the drift.

use std::collections::BTreeMap;

use crate::{Change, Credential, Op};

/// How the verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The device's table digest matched the expected one; nothing was read.
    Digest,
    /// The table was read back and compared entry by entry.
    FullRead,
}

/// One slot (or, on card-keyed devices, one card) that differs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "drift")]
pub enum SlotDrift {
    /// Expected, but the device does not hold it: grant it again.
    Missing { slot: u16, expected: Credential },
    /// The device holds a credential nobody expects there: clear it.
    Unexpected { slot: u16, found: Credential },
    /// The device holds something else in the slot: rewrite it.
    Different {
        slot: u16,
        expected: Credential,
        found: Credential,
    },
    /// The slot's content does not decode, or an unused slot is not cleared: rewrite it with
    /// `expected` (or clear it when `None`).
    Garbled {
        slot: u16,
        expected: Option<Credential>,
        /// The card the slot (or list entry) seems to hold, where that much is readable.
        card: Option<u64>,
        detail: String,
    },
}

impl SlotDrift {
    pub fn slot(&self) -> u16 {
        match self {
            SlotDrift::Missing { slot, .. }
            | SlotDrift::Unexpected { slot, .. }
            | SlotDrift::Different { slot, .. }
            | SlotDrift::Garbled { slot, .. } => *slot,
        }
    }

    /// The op that repairs this drift: grant what is expected, or clear what is not. A
    /// garbled slot whose card is unreadable is cleared as card 0 (slot-keyed devices clear by
    /// slot; card-keyed ones have nothing to delete).
    pub fn repair(&self) -> Op {
        let slot = self.slot();
        let change = match self {
            SlotDrift::Missing { expected, .. } | SlotDrift::Different { expected, .. } => {
                Change::Grant(*expected)
            }
            SlotDrift::Garbled {
                expected: Some(expected),
                ..
            } => Change::Grant(*expected),
            SlotDrift::Unexpected { found, .. } => Change::Revoke { card: found.card },
            SlotDrift::Garbled {
                expected: None,
                card,
                ..
            } => Change::Revoke {
                card: card.unwrap_or(0),
            },
        };
        Op { slot, change }
    }

    /// One line for logs and the activity log, e.g. `slot 3: card 5001 missing`.
    pub fn describe(&self) -> String {
        match self {
            SlotDrift::Missing { slot, expected } => {
                format!("slot {slot}: card {} missing", expected.card)
            }
            SlotDrift::Unexpected { slot, found } => {
                format!("slot {slot}: unexpected card {}", found.card)
            }
            SlotDrift::Different {
                slot,
                expected,
                found,
            } if expected.card != found.card => format!(
                "slot {slot}: card {} instead of {}",
                found.card, expected.card
            ),
            SlotDrift::Different { slot, expected, .. } => {
                format!("slot {slot}: card {} altered", expected.card)
            }
            SlotDrift::Garbled { slot, detail, .. } => format!("slot {slot}: garbled ({detail})"),
        }
    }

    /// What the slot should hold; `None` = it should be empty.
    pub fn expected(&self) -> Option<&Credential> {
        match self {
            SlotDrift::Missing { expected, .. } | SlotDrift::Different { expected, .. } => {
                Some(expected)
            }
            SlotDrift::Unexpected { .. } => None,
            SlotDrift::Garbled { expected, .. } => expected.as_ref(),
        }
    }
}

/// The outcome of [`crate::Controller::verify`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub check: Check,
    /// The device's table generation, where the profile has one (a reset device reports 0).
    pub generation: Option<u32>,
    /// Empty when the device is in sync.
    pub slots: Vec<SlotDrift>,
}

impl Drift {
    pub fn in_sync(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Differences between tables keyed by slot.
pub fn diff_by_slot(expected: &[(u16, Credential)], found: &[(u16, Credential)]) -> Vec<SlotDrift> {
    let found: BTreeMap<u16, &Credential> = found.iter().map(|(s, c)| (*s, c)).collect();
    let wanted: BTreeMap<u16, &Credential> = expected.iter().map(|(s, c)| (*s, c)).collect();
    let mut out = Vec::new();
    for (slot, want) in &wanted {
        match found.get(slot) {
            None => out.push(SlotDrift::Missing {
                slot: *slot,
                expected: **want,
            }),
            Some(have) if have != want => out.push(SlotDrift::Different {
                slot: *slot,
                expected: **want,
                found: **have,
            }),
            Some(_) => {}
        }
    }
    for (slot, have) in &found {
        if !wanted.contains_key(slot) {
            out.push(SlotDrift::Unexpected {
                slot: *slot,
                found: **have,
            });
        }
    }
    out.sort_by_key(SlotDrift::slot);
    out
}

/// Differences between tables keyed by card (devices that store credentials by uid). Reported
/// slots are the expected ones, or the device's list position for unexpected cards.
pub fn diff_by_card(expected: &[(u16, Credential)], found: &[(u16, Credential)]) -> Vec<SlotDrift> {
    let have: BTreeMap<u64, (u16, &Credential)> =
        found.iter().map(|(s, c)| (c.card, (*s, c))).collect();
    let want: BTreeMap<u64, (u16, &Credential)> =
        expected.iter().map(|(s, c)| (c.card, (*s, c))).collect();
    let mut out = Vec::new();
    for (card, (slot, wanted)) in &want {
        match have.get(card) {
            None => out.push(SlotDrift::Missing {
                slot: *slot,
                expected: **wanted,
            }),
            Some((_, got)) if got != wanted => out.push(SlotDrift::Different {
                slot: *slot,
                expected: **wanted,
                found: **got,
            }),
            Some(_) => {}
        }
    }
    for (card, (slot, got)) in &have {
        if !want.contains_key(card) {
            out.push(SlotDrift::Unexpected {
                slot: *slot,
                found: **got,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(card: u64, doors: u8) -> Credential {
        Credential {
            card,
            doors,
            valid_from: 0,
            valid_until: None,
            pin: None,
        }
    }

    #[test]
    fn slot_diff_finds_each_kind() {
        let expected = [(0, c(1, 1)), (1, c(2, 1)), (3, c(4, 1))];
        let found = [(0, c(1, 1)), (1, c(2, 3)), (2, c(9, 1))];
        assert_eq!(
            diff_by_slot(&expected, &found),
            vec![
                SlotDrift::Different {
                    slot: 1,
                    expected: c(2, 1),
                    found: c(2, 3)
                },
                SlotDrift::Unexpected {
                    slot: 2,
                    found: c(9, 1)
                },
                SlotDrift::Missing {
                    slot: 3,
                    expected: c(4, 1)
                },
            ]
        );
        assert!(diff_by_slot(&expected, &expected).is_empty());
    }

    #[test]
    fn card_diff_ignores_slot_numbers() {
        let expected = [(10, c(1, 1)), (11, c(2, 1))];
        let found = [(0, c(2, 1)), (1, c(1, 1)), (2, c(7, 1))];
        assert_eq!(
            diff_by_card(&expected, &found),
            vec![SlotDrift::Unexpected {
                slot: 2,
                found: c(7, 1)
            }]
        );
        let drift = diff_by_card(&expected, &[]);
        assert_eq!(
            drift.iter().map(SlotDrift::slot).collect::<Vec<_>>(),
            [10, 11]
        );
        assert_eq!(drift[0].expected(), Some(&c(1, 1)));
    }
}
