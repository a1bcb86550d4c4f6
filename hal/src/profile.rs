//! The credential register profile, described as data so each controller model can be matched in
//! config instead of in code. `docs/registers.md` is the device-side contract for the defaults.

use crate::{Credential, Error, ErrorKind};

/// Magic value at header +0: ASCII "AC".
pub const MAGIC: u16 = 0x4143;
/// Profile version at header +1 this crate speaks.
pub const PROFILE_VERSION: u16 = 1;
/// Registers in the header block.
pub const HEADER_LEN: u16 = 10;

// Header field offsets from `header_base`. Fixed: the header is how a gateway recognises a
// device before it knows anything else about it, so it cannot itself be configurable.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_SLOTS: usize = 2;
const H_SLOT_REGISTERS: usize = 3;
/// Offset of the table generation (u32) from `header_base`.
pub const H_GENERATION: u16 = 4;
/// Offset of the slot CRC (u32) from `header_base`.
pub const H_CHECKSUM: u16 = 6;
const H_COMMAND: usize = 8;
const H_STATUS: usize = 9;

/// Flags register bits.
pub const FLAG_IN_USE: u16 = 1 << 0;
pub const FLAG_ENABLED: u16 = 1 << 1;
pub const FLAG_HAS_PIN: u16 = 1 << 3;

/// Encoding of "no end" in `valid_until`.
pub const NO_END: u32 = u32::MAX;
/// Encoding of "no PIN" in the PIN register.
pub const NO_PIN: u16 = u16::MAX;

/// Card field widths a profile may choose: 32 bits covers 26/34-bit Wiegand and 4-byte UIDs, 64
/// bits covers 37-bit Wiegand and 7-byte UIDs.
pub const MIN_CARD_REGISTERS: u16 = 2;
pub const MAX_CARD_REGISTERS: u16 = 4;

/// Protocol ceilings from the Modbus application protocol spec.
pub const FC16_MAX_REGISTERS: u16 = 123;
pub const FC03_MAX_REGISTERS: u16 = 125;

/// How a value wider than 16 bits is split over consecutive registers (bytes inside a register
/// are always big-endian, as the wire demands).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    /// Most significant word at the lowest address ("ABCD" for a u32).
    #[default]
    HighFirst,
    /// Least significant word at the lowest address ("CDAB" for a u32), common on PLCs.
    LowFirst,
}

impl WordOrder {
    /// Writes the low `16 · words.len()` bits of `value` into `words` (at most 4 words); higher
    /// bits are dropped, so callers check the value fits first.
    pub fn put(self, value: u64, words: &mut [u16]) {
        let n = words.len();
        for (i, word) in words.iter_mut().enumerate() {
            // i-th word from the lowest address; `significance` counts from the least significant.
            let significance = match self {
                WordOrder::HighFirst => n - 1 - i,
                WordOrder::LowFirst => i,
            };
            *word = value.checked_shr(16 * significance as u32).unwrap_or(0) as u16;
        }
    }

    /// Joins up to 4 words back into the value [`Self::put`] wrote.
    pub fn get(self, words: &[u16]) -> u64 {
        let n = words.len();
        words.iter().enumerate().fold(0u64, |acc, (i, word)| {
            let significance = match self {
                WordOrder::HighFirst => n - 1 - i,
                WordOrder::LowFirst => i,
            };
            acc | u64::from(*word)
                .checked_shl(16 * significance as u32)
                .unwrap_or(0)
        })
    }

    pub fn split(self, value: u32) -> [u16; 2] {
        let mut words = [0; 2];
        self.put(u64::from(value), &mut words);
        words
    }

    pub fn join(self, words: [u16; 2]) -> u32 {
        // Two words hold exactly 32 bits.
        self.get(&words) as u32
    }
}

