//! Driver for esp-rfid 2.x boards over MQTT (`reference/esp-rfid-mqtt.md`). The board keys
//! its users by uid, acknowledges commands without saying which, and is addressed by an IP it
//! only tells in its boot and heartbeat messages; so the driver keeps one command in flight,
//! matches acks by (command, IP) in order, and refuses to send before it has heard the board.

mod message;
mod router;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use rumqttc::QoS;
use serde_json::{Map, Value};
use tokio::{
    sync::{broadcast, mpsc, watch},
    time::Instant,
};

use message::is_legacy;
pub use message::{MAX_ADDUSER, MAX_PAYLOAD, NO_END, UidFormat};
pub(crate) use message::{Message, classify, list_entry};

use super::{broker::BrokerSettings, link::Link};
use crate::{
    BatchError, Change, Check, Controller, Credential, DeviceEvent, DeviceInfo, Drift, Error,
    ErrorKind, Op, SlotDrift, drift::diff_by_card,
};
use router::Router;

/// One esp-rfid board, as configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspRfidSettings {
    /// The board's MQTT topic (`TOPIC`); commands go to `TOPIC/cmd`, replies come on
    /// `TOPIC/send`.
    pub topic: String,
    /// The board's hostname. Needed when several boards share a topic (the default): only
    /// messages from this hostname are taken as this board's.
    #[serde(default)]
    pub hostname: Option<String>,
    /// How card numbers are written as the uid the reader reports.
    #[serde(default)]
    pub uid_format: UidFormat,
    /// How long to wait for the ack of one command.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// `getuserlist` has no end marker: the list is over after this much silence.
    #[serde(default = "default_list_quiet_ms")]
    pub list_quiet_ms: u64,
    /// A board not heard from (boot, heartbeat, ack, access) for this long is unreachable.
    /// Default 2.5 × the firmware's default heartbeat of 180 s.
    #[serde(default = "default_liveness_s")]
    pub liveness_s: u64,
}

fn default_ack_timeout_ms() -> u64 {
    5_000
}

fn default_list_quiet_ms() -> u64 {
    2_000
}

fn default_liveness_s() -> u64 {
    450
}

impl EspRfidSettings {
    pub fn new(topic: impl Into<String>) -> Self {
        EspRfidSettings {
            topic: topic.into(),
            hostname: None,
            uid_format: UidFormat::default(),
            ack_timeout_ms: default_ack_timeout_ms(),
            list_quiet_ms: default_list_quiet_ms(),
            liveness_s: default_liveness_s(),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::new(ErrorKind::Config, m));
        if self.topic.is_empty() || self.topic.contains(['+', '#']) {
            return bad(format!(
                "topic = `{}` must be a plain topic without wildcards",
                self.topic
            ));
        }
        if self.ack_timeout_ms == 0 || self.list_quiet_ms == 0 || self.liveness_s == 0 {
            return bad("ack_timeout_ms, list_quiet_ms and liveness_s must be above zero".into());
        }
        Ok(())
    }
}

/// What the driver knows about the board, from what it published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EspRfidState {
    /// The board's IPv4 from its last boot or heartbeat: the `doorip` every command carries.
    pub ip: Option<String>,
    pub hostname: Option<String>,
    /// Set when the board turned out to be something this driver cannot drive.
    pub unsupported: Option<String>,
    pub last_seen: Option<Instant>,
    /// Boot messages seen, i.e. times the board (re)joined.
    pub boots: u64,
}

/// An ack as the router saw it: (command, ip).
type Ack = (String, String);

/// The esp-rfid 2.x driver for one board.
pub struct EspRfid {
    link: Link,
    settings: EspRfidSettings,
    url: String,
    cmd_topic: String,
    state: watch::Receiver<EspRfidState>,
    events: broadcast::Sender<DeviceEvent>,
    acks: mpsc::Receiver<Ack>,
    list: mpsc::Receiver<Map<String, Value>>,
}

impl std::fmt::Debug for EspRfid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspRfid")
            .field("settings", &self.settings)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

