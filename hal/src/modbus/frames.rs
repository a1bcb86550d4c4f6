//! Turns a batch of ops into FC16 frames: contiguous ascending slots share a frame, no slot is
//! split across frames, and the batch order is kept.

use crate::{Change, Error, ErrorKind, Op, RegisterProfile};

/// One FC16 write carrying ops `first..first + count` of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub first: usize,
    pub count: usize,
    pub address: u16,
    pub values: Vec<u16>,
}

/// The frames for the leading valid ops, and the first invalid op (index and why) if any.
#[derive(Debug)]
pub(crate) struct Plan {
    pub frames: Vec<Frame>,
    pub stop: Option<(usize, Error)>,
}

fn check(profile: &RegisterProfile, op: &Op, device_slots: u16) -> Result<u16, Error> {
    if op.slot >= device_slots {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "slot {} (card {}) is beyond the device's table of {device_slots} slots",
                op.slot,
                op.change.card()
            ),
        ));
    }
    if let Change::Grant(c) = &op.change {
        profile.check_credential(c)?;
    }
    profile.slot_address(op.slot)
}

pub(crate) fn plan(profile: &RegisterProfile, ops: &[Op], device_slots: u16) -> Plan {
    let per_frame = usize::from(profile.slots_per_write());
    let mut frames: Vec<Frame> = Vec::new();
    let mut prev_slot: Option<u16> = None;
    for (i, op) in ops.iter().enumerate() {
        let address = match check(profile, op, device_slots) {
            Ok(address) => address,
            Err(e) => {
                return Plan {
                    frames,
                    stop: Some((i, e)),
                };
            }
        };
        let values = match &op.change {
            Change::Grant(c) => profile.encode_slot(Some(c)),
            Change::Revoke { .. } => profile.encode_slot(None),
        };
        let follows = prev_slot.and_then(|p| p.checked_add(1)) == Some(op.slot);
        match frames.last_mut() {
            Some(frame) if follows && frame.count < per_frame => {
                frame.count += 1;
                frame.values.extend(values);
            }
            _ => frames.push(Frame {
                first: i,
                count: 1,
                address,
                values,
            }),
        }
        prev_slot = Some(op.slot);
    }
    Plan { frames, stop: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;

    fn grant(slot: u16) -> Op {
        Op {
            slot,
            change: Change::Grant(Credential {
                card: u64::from(slot) + 1000,
                doors: 1,
                valid_from: 0,
                valid_until: None,
                pin: None,
            }),
        }
    }

    fn revoke(slot: u16) -> Op {
        Op {
            slot,
            change: Change::Revoke { card: 1 },
        }
    }

    fn shape(plan: &Plan) -> Vec<(usize, usize, u16, usize)> {
        plan.frames
            .iter()
            .map(|f| (f.first, f.count, f.address, f.values.len()))
            .collect()
    }

    #[test]
    fn contiguous_slots_coalesce_up_to_the_frame_limit() {
        let p = RegisterProfile::default();
        let ops: Vec<Op> = (0..40).map(grant).collect();
        let plan = plan(&p, &ops, 100);
        assert!(plan.stop.is_none());
        assert_eq!(
            shape(&plan),
            vec![(0, 15, 16, 120), (15, 15, 136, 120), (30, 10, 256, 80)]
        );
    }

    #[test]
    fn gaps_and_order_break_frames() {
        let p = RegisterProfile::default();
        let ops = [revoke(5), grant(6), grant(8), grant(7), grant(8)];
        let plan = plan(&p, &ops, 100);
        assert_eq!(
            shape(&plan),
            vec![(0, 2, 56, 16), (2, 1, 80, 8), (3, 2, 72, 16)]
        );
        assert_eq!(plan.frames[0].values[..8], [0; 8]);
    }

    #[test]
    fn stops_at_the_first_slot_beyond_the_device() {
        let p = RegisterProfile::default();
        let ops = [grant(0), grant(1), grant(10), grant(2)];
        let plan = plan(&p, &ops, 10);
        assert_eq!(shape(&plan), vec![(0, 2, 16, 16)]);
        let (at, err) = plan.stop.expect("slot 10 is beyond 10 slots");
        assert_eq!(at, 2);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("slot 10"), "{err}");
    }
}
