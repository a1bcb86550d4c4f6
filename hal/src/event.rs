//! Things a controller reports on its own, not in answer to a request: for the activity log,
//! for enrollment (unknown swipes) and for replay (a device that rejoined).

/// An unsolicited report from a device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// The device (re)joined the broker. It keeps its stored table, but anything sent while it
    /// was away is lost (clean session): verify it and replay what it missed.
    Booted { ip: String, hostname: String },
    /// Periodic sign of life.
    Heartbeat { ip: String, hostname: String },
    /// A card (or PIN) was presented at a reader.
    Access {
        /// The uid mapped to a card number; `None` if it does not parse in the configured
        /// format.
        card: Option<u64>,
        /// The uid exactly as the reader reported it.
        uid: String,
        /// Whether the device has a record for the uid (false: enrollment candidate).
        known: bool,
        /// Whether a door opened.
        granted: bool,
        /// The device's verdict, e.g. `Always`, `Denied`, `Expired` (per relay, comma-joined).
        access: String,
        username: String,
        hostname: String,
    },
    /// The device cannot be driven, e.g. unsupported firmware.
    Unsupported { reason: String },
}