/// Events kept for slow subscribers before the oldest are dropped.
const EVENT_CAPACITY: usize = 256;
/// Acks and list entries buffered between the connection task and the driver.
const INBOX_CAPACITY: usize = 4096;

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl EspRfid {
    /// Connects to the broker as `{client_id}-{name}` in the background and starts listening
    /// to the board. Needs a tokio runtime.
    pub fn connect(
        broker: &BrokerSettings,
        name: &str,
        settings: EspRfidSettings,
    ) -> Result<Self, Error> {
        settings.validate()?;
        let (state_tx, state) = watch::channel(EspRfidState::default());
        let events = broadcast::Sender::new(EVENT_CAPACITY);
        let (ack_tx, acks) = mpsc::channel(INBOX_CAPACITY);
        let (list_tx, list) = mpsc::channel(INBOX_CAPACITY);
        let router = Router {
            topic: settings.topic.clone(),
            send_topic: format!("{}/send", settings.topic),
            hostname: settings.hostname.clone(),
            uid_format: settings.uid_format,
            state: state_tx,
            events: events.clone(),
            acks: ack_tx,
            list: list_tx,
        };
        let subscriptions = vec![
            (router.send_topic.clone(), QoS::AtLeastOnce),
            // 1.3.x boards publish on the bare topic; listening there is how they are spotted.
            (settings.topic.clone(), QoS::AtLeastOnce),
        ];
        let link = Link::spawn(broker, name, subscriptions, router)?;
        Ok(EspRfid {
            link,
            cmd_topic: format!("{}/cmd", settings.topic),
            url: broker.url.clone(),
            settings,
            state,
            events,
            acks,
            list,
        })
    }

    /// What the driver has learnt about the board; changes on every message from it.
    pub fn state(&self) -> watch::Receiver<EspRfidState> {
        self.state.clone()
    }

    /// Whether the broker connection is up; changes on connect and disconnect.
    pub fn broker_connected(&self) -> watch::Receiver<bool> {
        self.link.connected.clone()
    }

    /// The board's IP to address commands to, or why there is none.
    fn target(&self) -> Result<String, Error> {
        let state = self.state.borrow();
        if let Some(reason) = &state.unsupported {
            return Err(Error::new(ErrorKind::Config, reason.clone()).whole_device());
        }
        let topic = &self.settings.topic;
        let (Some(ip), Some(seen)) = (&state.ip, state.last_seen) else {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "esp-rfid on {topic}: not heard from yet; commands need the IP its boot or \
                     heartbeat message carries"
                ),
            ));
        };
        let liveness = Duration::from_secs(self.settings.liveness_s);
        if seen.elapsed() > liveness {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "esp-rfid {ip} on {topic}: silent for {} s (more than liveness_s = {})",
                    seen.elapsed().as_secs(),
                    self.settings.liveness_s
                ),
            ));
        }
        Ok(ip.clone())
    }

    /// Publishes one command and waits for its ack (type = `cmd`, ip = `ip`).
    async fn command(&mut self, cmd: &str, ip: &str, payload: Vec<u8>) -> Result<(), Error> {
        self.publish(cmd, payload).await?;
        let timeout = Duration::from_millis(self.settings.ack_timeout_ms);
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.acks.recv()).await {
                Ok(Some((acked, from))) if acked == cmd && from == ip => return Ok(()),
                Ok(Some((acked, from))) => {
                    tracing::debug!(%acked, %from, expected = cmd, "esp-rfid: ack for something else");
                }
                Ok(None) => {
                    return Err(Error::new(
                        ErrorKind::Unreachable,
                        "esp-rfid: connection task ended",
                    ));
                }
                Err(_) => {
                    // Silence: wrong doorip, dropped for low heap, or lost. All look the same.
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "esp-rfid {ip} on {}: no {cmd} ack within {} ms",
                            self.settings.topic, self.settings.ack_timeout_ms
                        ),
                    ));
                }
            }
        }
    }

    async fn publish(&mut self, cmd: &str, payload: Vec<u8>) -> Result<(), Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::new(
                ErrorKind::Rejected,
                format!(
                    "{cmd} payload of {} bytes exceeds esp-rfid's {MAX_PAYLOAD}",
                    payload.len()
                ),
            ));
        }
        if !*self.link.connected.borrow() {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!("broker {} not connected", self.url),
            ));
        }
        // An ack that arrives after its command timed out must not confirm the next one.
        while self.acks.try_recv().is_ok() {}
        self.link
            .client
            .publish(&self.cmd_topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::new(ErrorKind::Unreachable, format!("publishing {cmd}: {e}")))
    }

    async fn apply_one(&mut self, op: &Op, now: u64) -> Result<(), Error> {
        let ip = self.target()?;
        let format = self.settings.uid_format;
        match &op.change {
            Change::Grant(c) => {
                // Names stay in the gateway; the board only needs something to echo.
                let user = format!("lintel {}", op.slot);
                let from = message::sent_valid_from(c.valid_from, now);
                let payload = message::adduser(c, format, &user, &ip, from)?;
                self.command("adduser", &ip, payload).await
            }
            Change::Revoke { card } => {
                let uid = message::uid(*card, format)?;
                let payload = message::simple("deletuid", &ip, Some(&uid));
                self.command("deletuid", &ip, payload).await
            }
        }
    }

    /// Every stored user, raw, in the order the board sent them.
    async fn user_list(&mut self) -> Result<Vec<Map<String, Value>>, Error> {
        let ip = self.target()?;
        while self.list.try_recv().is_ok() {}
        let mut session = self.link.connected.clone();
        session.borrow_and_update();
        self.publish("getuserlist", message::simple("getuserlist", &ip, None))
            .await?;
        let quiet = Duration::from_millis(self.settings.list_quiet_ms);
        let mut entries = Vec::new();
        while let Ok(Some(entry)) = tokio::time::timeout(quiet, self.list.recv()).await {
            entries.push(entry);
        }
        // The list has no end marker: silence is taken as its end. If the broker went away
        // meanwhile, the silence says nothing, and an empty or partial list must not be read
        // as the board's table (it would queue needless repairs and flag false drift).
        if session.has_changed().unwrap_or(true) || !*session.borrow() {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "broker {} connection lost while reading the user list",
                    self.url
                ),
            ));
        }
        Ok(entries)
    }
}