/// Where and how a controller keeps its credential table. Every field has lintel's default, so
/// a config only names what its controller model does differently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterProfile {
    /// Address of the header block (magic, version, counts, generation, CRC).
    pub header_base: u16,
    /// Address of slot 0.
    pub slots_base: u16,
    /// Registers per slot.
    pub slot_registers: u16,
    /// Offset in the slot of the flags register (bit0 in use, bit1 enabled, bit3 has PIN, high
    /// byte door mask).
    pub flags_offset: u16,
    /// Offset of the card number.
    pub card_offset: u16,
    /// Registers the card number spans (2–4: 32, 48 or 64 bits).
    pub card_registers: u16,
    /// Offset of valid_from (u32 Unix seconds).
    pub valid_from_offset: u16,
    /// Offset of valid_until (u32 Unix seconds, `0xFFFFFFFF` = no end).
    pub valid_until_offset: u16,
    /// Offset of the PIN register (`0xFFFF` = none).
    pub pin_offset: u16,
    /// Word order of every u32 in the header and the slots.
    pub word_order: WordOrder,
    /// Largest FC16 write the device accepts (protocol limit 123).
    pub max_write_registers: u16,
    /// Largest FC03 read the device answers (protocol limit 125).
    pub max_read_registers: u16,
    /// Largest PIN the device's keypad can enter.
    pub max_pin: u16,
}

impl Default for RegisterProfile {
    fn default() -> Self {
        RegisterProfile {
            header_base: 0,
            slots_base: 16,
            slot_registers: 8,
            flags_offset: 0,
            card_offset: 1,
            card_registers: 2,
            valid_from_offset: 3,
            valid_until_offset: 5,
            pin_offset: 7,
            word_order: WordOrder::HighFirst,
            // 15 slots of 8: the largest slot-aligned frame under the 123-register limit.
            max_write_registers: 120,
            max_read_registers: FC03_MAX_REGISTERS,
            max_pin: 9999,
        }
    }
}

/// The header block as read from or written to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub magic: u16,
    pub version: u16,
    pub slots: u16,
    pub slot_registers: u16,
    pub generation: u32,
    pub checksum: u32,
    pub command: u16,
    pub status: u16,
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

/// CRC-32/ISO-HDLC (what `crc32fast` computes) over registers as big-endian bytes, in order.
pub fn registers_checksum(registers: &[u16]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for r in registers {
        hasher.update(&r.to_be_bytes());
    }
    hasher.finalize()
}

