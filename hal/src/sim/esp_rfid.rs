//! A simulated esp-rfid 2.x board: an MQTT client that behaves like the firmware as
//! `reference/esp-rfid-mqtt.md` describes it — boot message on every connect, acks without ids,
//! `getuserlist` replies with no end marker, commands with the wrong `doorip` silently dropped —
//! for tests and `lintel sim esp-rfid`. In `legacy` mode it is a 1.3.x board instead.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rumqttc::{AsyncClient, Publish, QoS};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    Credential, Error,
    mqtt::{
        BrokerSettings, UidFormat,
        esp_rfid::{MAX_PAYLOAD, list_entry},
        link::{Handler, Link},
    },
};

/// The board to simulate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EspRfidSimConfig {
    pub topic: String,
    pub ip: String,
    pub hostname: String,
    /// Behave as firmware 1.3.x: boot on the bare topic, no command topic at all.
    pub legacy: bool,
    /// Publish a heartbeat this often (the firmware's `syncrate`); `None` only on request.
    pub heartbeat_s: Option<u64>,
}

impl Default for EspRfidSimConfig {
    fn default() -> Self {
        EspRfidSimConfig {
            topic: "/rfid".into(),
            ip: "10.20.0.31".into(),
            hostname: "esp-rfid-sim".into(),
            legacy: false,
            heartbeat_s: None,
        }
    }
}

struct Board {
    ip: String,
    /// Stored records by uid, verbatim as received (the firmware stores the raw message).
    users: BTreeMap<String, Map<String, Value>>,
    drop_next: u32,
}

struct Shared {
    config: EspRfidSimConfig,
    board: Mutex<Board>,
    /// Counts commands received on `TOPIC/cmd`, dropped ones included.
    commands: watch::Sender<u64>,
    stop: CancellationToken,
}

fn lock(m: &Mutex<Board>) -> MutexGuard<'_, Board> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shared {
    fn send_topic(&self) -> String {
        format!("{}/send", self.config.topic)
    }

    fn boot_message(&self) -> (String, Value) {
        let ip = lock(&self.board).ip.clone();
        if self.config.legacy {
            let boot =
                json!({"Wifi SSID": "sim", "Local IP": ip, "Hostname": self.config.hostname});
            (self.config.topic.clone(), boot)
        } else {
            let boot = json!({"type": "boot", "time": now_unix(), "uptime": "0", "ip": ip,
                              "hostname": self.config.hostname});
            (self.send_topic(), boot)
        }
    }

    fn heartbeat_message(&self) -> Value {
        json!({"type": "heartbeat", "time": now_unix(), "uptime": 180,
               "ip": lock(&self.board).ip, "hostname": self.config.hostname})
    }

    /// What the firmware publishes for a swipe of `uid` now.
    fn access_message(&self, uid: &str) -> Value {
        let board = lock(&self.board);
        let (username, access, known) = match board.users.get(uid) {
            None => ("Unknown".to_string(), "Denied", "false"),
            Some(user) => {
                let int = |k: &str| match user.get(k) {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => s.parse().ok(),
                    _ => None,
                };
                let now = now_unix();
                let access = match int("acctype") {
                    Some(99) => "Admin",
                    Some(1) if int("validsince").unwrap_or(0) > now => "Disabled",
                    Some(1) if int("validuntil").unwrap_or(0) <= now => "Expired",
                    Some(1) => "Always",
                    _ => "Disabled",
                };
                let name = user.get("user").and_then(Value::as_str).unwrap_or_default();
                (name.to_string(), access, "true")
            }
        };
        json!({"uid": uid, "username": username, "access": access, "time": now_unix(),
               "doorName": "door", "type": "access", "isKnown": known,
               "hostname": self.config.hostname})
    }

    /// Handles one command, then counts it: a watcher woken by the count sees its effect.
    fn command(&self, payload: &[u8]) -> Vec<Value> {
        let replies = self.handle(payload);
        self.commands.send_modify(|n| *n += 1);
        replies
    }

    /// The firmware's command handling; returns what to publish on `TOPIC/send`.
    fn handle(&self, payload: &[u8]) -> Vec<Value> {
        if payload.len() > MAX_PAYLOAD {
            return Vec::new();
        }
        let Ok(mut message) = serde_json::from_slice::<Map<String, Value>>(payload) else {
            return Vec::new();
        };
        let mut board = lock(&self.board);
        if message.get("doorip").and_then(Value::as_str) != Some(board.ip.as_str()) {
            return Vec::new();
        }
        let Some(cmd) = message
            .get("cmd")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Vec::new();
        };
        if board.drop_next > 0 {
            board.drop_next -= 1;
            return Vec::new();
        }
        let ack = json!({"type": cmd, "ip": board.ip, "hostname": self.config.hostname});
        let uid = |m: &Map<String, Value>| {
            m.get("uid")
                .and_then(Value::as_str)
                .map(|u| u.chars().take(19).collect::<String>())
        };
        match cmd.as_str() {
            "adduser" => {
                if let Some(uid) = uid(&message) {
                    message.insert("uid".into(), Value::from(uid.clone()));
                    board.users.insert(uid, message);
                }
                vec![ack]
            }
            "deletuid" => {
                if let Some(uid) = uid(&message) {
                    board.users.remove(&uid);
                }
                vec![ack]
            }
            "deletusers" => {
                board.users.clear();
                vec![ack]
            }
            "getuserlist" => board.users.values().cloned().map(Value::Object).collect(),
            _ => Vec::new(),
        }
    }
}

