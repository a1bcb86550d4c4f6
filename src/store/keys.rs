//! Key layouts. Composite keys start with the controller name and a NUL so one controller's
//! entries are one prefix scan; numbers are big-endian so byte order is numeric order.

/// Outbox priority byte: revocations sort before grants.
pub const REVOKE: u8 = 0;
pub const GRANT: u8 = 1;

pub fn controller_prefix(controller: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(controller.len() + 1);
    k.extend_from_slice(controller.as_bytes());
    k.push(0);
    k
}

pub fn card(card: u64) -> [u8; 8] {
    card.to_be_bytes()
}

pub fn acked(controller: &str, card: u64) -> Vec<u8> {
    let mut k = controller_prefix(controller);
    k.extend_from_slice(&card.to_be_bytes());
    k
}

pub fn outbox(controller: &str, priority: u8, card: u64) -> Vec<u8> {
    let mut k = controller_prefix(controller);
    k.push(priority);
    k.extend_from_slice(&card.to_be_bytes());
    k
}

pub fn slot_by_card(controller: &str, card: u64) -> Vec<u8> {
    let mut k = controller_prefix(controller);
    k.push(b'c');
    k.extend_from_slice(&card.to_be_bytes());
    k
}

pub fn card_by_slot(controller: &str, slot: u16) -> Vec<u8> {
    let mut k = controller_prefix(controller);
    k.push(b's');
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

pub fn slot_prefix(controller: &str) -> Vec<u8> {
    let mut k = controller_prefix(controller);
    k.push(b's');
    k
}

pub fn external(source: &str, external_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + external_id.len() + 1);
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(external_id.as_bytes());
    k
}

pub fn u16_from(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(
        bytes.get(bytes.len().checked_sub(2)?..)?.try_into().ok()?,
    ))
}

pub fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(
        bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?,
    ))
}
