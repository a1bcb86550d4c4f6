//! `lintel-hal`: talks to door controllers. It knows credential tables, slots, doors as bits and
//! validity windows as Unix seconds — never residents, sources or storage.

pub mod error;
pub mod modbus;
pub mod profile;
pub mod sim;

pub use error::{BatchError, Error, ErrorKind};
pub use profile::{RegisterProfile, WordOrder};

use async_trait::async_trait;

/// One entry of a controller's credential table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    /// Card number as the reader reports it.
    pub card: u32,
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
    Revoke { card: u32 },
}

impl Change {
    pub fn card(&self) -> u32 {
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

/// What a controller says about itself when probed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    /// Number of credential slots the device has.
    pub slots: u16,
    /// Table generation counter the device currently holds.
    pub generation: u32,
    /// CRC32 the device reports over its slot registers.
    pub checksum: u32,
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
}
