//! Runs on the connection task: replies go to the driver, the retained state updates what the
//! driver knows (and a new boot id becomes a `Booted` event), events become `DeviceEvent`s.

use rumqttc::{AsyncClient, Publish};
use tokio::{
    sync::{broadcast, mpsc, watch},
    time::Instant,
};

use super::{
    LintelMqttState,
    wire::{Event, Reply, State, VERSION},
};
use crate::{DeviceEvent, mqtt::link::Handler};

pub(super) struct Router {
    pub reply_topic: String,
    pub state_topic: String,
    pub event_topic: String,
    pub state: watch::Sender<LintelMqttState>,
    pub events: broadcast::Sender<DeviceEvent>,
    pub replies: mpsc::Sender<Reply>,
}

impl Router {
    fn emit(&self, event: DeviceEvent) {
        let _ = self.events.send(event);
    }

    fn on_state(&self, payload: &[u8]) {
        let version = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("v").and_then(serde_json::Value::as_u64));
        if version.is_some_and(|v| v != u64::from(VERSION)) {
            let reason = format!(
                "controller on {} speaks lintel-mqtt profile version {}; this lintel speaks \
                 {VERSION}",
                self.state_topic,
                version.unwrap_or_default()
            );
            self.state.send_modify(|s| {
                s.unsupported = Some(reason.clone());
                s.last_seen = Some(Instant::now());
            });
            self.emit(DeviceEvent::Unsupported { reason });
            return;
        }
        let state: State = match serde_json::from_slice(payload) {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(topic = %self.state_topic, error = %e, "lintel-mqtt: bad state message");
                return;
            }
        };
        let mut booted = None;
        self.state.send_modify(|s| {
            let previous = s.state.as_ref().map(|p| p.boot.clone());
            if state.online && previous.as_deref() != Some(state.boot.as_str()) {
                s.boots += 1;
                booted = Some(DeviceEvent::Booted {
                    ip: String::new(),
                    hostname: state.device.clone(),
                });
            }
            s.unsupported = None;
            s.last_seen = Some(Instant::now());
            s.state = Some(state);
        });
        if let Some(event) = booted {
            self.emit(event);
        }
    }

    fn on_event(&self, payload: &[u8]) {
        let device = self
            .state
            .borrow()
            .state
            .as_ref()
            .map(|s| s.device.clone())
            .unwrap_or_default();
        match serde_json::from_slice::<Event>(payload) {
            Ok(Event::Access {
                card,
                known,
                granted,
                door,
                ..
            }) => {
                let verdict = if granted { "granted" } else { "denied" };
                self.emit(DeviceEvent::Access {
                    card: Some(card),
                    uid: card.to_string(),
                    known,
                    granted,
                    access: door.map_or(verdict.to_string(), |d| format!("{verdict} (door {d})")),
                    username: String::new(),
                    hostname: device,
                });
            }
            Err(e) => {
                tracing::debug!(topic = %self.event_topic, error = %e, "lintel-mqtt: event ignored")
            }
        }
    }
}

impl Handler for Router {
    fn connected(&mut self, _: &AsyncClient) {}

    fn publish(&mut self, _: &AsyncClient, publish: Publish) {
        if publish.topic == self.reply_topic {
            match serde_json::from_slice::<Reply>(&publish.payload) {
                Ok(reply) => {
                    if self.replies.try_send(reply).is_err() {
                        tracing::warn!("lintel-mqtt: reply inbox full, reply dropped");
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = %publish.topic, error = %e, "lintel-mqtt: bad reply")
                }
            }
        } else if publish.topic == self.state_topic {
            self.on_state(&publish.payload);
        } else if publish.topic == self.event_topic {
            self.on_event(&publish.payload);
        }
    }
}
