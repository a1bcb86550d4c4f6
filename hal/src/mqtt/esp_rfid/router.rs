//! Runs on the connection task: turns what the board publishes into state, events, acks and
//! list entries, whether or not the driver is busy.

use rumqttc::{AsyncClient, Publish};
use serde_json::{Map, Value};
use tokio::{
    sync::{broadcast, mpsc, watch},
    time::Instant,
};

use super::{Ack, EspRfidState, Message, UidFormat, classify, is_legacy, message::joined};
use crate::{DeviceEvent, mqtt::link::Handler};

pub(super) struct Router {
    pub topic: String,
    pub send_topic: String,
    pub hostname: Option<String>,
    pub uid_format: UidFormat,
    pub state: watch::Sender<EspRfidState>,
    pub events: broadcast::Sender<DeviceEvent>,
    pub acks: mpsc::Sender<Ack>,
    pub list: mpsc::Sender<Map<String, Value>>,
}

impl Router {
    /// Messages naming another hostname belong to another board on a shared topic.
    fn foreign(&self, map: &Map<String, Value>) -> bool {
        let theirs = map
            .get("hostname")
            .or_else(|| map.get("Hostname"))
            .and_then(Value::as_str);
        matches!((&self.hostname, theirs), (Some(ours), Some(theirs)) if ours != theirs)
    }

    fn emit(&self, event: DeviceEvent) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    fn heard(&self, ip: Option<&str>, hostname: Option<&str>, boot: bool) {
        self.state.send_modify(|s| {
            if let Some(ip) = ip.filter(|ip| !ip.is_empty()) {
                s.ip = Some(ip.to_string());
            }
            if let Some(hostname) = hostname.filter(|h| !h.is_empty()) {
                s.hostname = Some(hostname.to_string());
            }
            s.last_seen = Some(Instant::now());
            if boot {
                s.boots += 1;
                s.unsupported = None;
            }
        });
    }

    fn access(&self, map: &Map<String, Value>) -> DeviceEvent {
        let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
        let uid = text("uid").to_string();
        let access = joined(map, "access");
        let granted = access.split(',').any(|a| matches!(a, "Always" | "Admin"));
        DeviceEvent::Access {
            card: self.uid_format.parse(uid.trim()),
            known: text("isKnown") == "true",
            granted,
            access,
            username: text("username").to_string(),
            hostname: text("hostname").to_string(),
            uid,
        }
    }
}

impl Handler for Router {
    fn connected(&mut self, _: &AsyncClient) {}

    fn publish(&mut self, _: &AsyncClient, publish: Publish) {
        let Ok(map) = serde_json::from_slice::<Map<String, Value>>(&publish.payload) else {
            tracing::debug!(topic = %publish.topic, "esp-rfid: payload is not a JSON object");
            return;
        };
        if self.foreign(&map) {
            return;
        }
        if publish.topic == self.topic {
            if is_legacy(&map) {
                let reason = format!(
                    "unsupported firmware 1.3.x on {}: it cannot receive credentials over \
                     MQTT; upgrade the board to esp-rfid 2.x",
                    self.topic
                );
                tracing::warn!(%reason, "esp-rfid");
                self.state.send_modify(|s| {
                    s.unsupported = Some(reason.clone());
                    s.last_seen = Some(Instant::now());
                });
                self.emit(DeviceEvent::Unsupported { reason });
            }
            return;
        }
        if publish.topic != self.send_topic {
            return;
        }
        match classify(map) {
            Message::Boot { ip, hostname } => {
                self.heard(Some(&ip), Some(&hostname), true);
                self.emit(DeviceEvent::Booted { ip, hostname });
            }
            Message::Heartbeat { ip, hostname } => {
                self.heard(Some(&ip), Some(&hostname), false);
                self.emit(DeviceEvent::Heartbeat { ip, hostname });
            }
            Message::Access(map) => {
                self.heard(None, None, false);
                self.emit(self.access(&map));
            }
            Message::Ack { cmd, ip } => {
                self.heard(Some(&ip), None, false);
                if self.acks.try_send((cmd, ip)).is_err() {
                    tracing::warn!("esp-rfid: ack inbox full, ack dropped");
                }
            }
            Message::ListEntry(entry) => {
                if self.list.try_send(entry).is_err() {
                    tracing::warn!("esp-rfid: list inbox full, entry dropped");
                }
            }
            Message::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(hostname: Option<&str>) -> (Router, watch::Receiver<EspRfidState>) {
        let (state, rx) = watch::channel(EspRfidState::default());
        let router = Router {
            topic: "/rfid".into(),
            send_topic: "/rfid/send".into(),
            hostname: hostname.map(str::to_string),
            uid_format: UidFormat::Hex,
            state,
            events: broadcast::Sender::new(8),
            acks: mpsc::channel(8).0,
            list: mpsc::channel(8).0,
        };
        (router, rx)
    }

    fn deliver(router: &mut Router, topic: &str, payload: &str) {
        let client = AsyncClient::new(rumqttc::MqttOptions::new("t", "localhost", 1), 1).0;
        let publish = Publish::new(topic, rumqttc::QoS::AtMostOnce, payload.as_bytes().to_vec());
        router.publish(&client, publish);
    }

    #[tokio::test]
    async fn another_hostname_on_a_shared_topic_is_ignored() {
        let (mut r, state) = router(Some("back"));
        let boot = |ip: &str, host: &str| {
            format!(r#"{{"type":"boot","uptime":"0","ip":"{ip}","hostname":"{host}"}}"#)
        };
        deliver(&mut r, "/rfid/send", &boot("10.0.0.1", "front"));
        assert_eq!(state.borrow().ip, None);
        deliver(&mut r, "/rfid/send", &boot("10.0.0.2", "back"));
        assert_eq!(state.borrow().ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(state.borrow().boots, 1);
        let (mut any, state) = router(None);
        deliver(&mut any, "/rfid/send", &boot("10.0.0.1", "front"));
        assert_eq!(state.borrow().ip.as_deref(), Some("10.0.0.1"));
    }

    #[tokio::test]
    async fn legacy_boot_marks_the_board_unsupported_until_a_2x_boot() {
        let (mut r, state) = router(None);
        deliver(
            &mut r,
            "/rfid",
            r#"{"Wifi SSID":"x","Local IP":"10.0.0.3"}"#,
        );
        let reason = state.borrow().unsupported.clone().unwrap_or_default();
        assert!(reason.contains("unsupported firmware 1.3.x"), "{reason}");
        deliver(&mut r, "/rfid", r#"{"type":"access","uid":"01"}"#);
        deliver(
            &mut r,
            "/rfid/send",
            r#"{"type":"boot","ip":"10.0.0.3","hostname":"h"}"#,
        );
        assert_eq!(state.borrow().unsupported, None, "upgraded to 2.x");
    }
}
