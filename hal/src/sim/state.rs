//! The simulated device's register memory: what a real controller's firmware would keep,
//! without any networking.

use tokio_modbus::ExceptionCode;

use crate::{
    Credential, DeviceInfo, Error, ErrorKind, RegisterProfile,
    profile::{H_CHECKSUM, H_GENERATION, Header, MAGIC, PROFILE_VERSION, registers_checksum},
};

pub(crate) struct Registers {
    profile: RegisterProfile,
    slots: u16,
    memory: Vec<u16>,
}

impl Registers {
    pub fn new(profile: RegisterProfile, slots: u16) -> Result<Self, Error> {
        profile.validate()?;
        let end = match slots.checked_sub(1) {
            Some(last) => {
                let at = profile.slot_address(last).map_err(|_| {
                    Error::new(
                        ErrorKind::Config,
                        format!("{slots} slots do not fit in the Modbus address space"),
                    )
                })?;
                usize::from(at) + usize::from(profile.slot_registers)
            }
            None => usize::from(profile.slots_base),
        };
        let mut registers = Registers {
            profile,
            slots,
            memory: vec![0; end],
        };
        registers.reset_header(0);
        Ok(registers)
    }

    fn slot_area(&self) -> std::ops::Range<usize> {
        usize::from(self.profile.slots_base)..self.memory.len()
    }

    /// A u32 the device keeps in its header, `offset` registers from `header_base`.
    fn header_u32(&self, offset: u16) -> u32 {
        let at = usize::from(self.profile.header_base) + usize::from(offset);
        self.profile
            .word_order
            .join([self.memory[at], self.memory[at + 1]])
    }

    fn reset_header(&mut self, generation: u32) {
        let header = Header {
            magic: MAGIC,
            version: PROFILE_VERSION,
            slots: self.slots,
            slot_registers: self.profile.slot_registers,
            generation,
            checksum: registers_checksum(&self.memory[self.slot_area()]),
            command: 0,
            status: 0,
        };
        let at = usize::from(self.profile.header_base);
        let regs = self.profile.encode_header(&header);
        self.memory[at..at + regs.len()].copy_from_slice(&regs);
    }

    fn range(&self, address: u16, count: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::from(address);
        let end = start.checked_add(count)?;
        (end <= self.memory.len()).then_some(start..end)
    }

    /// FC03. Reads may span the unused gap between header and slots, which reads as zero.
    pub fn read(&self, address: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        self.range(address, usize::from(count))
            .map(|r| self.memory[r].to_vec())
            .ok_or(ExceptionCode::IllegalDataAddress)
    }

    /// What a test sees: clamped to the memory instead of failing.
    pub fn peek(&self, address: u16, count: u16) -> Vec<u16> {
        let start = usize::from(address).min(self.memory.len());
        let end = (start + usize::from(count)).min(self.memory.len());
        self.memory[start..end].to_vec()
    }

    /// FC06/FC16. Only the generation pair and the slots are writable; everything else in the
    /// header is the device's to maintain.
    pub fn write(&mut self, address: u16, values: &[u16]) -> Result<(), ExceptionCode> {
        let range = self
            .range(address, values.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        let generation = usize::from(self.profile.generation_address());
        let generation = generation..generation + 2;
        let slots = self.slot_area();
        let inside =
            |outer: &std::ops::Range<usize>| range.start >= outer.start && range.end <= outer.end;
        if !inside(&generation) && !inside(&slots) {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let touches_slots = inside(&slots);
        self.memory[range].copy_from_slice(values);
        if touches_slots {
            self.reset_header(self.header_u32(H_GENERATION));
        }
        Ok(())
    }

    /// Overwrites registers as firmware or a technician might, bypassing the write rules but
    /// keeping the CRC current; what does not fit the memory is dropped.
    pub fn poke(&mut self, address: u16, values: &[u16]) {
        let start = usize::from(address).min(self.memory.len());
        let end = (start + values.len()).min(self.memory.len());
        self.memory[start..end].copy_from_slice(&values[..end - start]);
        self.reset_header(self.header_u32(H_GENERATION));
    }

    /// Slots in use, decoded; a slot a client filled with garbage is skipped and logged.
    pub fn table(&self) -> Vec<(u16, Credential)> {
        let width = usize::from(self.profile.slot_registers);
        self.memory[self.slot_area()]
            .chunks_exact(width)
            .zip(0u16..)
            .filter_map(|(regs, slot)| match self.profile.decode_slot(regs) {
                Ok(decoded) => decoded.map(|c| (slot, c)),
                Err(e) => {
                    tracing::warn!(slot, error = %e, "simulated slot does not decode");
                    None
                }
            })
            .collect()
    }

    pub fn info(&self) -> DeviceInfo {
        DeviceInfo {
            slots: Some(self.slots),
            generation: Some(self.header_u32(H_GENERATION)),
            checksum: Some(self.header_u32(H_CHECKSUM)),
            peer: None,
        }
    }

    /// A factory reset: empty table, generation 0.
    pub fn wipe(&mut self) {
        let slots = self.slot_area();
        self.memory[slots].fill(0);
        self.reset_header(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Registers {
        Registers::new(RegisterProfile::default(), 4).expect("valid")
    }

    #[test]
    fn header_describes_the_device() {
        let d = device();
        assert_eq!(d.read(0, 4), Ok(vec![MAGIC, PROFILE_VERSION, 4, 8]));
        assert_eq!(d.info().checksum, Some(registers_checksum(&[0; 32])));
    }

    #[test]
    fn writes_keep_the_checksum() {
        let mut d = device();
        assert_eq!(d.write(24, &[1, 0, 5]), Ok(()));
        let mut expected = vec![0u16; 32];
        expected[8..11].copy_from_slice(&[1, 0, 5]);
        assert_eq!(d.info().checksum, Some(registers_checksum(&expected)));
        assert_eq!(d.write(4, &[0, 7]), Ok(()));
        assert_eq!(d.info().generation, Some(7));
        assert_eq!(d.info().checksum, Some(registers_checksum(&expected)));
    }

    #[test]
    fn out_of_range_and_read_only_addresses() {
        let mut d = device();
        assert_eq!(d.read(40, 10), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(d.read(u16::MAX, 2), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(d.write(0, &[1]), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(d.write(6, &[1, 2]), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(d.write(12, &[0; 8]), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(d.write(44, &[0; 8]), Err(ExceptionCode::IllegalDataAddress));
    }
}