impl RegisterProfile {
    /// (name, offset, width in registers) of every slot field.
    fn fields(&self) -> [(&'static str, u16, u16); 5] {
        [
            ("flags_offset", self.flags_offset, 1),
            ("card_offset", self.card_offset, self.card_registers),
            ("valid_from_offset", self.valid_from_offset, 2),
            ("valid_until_offset", self.valid_until_offset, 2),
            ("pin_offset", self.pin_offset, 1),
        ]
    }

    /// Checks the profile is self-consistent and within Modbus limits; the error names the field.
    pub fn validate(&self) -> Result<(), Error> {
        if self.slot_registers == 0 {
            return Err(config("slot_registers must be at least 1".into()));
        }
        if !(MIN_CARD_REGISTERS..=MAX_CARD_REGISTERS).contains(&self.card_registers) {
            return Err(config(format!(
                "card_registers = {} is outside {MIN_CARD_REGISTERS}–{MAX_CARD_REGISTERS} \
                 (32 to 64 card bits)",
                self.card_registers
            )));
        }
        let fields = self.fields();
        for (name, offset, width) in fields {
            if u32::from(offset) + u32::from(width) > u32::from(self.slot_registers) {
                let need = if width > 1 {
                    format!(
                        "registers {offset}–{}",
                        u32::from(offset) + u32::from(width) - 1
                    )
                } else {
                    format!("register {offset}")
                };
                return Err(config(format!(
                    "{name} = {offset} puts the field at slot {need}, outside the slot of \
                     {} registers (slot_registers){}",
                    self.slot_registers,
                    if width > 1 {
                        format!("; the field needs {width} registers")
                    } else {
                        String::new()
                    }
                )));
            }
        }
        for (i, (a_name, a_off, a_width)) in fields.iter().enumerate() {
            for (b_name, b_off, b_width) in &fields[i + 1..] {
                if a_off < &(b_off + b_width) && b_off < &(a_off + a_width) {
                    return Err(config(format!(
                        "{a_name} = {a_off} and {b_name} = {b_off} overlap inside the slot"
                    )));
                }
            }
        }
        if u32::from(self.header_base) + u32::from(HEADER_LEN) > u32::from(self.slots_base) {
            return Err(config(format!(
                "slots_base = {} must come after the {HEADER_LEN}-register header at \
                 header_base = {}",
                self.slots_base, self.header_base
            )));
        }
        if self.max_write_registers > FC16_MAX_REGISTERS {
            return Err(config(format!(
                "max_write_registers = {} exceeds the Modbus FC16 limit of {FC16_MAX_REGISTERS}",
                self.max_write_registers
            )));
        }
        if self.max_write_registers < self.slot_registers {
            return Err(config(format!(
                "max_write_registers = {} is smaller than one slot ({} registers); each slot \
                 must fit in one write",
                self.max_write_registers, self.slot_registers
            )));
        }
        if self.max_read_registers > FC03_MAX_REGISTERS {
            return Err(config(format!(
                "max_read_registers = {} exceeds the Modbus FC03 limit of {FC03_MAX_REGISTERS}",
                self.max_read_registers
            )));
        }
        let min_read = self.slot_registers.max(HEADER_LEN);
        if self.max_read_registers < min_read {
            return Err(config(format!(
                "max_read_registers = {} must be at least {min_read} (one slot and the header \
                 are each read in one request)",
                self.max_read_registers
            )));
        }
        if self.max_pin == NO_PIN {
            return Err(config(format!(
                "max_pin = {} collides with {NO_PIN:#06X}, which encodes \"no PIN\"",
                self.max_pin
            )));
        }
        Ok(())
    }

    /// Slots per FC16 frame, never splitting a slot.
    pub fn slots_per_write(&self) -> u16 {
        (self.max_write_registers / self.slot_registers).max(1)
    }

    /// Slots per FC03 read, never splitting a slot.
    pub fn slots_per_read(&self) -> u16 {
        (self.max_read_registers / self.slot_registers).max(1)
    }

    /// Address of the first register of `slot`; errors if any register of the slot would lie
    /// beyond the 16-bit address space.
    pub fn slot_address(&self, slot: u16) -> Result<u16, Error> {
        let start = u32::from(self.slots_base) + u32::from(slot) * u32::from(self.slot_registers);
        let last = start + u32::from(self.slot_registers) - 1;
        if last > u32::from(u16::MAX) {
            return Err(config(format!(
                "slot {slot} would end at register {last}, beyond the Modbus address space"
            )));
        }
        u16::try_from(start).map_err(|_| config(format!("slot {slot} is not addressable")))
    }

    /// Address of the generation register pair.
    pub fn generation_address(&self) -> u16 {
        // validate() guarantees header_base + HEADER_LEN fits below slots_base.
        self.header_base.saturating_add(H_GENERATION)
    }

    /// Bits the card field holds.
    pub fn card_bits(&self) -> u32 {
        16 * u32::from(self.card_registers)
    }

    /// Checks a credential can be written without being read back as something else.
    pub fn check_credential(&self, credential: &Credential) -> Result<(), Error> {
        let bits = self.card_bits();
        if credential.card.checked_shr(bits).unwrap_or(0) != 0 {
            return Err(Error::new(
                ErrorKind::Rejected,
                format!(
                    "card {} ({:#x}) does not fit the profile's {bits}-bit card field \
                     (card_registers = {})",
                    credential.card, credential.card, self.card_registers
                ),
            ));
        }
        if credential.valid_until == Some(NO_END) {
            return Err(Error::new(
                ErrorKind::Rejected,
                format!(
                    "card {}: valid_until {NO_END:#010X} is reserved for \"no end\"",
                    credential.card
                ),
            ));
        }
        match credential.pin {
            Some(pin) if pin > self.max_pin => Err(Error::new(
                ErrorKind::Rejected,
                format!(
                    "card {}: PIN {pin} is above the profile's max_pin {}",
                    credential.card, self.max_pin
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Registers of one slot; `None` is a cleared slot (all zero).
    pub fn encode_slot(&self, credential: Option<&Credential>) -> Vec<u16> {
        let mut regs = vec![0u16; usize::from(self.slot_registers)];
        let Some(c) = credential else {
            return regs;
        };
        let mut flags = FLAG_IN_USE | FLAG_ENABLED | (u16::from(c.doors) << 8);
        if c.pin.is_some() {
            flags |= FLAG_HAS_PIN;
        }
        self.put_u16(&mut regs, self.flags_offset, flags);
        self.word_order.put(c.card, &mut regs[self.card_range()]);
        self.put_u32(&mut regs, self.valid_from_offset, c.valid_from);
        self.put_u32(
            &mut regs,
            self.valid_until_offset,
            c.valid_until.unwrap_or(NO_END),
        );
        self.put_u16(&mut regs, self.pin_offset, c.pin.unwrap_or(NO_PIN));
        regs
    }

    /// Reads one slot back. A slot not in use is `None`; a slot in use but not enabled decodes
    /// with no doors, since that is what it opens.
    pub fn decode_slot(&self, regs: &[u16]) -> Result<Option<Credential>, Error> {
        if regs.len() != usize::from(self.slot_registers) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "slot has {} registers, the profile expects {}",
                    regs.len(),
                    self.slot_registers
                ),
            ));
        }
        let flags = self.get_u16(regs, self.flags_offset);
        if flags & FLAG_IN_USE == 0 {
            return Ok(None);
        }
        let doors = if flags & FLAG_ENABLED != 0 {
            (flags >> 8) as u8
        } else {
            0
        };
        let card = self.word_order.get(&regs[self.card_range()]);
        let pin = match (
            flags & FLAG_HAS_PIN != 0,
            self.get_u16(regs, self.pin_offset),
        ) {
            (false, _) => None,
            (true, NO_PIN) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("card {card}: has-PIN flag set but the PIN register holds 0xFFFF"),
                ));
            }
            (true, pin) => Some(pin),
        };
        let valid_until =
            Some(self.get_u32(regs, self.valid_until_offset)).filter(|v| *v != NO_END);
        Ok(Some(Credential {
            card,
            doors,
            valid_from: self.get_u32(regs, self.valid_from_offset),
            valid_until,
            pin,
        }))
    }

    /// The generation value as the two registers written at [`Self::generation_address`].
    pub fn encode_generation(&self, generation: u32) -> [u16; 2] {
        self.word_order.split(generation)
    }

    /// The header block as registers from `header_base`.
    pub fn encode_header(&self, h: &Header) -> Vec<u16> {
        let mut regs = vec![0u16; usize::from(HEADER_LEN)];
        regs[H_MAGIC] = h.magic;
        regs[H_VERSION] = h.version;
        regs[H_SLOTS] = h.slots;
        regs[H_SLOT_REGISTERS] = h.slot_registers;
        let (g, c) = (usize::from(H_GENERATION), usize::from(H_CHECKSUM));
        regs[g..g + 2].copy_from_slice(&self.word_order.split(h.generation));
        regs[c..c + 2].copy_from_slice(&self.word_order.split(h.checksum));
        regs[H_COMMAND] = h.command;
        regs[H_STATUS] = h.status;
        regs
    }

    /// Parses the header block without judging it (see [`Self::check_header`]).
    pub fn decode_header(&self, regs: &[u16]) -> Result<Header, Error> {
        if regs.len() != usize::from(HEADER_LEN) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("header has {} registers, expected {HEADER_LEN}", regs.len()),
            ));
        }
        let (g, c) = (usize::from(H_GENERATION), usize::from(H_CHECKSUM));
        Ok(Header {
            magic: regs[H_MAGIC],
            version: regs[H_VERSION],
            slots: regs[H_SLOTS],
            slot_registers: regs[H_SLOT_REGISTERS],
            generation: self.word_order.join([regs[g], regs[g + 1]]),
            checksum: self.word_order.join([regs[c], regs[c + 1]]),
            command: regs[H_COMMAND],
            status: regs[H_STATUS],
        })
    }

    /// Checks a device's header matches this profile.
    pub fn check_header(&self, h: &Header) -> Result<(), Error> {
        let base = self.header_base;
        if h.magic != MAGIC {
            return Err(config(format!(
                "expected magic {MAGIC:#06X} at register {base}, found {:#06X}: not a lintel \
                 credential table, or header_base is wrong",
                h.magic
            )));
        }
        if h.version != PROFILE_VERSION {
            return Err(config(format!(
                "expected profile version {PROFILE_VERSION} at register {}, found {}",
                u32::from(base) + 1,
                h.version
            )));
        }
        if h.slot_registers != self.slot_registers {
            return Err(config(format!(
                "expected {} registers per slot (slot_registers), the device reports {} at \
                 register {}",
                self.slot_registers,
                h.slot_registers,
                u32::from(base) + 3
            )));
        }
        if h.slots > 0 {
            self.slot_address(h.slots - 1).map_err(|_| {
                config(format!(
                    "the device reports {} slots, which do not fit in the address space from \
                     slots_base = {}",
                    h.slots, self.slots_base
                ))
            })?;
        }
        Ok(())
    }

    /// The CRC a device holding exactly `table` in `slots` slots reports, so a caller can verify
    /// a device without reading every slot.
    pub fn table_checksum<'a>(
        &self,
        slots: u16,
        table: impl IntoIterator<Item = (u16, &'a Credential)>,
    ) -> Result<u32, Error> {
        let width = usize::from(self.slot_registers);
        let mut regs = vec![0u16; usize::from(slots) * width];
        for (slot, credential) in table {
            if slot >= slots {
                return Err(config(format!(
                    "slot {slot} is beyond the table of {slots} slots"
                )));
            }
            let at = usize::from(slot) * width;
            regs[at..at + width].copy_from_slice(&self.encode_slot(Some(credential)));
        }
        Ok(registers_checksum(&regs))
    }

    fn card_range(&self) -> std::ops::Range<usize> {
        let at = usize::from(self.card_offset);
        at..at + usize::from(self.card_registers)
    }

    fn put_u16(&self, regs: &mut [u16], offset: u16, value: u16) {
        regs[usize::from(offset)] = value;
    }

    fn put_u32(&self, regs: &mut [u16], offset: u16, value: u32) {
        let at = usize::from(offset);
        regs[at..at + 2].copy_from_slice(&self.word_order.split(value));
    }

    fn get_u16(&self, regs: &[u16], offset: u16) -> u16 {
        regs[usize::from(offset)]
    }

    fn get_u32(&self, regs: &[u16], offset: u16) -> u32 {
        let at = usize::from(offset);
        self.word_order.join([regs[at], regs[at + 1]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn credential() -> impl Strategy<Value = Credential> {
        (
            any::<u32>().prop_map(u64::from),
            any::<u8>(),
            any::<u32>(),
            proptest::option::of(0..NO_END),
            proptest::option::of(0..=9999u16),
        )
            .prop_map(|(card, doors, valid_from, valid_until, pin)| Credential {
                card,
                doors,
                valid_from,
                valid_until,
                pin,
            })
    }

    fn word_order() -> impl Strategy<Value = WordOrder> {
        prop_oneof![Just(WordOrder::HighFirst), Just(WordOrder::LowFirst)]
    }

    proptest! {
        #[test]
        fn slot_round_trips(c in credential(), order in word_order()) {
            let profile = RegisterProfile { word_order: order, ..RegisterProfile::default() };
            profile.check_credential(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let regs = profile.encode_slot(Some(&c));
            prop_assert_eq!(regs.len(), 8);
            prop_assert_eq!(profile.decode_slot(&regs).ok(), Some(Some(c)));
        }

        #[test]
        fn wide_cards_round_trip(
            c in credential(),
            card in any::<u64>(),
            card_registers in MIN_CARD_REGISTERS..=MAX_CARD_REGISTERS,
            order in word_order(),
        ) {
            let profile = wide(card_registers, order);
            let card = card >> (64 - 16 * u32::from(card_registers));
            let c = Credential { card, ..c };
            profile.check_credential(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let regs = profile.encode_slot(Some(&c));
            prop_assert_eq!(profile.decode_slot(&regs).ok(), Some(Some(c)));
        }

        #[test]
        fn words_round_trip(value in any::<u64>(), n in 1usize..=4, order in word_order()) {
            let value = value >> (64 - 16 * n);
            let mut words = vec![0; n];
            order.put(value, &mut words);
            prop_assert_eq!(order.get(&words), value);
        }

        #[test]
        fn header_round_trips(
            slots in any::<u16>(),
            generation in any::<u32>(),
            checksum in any::<u32>(),
            order in word_order(),
        ) {
            let profile = RegisterProfile { word_order: order, ..RegisterProfile::default() };
            let h = Header {
                magic: MAGIC, version: PROFILE_VERSION, slots, slot_registers: 8,
                generation, checksum, command: 0, status: 0,
            };
            prop_assert_eq!(profile.decode_header(&profile.encode_header(&h)).ok(), Some(h));
        }

        #[test]
        fn decode_never_panics(regs in proptest::collection::vec(any::<u16>(), 0..12)) {
            let _ = RegisterProfile::default().decode_slot(&regs);
        }
    }

    /// A slot wide enough for `card_registers`: the fields after the card move up.
    fn wide(card_registers: u16, word_order: WordOrder) -> RegisterProfile {
        let extra = card_registers - 2;
        RegisterProfile {
            slot_registers: 8 + extra,
            card_registers,
            valid_from_offset: 3 + extra,
            valid_until_offset: 5 + extra,
            pin_offset: 7 + extra,
            word_order,
            ..RegisterProfile::default()
        }
    }

    #[test]
    fn wide_profiles_are_valid() {
        for n in MIN_CARD_REGISTERS..=MAX_CARD_REGISTERS {
            for order in [WordOrder::HighFirst, WordOrder::LowFirst] {
                assert!(
                    wide(n, order).validate().is_ok(),
                    "{n} registers, {order:?}"
                );
            }
        }
    }

    #[test]
    fn four_word_order_on_the_wire() {
        let mut words = [0; 4];
        WordOrder::HighFirst.put(0x0004_A1B2_C3D4_E5F6, &mut words);
        assert_eq!(words, [0x0004, 0xA1B2, 0xC3D4, 0xE5F6]);
        WordOrder::LowFirst.put(0x0004_A1B2_C3D4_E5F6, &mut words);
        assert_eq!(words, [0xE5F6, 0xC3D4, 0xA1B2, 0x0004]);
        let mut three = [0; 3];
        WordOrder::LowFirst.put(0x0000_1234_5678_9ABC, &mut three);
        assert_eq!(three, [0x9ABC, 0x5678, 0x1234]);
    }

    #[test]
    fn seven_byte_uid_in_a_ten_register_slot() {
        let p = wide(4, WordOrder::HighFirst);
        let c = Credential {
            card: 0x0004_A1B2_C3D4_E5F6,
            doors: 1,
            valid_from: 0,
            valid_until: None,
            pin: None,
        };
        let regs = p.encode_slot(Some(&c));
        assert_eq!(
            regs,
            [
                0x0103, 0x0004, 0xA1B2, 0xC3D4, 0xE5F6, 0, 0, 0xFFFF, 0xFFFF, 0xFFFF
            ]
        );
    }

    #[test]
    fn card_too_wide_for_the_profile_is_rejected_naming_it() {
        let c = Credential {
            card: 0x1F_FFFF_FFFF, // a 37-bit Wiegand number
            doors: 1,
            valid_from: 0,
            valid_until: None,
            pin: None,
        };
        let err = RegisterProfile::default()
            .check_credential(&c)
            .expect_err("37 bits do not fit 32");
        assert_eq!(err.kind(), ErrorKind::Rejected);
        assert!(
            err.message().contains("137438953471") && err.message().contains("32-bit"),
            "{err}"
        );
        assert!(wide(3, WordOrder::HighFirst).check_credential(&c).is_ok());
        let max32 = Credential {
            card: u64::from(u32::MAX),
            ..c
        };
        assert!(RegisterProfile::default().check_credential(&max32).is_ok());
    }

    #[test]
    fn default_profile_is_valid() {
        assert!(RegisterProfile::default().validate().is_ok());
    }

    #[test]
    fn word_orders_differ_on_the_wire() {
        assert_eq!(WordOrder::HighFirst.split(0x1234_5678), [0x1234, 0x5678]);
        assert_eq!(WordOrder::LowFirst.split(0x1234_5678), [0x5678, 0x1234]);
    }

    #[test]
    fn default_slot_layout_matches_the_documented_one() {
        let c = Credential {
            card: 0x0001_0002,
            doors: 0b101,
            valid_from: 0x0003_0004,
            valid_until: None,
            pin: Some(1234),
        };
        let regs = RegisterProfile::default().encode_slot(Some(&c));
        assert_eq!(regs, vec![0x050B, 1, 2, 3, 4, 0xFFFF, 0xFFFF, 1234]);
        assert_eq!(RegisterProfile::default().encode_slot(None), vec![0; 8]);
    }

    #[test]
    fn cleared_and_disabled_slots() {
        let p = RegisterProfile::default();
        assert_eq!(p.decode_slot(&[0; 8]).ok(), Some(None));
        let disabled = p
            .decode_slot(&[0x0301, 0, 7, 0, 0, 0xFFFF, 0xFFFF, 0xFFFF])
            .ok()
            .flatten()
            .map(|c| (c.card, c.doors));
        assert_eq!(disabled, Some((7, 0)));
        let bad_pin = p.decode_slot(&[0x0109, 0, 7, 0, 0, 0, 0, 0xFFFF]);
        assert_eq!(bad_pin.err().map(|e| e.kind()), Some(ErrorKind::Protocol));
        let short = p.decode_slot(&[1, 2]);
        assert_eq!(short.err().map(|e| e.kind()), Some(ErrorKind::Protocol));
    }

    fn invalid(p: RegisterProfile) -> String {
        p.validate()
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn validate_names_the_bad_field() {
        let d = RegisterProfile::default;
        assert!(
            invalid(RegisterProfile {
                pin_offset: 8,
                ..d()
            })
            .contains("pin_offset")
        );
        let msg = invalid(RegisterProfile {
            valid_until_offset: 7,
            pin_offset: 4,
            ..d()
        });
        assert!(
            msg.contains("valid_until_offset") && msg.contains("needs 2 registers"),
            "{msg}"
        );
        assert!(
            invalid(RegisterProfile {
                card_offset: 2,
                ..d()
            })
            .contains("overlap")
        );
        assert!(
            invalid(RegisterProfile {
                max_write_registers: 124,
                ..d()
            })
            .contains("max_write_registers")
        );
        assert!(
            invalid(RegisterProfile {
                max_read_registers: 126,
                ..d()
            })
            .contains("max_read_registers")
        );
        assert!(
            invalid(RegisterProfile {
                slots_base: 5,
                ..d()
            })
            .contains("slots_base")
        );
        assert!(
            invalid(RegisterProfile {
                max_pin: 0xFFFF,
                ..d()
            })
            .contains("max_pin")
        );
        for card_registers in [0, 1, 5] {
            assert!(
                invalid(RegisterProfile {
                    card_registers,
                    ..d()
                })
                .contains("card_registers"),
                "{card_registers}"
            );
        }
        let msg = invalid(RegisterProfile {
            card_registers: 3,
            ..d()
        });
        assert!(msg.contains("overlap"), "{msg}");
        let msg = invalid(RegisterProfile {
            card_registers: 4,
            card_offset: 5,
            valid_from_offset: 1,
            valid_until_offset: 3,
            pin_offset: 0,
            flags_offset: 7,
            ..d()
        });
        assert!(
            msg.contains("card_offset") && msg.contains("4 registers"),
            "{msg}"
        );
    }

    #[test]
    fn slot_address_checks_overflow() {
        let p = RegisterProfile::default();
        assert_eq!(p.slot_address(0).ok(), Some(16));
        assert_eq!(p.slot_address(2).ok(), Some(32));
        assert_eq!(p.slot_address(8189).ok(), Some(65528));
        assert!(p.slot_address(8190).is_err());
        assert!(p.slot_address(u16::MAX).is_err());
    }

    #[test]
    fn config_overrides_single_fields() {
        let p: RegisterProfile =
            serde_json::from_str(r#"{"word_order":"low_first","slot_registers":10}"#)
                .unwrap_or_default();
        assert_eq!(p.word_order, WordOrder::LowFirst);
        assert_eq!(p.slot_registers, 10);
        assert_eq!(p.pin_offset, 7);
        assert!(serde_json::from_str::<RegisterProfile>(r#"{"slot_size":10}"#).is_err());
    }

    #[test]
    fn documented_worked_example() {
        // docs/registers.md: slot 0 of two, the CRC a device must report.
        let p = RegisterProfile::default();
        let c = Credential {
            card: 0x00A1_B2C3,
            doors: 0b101,
            valid_from: 1_735_689_600,
            valid_until: None,
            pin: Some(1234),
        };
        let regs = p.encode_slot(Some(&c));
        assert_eq!(
            regs,
            [
                0x050B, 0x00A1, 0xB2C3, 0x6774, 0x8580, 0xFFFF, 0xFFFF, 0x04D2
            ]
        );
        assert_eq!(p.table_checksum(2, [(0, &c)]).ok(), Some(0x330E_4BA9));
        assert_eq!(registers_checksum(&[]), 0);
        assert_eq!(p.table_checksum(256, []).ok(), Some(0xC71C_0011));
    }

    #[test]
    fn table_checksum_matches_encoded_registers() {
        let p = RegisterProfile::default();
        let c = Credential {
            card: 9,
            doors: 1,
            valid_from: 0,
            valid_until: None,
            pin: None,
        };
        let mut regs = vec![0u16; 16];
        regs[8..].copy_from_slice(&p.encode_slot(Some(&c)));
        assert_eq!(
            p.table_checksum(2, [(1, &c)]).ok(),
            Some(registers_checksum(&regs))
        );
        assert!(p.table_checksum(2, [(2, &c)]).is_err());
    }
}