/// A credential as the board will hold it, so a read-back compares equal: a start already
/// passed is sent as 0.
fn as_stored(c: &Credential, now: u64) -> Credential {
    Credential {
        valid_from: message::sent_valid_from(c.valid_from, now),
        ..*c
    }
}

#[async_trait]
impl Controller for EspRfid {
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let now = now_unix();
        for (applied, op) in ops.iter().enumerate() {
            self.apply_one(op, now)
                .await
                .map_err(|error| BatchError { applied, error })?;
        }
        Ok(())
    }

    /// Slots are the board's list positions: it keys users by uid and has no slots.
    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error> {
        let format = self.settings.uid_format;
        let mut table = Vec::new();
        for (entry, position) in self.user_list().await?.iter().zip(0u16..) {
            match list_entry(entry, format) {
                Ok(c) => table.push((position, c)),
                Err(why) => {
                    tracing::warn!(topic = %self.settings.topic, %why, "esp-rfid: user entry skipped")
                }
            }
        }
        Ok(table)
    }

    async fn probe(&mut self) -> Result<DeviceInfo, Error> {
        let ip = self.target()?;
        let hostname = self.state.borrow().hostname.clone().unwrap_or_default();
        Ok(DeviceInfo {
            peer: Some(format!("{ip} ({hostname})")),
            ..DeviceInfo::default()
        })
    }

    /// esp-rfid has no digest: this always reads the list (`getuserlist`) and compares by card.
    async fn verify(&mut self, expected: &[(u16, Credential)]) -> Result<Drift, Error> {
        let now = now_unix();
        let format = self.settings.uid_format;
        let entries = self.user_list().await?;
        let originals: BTreeMap<u64, (u16, Credential)> =
            expected.iter().map(|(s, c)| (c.card, (*s, *c))).collect();
        let mut found = Vec::new();
        let mut garbled = Vec::new();
        let mut garbled_cards = BTreeSet::new();
        for (entry, position) in entries.iter().zip(0u16..) {
            match list_entry(entry, format) {
                Ok(c) => found.push((position, as_stored(&c, now))),
                Err(detail) => {
                    let card = entry
                        .get("uid")
                        .and_then(Value::as_str)
                        .and_then(|uid| format.parse(uid));
                    let wanted = card.and_then(|card| originals.get(&card));
                    if let Some(card) = card {
                        garbled_cards.insert(card);
                    }
                    garbled.push(SlotDrift::Garbled {
                        slot: wanted.map_or(position, |(slot, _)| *slot),
                        expected: wanted.map(|(_, c)| *c),
                        card,
                        detail,
                    });
                }
            }
        }
        let wanted: Vec<(u16, Credential)> = expected
            .iter()
            .map(|(slot, c)| (*slot, as_stored(c, now)))
            .collect();
        let mut slots: Vec<SlotDrift> = diff_by_card(&wanted, &found)
            .into_iter()
            .filter_map(|d| {
                // Report the caller's credential, not its normalised form.
                let original = |c: &Credential| originals.get(&c.card).map_or(*c, |(_, o)| *o);
                match d {
                    SlotDrift::Missing { expected, .. }
                        if garbled_cards.contains(&expected.card) =>
                    {
                        None
                    }
                    SlotDrift::Missing { slot, expected } => Some(SlotDrift::Missing {
                        slot,
                        expected: original(&expected),
                    }),
                    SlotDrift::Different {
                        slot,
                        expected,
                        found,
                    } => Some(SlotDrift::Different {
                        slot,
                        expected: original(&expected),
                        found,
                    }),
                    other => Some(other),
                }
            })
            .collect();
        slots.extend(garbled);
        Ok(Drift {
            check: Check::FullRead,
            generation: None,
            slots,
        })
    }

    fn events(&self) -> Option<broadcast::Receiver<DeviceEvent>> {
        Some(self.events.subscribe())
    }
}