struct BoardHandler(Arc<Shared>);

impl Handler for BoardHandler {
    fn connected(&mut self, client: &AsyncClient) {
        let (topic, boot) = self.0.boot_message();
        if let Err(e) = client.try_publish(topic, QoS::AtMostOnce, false, boot.to_string()) {
            tracing::warn!(error = %e, "esp-rfid sim: boot message not queued");
        }
    }

    fn publish(&mut self, client: &AsyncClient, publish: Publish) {
        for reply in self.0.command(&publish.payload) {
            // The firmware publishes on TOPIC/send at QoS 0, never retained.
            if let Err(e) = client.try_publish(
                self.0.send_topic(),
                QoS::AtMostOnce,
                false,
                reply.to_string(),
            ) {
                tracing::warn!(error = %e, "esp-rfid sim: reply not queued");
            }
        }
    }
}

/// Watches and steers a running simulated board.
#[derive(Clone)]
pub struct EspRfidSimHandle {
    shared: Arc<Shared>,
    client: AsyncClient,
    connected: watch::Receiver<bool>,
    link: Arc<Mutex<Option<Link>>>,
}

impl std::fmt::Debug for EspRfidSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspRfidSimHandle")
            .field("config", &self.shared.config)
            .finish()
    }
}

/// Starts a simulated board connected to `broker` as `{client_id}-{name}`.
pub fn spawn_esp_rfid(
    broker: &BrokerSettings,
    name: &str,
    config: EspRfidSimConfig,
) -> Result<EspRfidSimHandle, Error> {
    let shared = Arc::new(Shared {
        board: Mutex::new(Board {
            ip: config.ip.clone(),
            users: BTreeMap::new(),
            drop_next: 0,
        }),
        commands: watch::Sender::new(0),
        stop: CancellationToken::new(),
        config,
    });
    // The firmware subscribes to TOPIC/cmd at QoS 2; 1.3.7 subscribes to nothing.
    let subscriptions = if shared.config.legacy {
        Vec::new()
    } else {
        vec![(format!("{}/cmd", shared.config.topic), QoS::ExactlyOnce)]
    };
    let link = Link::spawn(
        broker,
        name,
        subscriptions,
        BoardHandler(Arc::clone(&shared)),
    )?;
    let handle = EspRfidSimHandle {
        client: link.client.clone(),
        connected: link.connected.clone(),
        link: Arc::new(Mutex::new(Some(link))),
        shared,
    };
    if let Some(every) = handle.shared.config.heartbeat_s {
        let beat = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
            tick.tick().await;
            loop {
                tokio::select! {
                    () = beat.shared.stop.cancelled() => break,
                    _ = tick.tick() => beat.heartbeat().await,
                }
            }
        });
    }
    Ok(handle)
}

impl EspRfidSimHandle {
    /// Whether the board is connected to the broker.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Counts commands received, including those dropped; changes on each.
    pub fn commands(&self) -> watch::Receiver<u64> {
        self.shared.commands.subscribe()
    }

    /// Stored records by uid, as the board keeps them.
    pub fn users(&self) -> BTreeMap<String, Map<String, Value>> {
        lock(&self.shared.board).users.clone()
    }

    /// Stored records read as credentials (records that do not parse are left out).
    pub fn credentials(&self, format: UidFormat) -> BTreeMap<u64, Credential> {
        self.users()
            .values()
            .filter_map(|u| list_entry(u, format).ok())
            .map(|c| (c.card, c))
            .collect()
    }

    /// Stores a record directly, as the web UI would (it comes back with `"command":"userfile"`).
    pub fn add_user(&self, uid: &str, mut record: Map<String, Value>) {
        record.insert("command".into(), Value::from("userfile"));
        record.insert("uid".into(), Value::from(uid));
        lock(&self.shared.board)
            .users
            .insert(uid.to_string(), record);
    }

    /// Deletes stored records behind the gateway's back (a board reset in its web UI, or
    /// reflashed), keeping those `keep` says to.
    pub fn forget_users(&self, keep: impl Fn(&str) -> bool) {
        lock(&self.shared.board).users.retain(|uid, _| keep(uid));
    }

    /// Drops the next `n` valid commands without a word, like a board low on heap.
    pub fn drop_commands(&self, n: u32) {
        lock(&self.shared.board).drop_next = n;
    }

    /// A new DHCP lease: commands to the old IP are ignored from now on; the gateway learns
    /// the new one from the next boot or heartbeat.
    pub fn set_ip(&self, ip: &str) {
        lock(&self.shared.board).ip = ip.to_string();
    }

    async fn send(&self, topic: String, message: Value) {
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtMostOnce, false, message.to_string())
            .await
        {
            tracing::warn!(error = %e, "esp-rfid sim: publish failed");
        }
    }

    /// Publishes a boot message, as the firmware does on every (re)connect.
    pub async fn reboot(&self) {
        let (topic, boot) = self.shared.boot_message();
        self.send(topic, boot).await;
    }

    pub async fn heartbeat(&self) {
        self.send(self.shared.send_topic(), self.shared.heartbeat_message())
            .await;
    }

    /// Presents `uid` at the reader: an access event, `Denied`/`Unknown` for a card the board
    /// does not hold.
    pub async fn swipe(&self, uid: &str) {
        let message = self.shared.access_message(uid);
        self.send(self.shared.send_topic(), message).await;
    }

    /// Disconnects from the broker and stops heartbeats.
    pub fn shutdown(&self) {
        self.shared.stop.cancel();
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
