//! `lintel-hal`: talks to door controllers. It knows credential tables, slots, doors as bits and
//! validity windows as Unix seconds — never residents, sources or storage.
//!
//! Cargo features:
//! - `sim` (off by default): [`sim`], simulated controllers for the Modbus register profile
//!   (TCP, and RTU on a pseudo-terminal or serial port) and for MQTT devices (an esp-rfid 2.x
//!   board, a lintel-mqtt controller). The `lintel` binary enables it for `lintel sim` and
//!   `lintel demo`; this crate's own tests enable it through a dev-dependency on itself.

pub mod drift;
pub mod error;
mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod modbus;
pub mod mqtt;
pub mod profile;
#[cfg(feature = "sim")]
pub mod sim;

pub use drift::{Check, Drift, SlotDrift};
pub use error::{BatchError, Error, ErrorKind};
pub use event::DeviceEvent;
pub use profile::{RegisterProfile, WordOrder};

use async_trait::async_trait;

/// One entry of a controller's credential table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    /// Card number as the reader reports it. 64 bits so Wiegand 37-bit numbers and 7-byte
    /// UIDs fit; a register profile with fewer card bits refuses a card that does not fit.
    pub card: u64,
    /// Bit i set = door/relay i of this controller opens.
    pub doors: u8,
    /// Unix seconds; the controller refuses the card before this instant.
    pub valid_from: u32,
    /// Unix seconds; `None` = no end.
    pub valid_until: Option<u32>,
    /// Optional PIN (0–9999 in the default profile).
    pub pin: Option<u16>,
}

/// What to do to one slot of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    /// Write the credential into the slot (grant or update).
    Grant(Credential),
    /// Clear the slot that held `card`.
    Revoke { card: u64 },
}

impl Change {
    pub fn card(&self) -> u64 {
        match self {
            Change::Grant(c) => c.card,
            Change::Revoke { card } => *card,
        }
    }

    pub fn is_revoke(&self) -> bool {
        matches!(self, Change::Revoke { .. })
    }
}

/// A change addressed to a slot. Slot allocation belongs to the caller (it owns the store);
/// drivers keyed by card rather than slot ignore `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Op {
    pub slot: u16,
    pub change: Change,
}

/// What a controller says about itself when probed. A field is `None` where the device's
/// protocol has no such thing (an esp-rfid board has no slot count, generation or digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    /// Number of credential slots the device has.
    pub slots: Option<u16>,
    /// Table generation counter the device currently holds.
    pub generation: Option<u32>,
    /// Table digest the device reports (CRC-32 over its slots).
    pub checksum: Option<u32>,
    /// Who answered, where the protocol says: e.g. an esp-rfid board's IP and hostname.
    pub peer: Option<String>,
}

/// A door controller holding a credential table.
#[async_trait]
pub trait Controller: Send {
    /// Applies `ops` in the given order. Returns only when the device confirmed every one; on
    /// failure [`BatchError::applied`] says how many leading ops the device confirmed.
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError>;

    /// Reads back the whole table: the slots in use, with their credentials.
    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error>;

    /// Checks the device answers and speaks the expected profile.
    async fn probe(&mut self) -> Result<DeviceInfo, Error>;

    /// Compares the device's table with `expected` (every slot in use and its credential; slots
    /// not listed are expected empty). Drivers with a table digest compare that first and read
    /// the table only on mismatch. Drivers keyed by card match entries by card and ignore the
    /// expected slot numbers except to report them.
    async fn verify(&mut self, expected: &[(u16, Credential)]) -> Result<Drift, Error>;

    /// Marks the end of an update: the caller has nothing more queued for this device. Drivers
    /// whose devices hear of finished updates say so here, once after a run of batches rather
    /// than after each (Modbus: the generation bump). A no-op for the others.
    async fn finish_update(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Unsolicited device reports (boots, swipes), for drivers whose devices send them.
    fn events(&self) -> Option<tokio::sync::broadcast::Receiver<DeviceEvent>> {
        None
    }
}
