//! MQTT drivers: esp-rfid 2.x boards and lintel's own JSON profile, over rumqttc.

mod broker;
mod check;
pub mod esp_rfid;
pub(crate) mod link;
pub mod lintel;

pub use broker::{BrokerSettings, backoff};
pub use check::BrokerStage;
pub use esp_rfid::{EspRfid, EspRfidSettings, EspRfidState, UidFormat};
pub use lintel::{LintelMqtt, LintelMqttSettings, LintelMqttState};
