//! A simulated controller speaking lintel's native MQTT profile (`docs/mqtt.md`), for tests,
//! demos and `lintel sim lintel-mqtt`: a slot table, batched applies with acks by id, paged
//! reads, a retained state message with the table digest and a new boot id per session, a last
//! will, and access events.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use rumqttc::{AsyncClient, LastWill, Publish, QoS};
use tokio::sync::watch;

use crate::{
    Credential, Error, ErrorKind,
    mqtt::{
        BrokerSettings,
        link::{Handler, Link},
        lintel::wire::{
            self, Entry, ErrorCode, Event, Reply, Request, State, TableSummary, VERSION,
        },
    },
};

/// Entries per page of a `read` reply.
const PAGE: usize = 40;

/// The controller to simulate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LintelMqttSimConfig {
    /// Base topic.
    pub topic: String,
    /// Slots in its table.
    pub slots: u16,
    /// Its name in state messages.
    pub device: String,
}

impl Default for LintelMqttSimConfig {
    fn default() -> Self {
        LintelMqttSimConfig {
            topic: "lintel/sim".into(),
            slots: 256,
            device: "lintel-sim".into(),
        }
    }
}

#[derive(Default)]
struct Table {
    slots: BTreeMap<u16, Credential>,
    generation: u32,
    boot: String,
    online: bool,
    drop_next: u32,
    refuse_next: Option<(ErrorCode, u32)>,
    /// The changes each `apply` request made, in arrival order.
    applies: Vec<Vec<SimChange>>,
}

/// One change a simulated controller applied: the slot and what it now holds (`None`: cleared).
pub type SimChange = (u16, Option<Credential>);

struct Shared {
    config: LintelMqttSimConfig,
    table: Mutex<Table>,
    /// Counts applied changes.
    applied: watch::Sender<u64>,
    /// Counts requests received, dropped ones included.
    requests: watch::Sender<u64>,
}

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn boot_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{:x}-{}", nanos, N.fetch_add(1, Ordering::Relaxed))
}

impl Shared {
    fn topic(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.config.topic)
    }

    fn summary(&self, table: &Table) -> TableSummary {
        TableSummary {
            slots: self.config.slots,
            count: table.slots.len(),
            generation: table.generation,
            digest: wire::digest(table.slots.iter().map(|(s, c)| (*s, c))),
        }
    }

    fn state(&self) -> State {
        let table = lock(&self.table);
        State {
            v: VERSION,
            online: table.online,
            boot: table.boot.clone(),
            device: self.config.device.clone(),
            table: Some(self.summary(&table)),
        }
    }

    fn reply(id: &str) -> Reply {
        Reply {
            v: VERSION,
            id: id.to_string(),
            ok: true,
            ..Reply::default()
        }
    }

    /// The firmware's request handling: the replies to publish, and whether the state changed.
    fn handle(&self, payload: &[u8]) -> (Vec<Reply>, bool) {
        self.requests.send_modify(|n| *n += 1);
        let request: Request = match serde_json::from_slice(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "lintel-mqtt sim: request does not parse");
                return (Vec::new(), false);
            }
        };
        let mut table = lock(&self.table);
        if !table.online {
            return (Vec::new(), false);
        }
        if table.drop_next > 0 {
            table.drop_next -= 1;
            return (Vec::new(), false);
        }
        let id = request.id().to_string();
        let version = match &request {
            Request::Apply { v, .. } | Request::Status { v, .. } | Request::Read { v, .. } => *v,
        };
        if version != VERSION {
            let reply = Reply {
                ok: false,
                error: Some(ErrorCode::Version),
                message: Some(format!("this controller speaks version {VERSION}")),
                ..Shared::reply(&id)
            };
            return (vec![reply], false);
        }
        match request {
            Request::Status { .. } => {
                let reply = Reply {
                    table: Some(self.summary(&table)),
                    ..Shared::reply(&id)
                };
                (vec![reply], false)
            }
            Request::Read { .. } => {
                let entries: Vec<Entry> =
                    table.slots.iter().map(|(s, c)| Entry::new(*s, c)).collect();
                let pages = entries.len().div_ceil(PAGE).max(1);
                let replies = (0..pages)
                    .map(|page| Reply {
                        page: Some(page as u32),
                        pages: Some(pages as u32),
                        entries: Some(
                            entries
                                .iter()
                                .skip(page * PAGE)
                                .take(PAGE)
                                .copied()
                                .collect(),
                        ),
                        ..Shared::reply(&id)
                    })
                    .collect();
                (replies, false)
            }
            Request::Apply { changes, .. } => {
                let mut applied = 0;
                let mut failure = None;
                let mut made = Vec::new();
                for change in &changes {
                    if let Some((code, left)) = table.refuse_next {
                        table.refuse_next = (left > 1).then_some((code, left - 1));
                        failure = Some((code, "refusing as told".to_string()));
                        break;
                    }
                    let slot = change.slot();
                    if slot >= self.config.slots {
                        failure = Some((
                            ErrorCode::SlotOutOfRange,
                            format!("slot {slot} is beyond {} slots", self.config.slots),
                        ));
                        break;
                    }
                    match change.credential() {
                        Some(c) => table.slots.insert(slot, c),
                        None => table.slots.remove(&slot),
                    };
                    made.push((slot, change.credential()));
                    applied += 1;
                }
                if !made.is_empty() {
                    table.applies.push(made);
                }
                if applied > 0 {
                    table.generation = table.generation.wrapping_add(1);
                }
                let reply = Reply {
                    ok: failure.is_none(),
                    applied: Some(applied),
                    error: failure.as_ref().map(|(code, _)| *code),
                    message: failure.map(|(_, m)| m),
                    table: Some(self.summary(&table)),
                    ..Shared::reply(&id)
                };
                drop(table);
                if applied > 0 {
                    self.applied.send_modify(|n| *n += applied as u64);
                }
                (vec![reply], applied > 0)
            }
        }
    }
}

struct SimHandler(Arc<Shared>);

fn publish_json(client: &AsyncClient, topic: String, retain: bool, value: &impl serde::Serialize) {
    let payload = serde_json::to_vec(value).unwrap_or_default();
    if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
        tracing::warn!(error = %e, "lintel-mqtt sim: publish not queued");
    }
}

impl Handler for SimHandler {
    fn connected(&mut self, client: &AsyncClient) {
        // A new session: anything sent while away is gone, which a new boot id announces.
        {
            let mut table = lock(&self.0.table);
            table.boot = boot_id();
            table.online = true;
        }
        publish_json(client, self.0.topic(wire::STATE), true, &self.0.state());
    }

    fn publish(&mut self, client: &AsyncClient, publish: Publish) {
        let (replies, changed) = self.0.handle(&publish.payload);
        for reply in replies {
            publish_json(client, self.0.topic(wire::REPLY), false, &reply);
        }
        if changed {
            publish_json(client, self.0.topic(wire::STATE), true, &self.0.state());
        }
    }
}

/// Watches and steers a running simulated controller.
#[derive(Clone)]
pub struct LintelMqttSimHandle {
    shared: Arc<Shared>,
    client: AsyncClient,
    connected: watch::Receiver<bool>,
    link: Arc<std::sync::Mutex<Option<Link>>>,
}

impl std::fmt::Debug for LintelMqttSimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LintelMqttSimHandle")
            .field("config", &self.shared.config)
            .finish()
    }
}

/// Starts a simulated controller connected to `broker` as `{client_id}-{name}`.
pub fn spawn_lintel_mqtt(
    broker: &BrokerSettings,
    name: &str,
    config: LintelMqttSimConfig,
) -> Result<LintelMqttSimHandle, Error> {
    if config.topic.is_empty() || config.topic.contains(['+', '#']) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("topic `{}` must be a plain topic", config.topic),
        ));
    }
    let shared = Arc::new(Shared {
        config,
        table: Mutex::new(Table::default()),
        applied: watch::Sender::new(0),
        requests: watch::Sender::new(0),
    });
    let will = State {
        v: VERSION,
        online: false,
        boot: String::new(),
        device: shared.config.device.clone(),
        table: None,
    };
    let will = LastWill::new(
        shared.topic(wire::STATE),
        serde_json::to_vec(&will).unwrap_or_default(),
        QoS::AtLeastOnce,
        true,
    );
    let link = Link::spawn_with_will(
        broker,
        name,
        vec![(shared.topic(wire::REQUEST), QoS::AtLeastOnce)],
        SimHandler(Arc::clone(&shared)),
        Some(will),
    )?;
    Ok(LintelMqttSimHandle {
        client: link.client.clone(),
        connected: link.connected.clone(),
        link: Arc::new(std::sync::Mutex::new(Some(link))),
        shared,
    })
}

impl LintelMqttSimHandle {
    /// Whether it is connected and subscribed.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Counts changes applied; changes on every applied batch.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.shared.applied.subscribe()
    }

    /// Counts requests received, including dropped ones.
    pub fn requests(&self) -> watch::Receiver<u64> {
        self.shared.requests.subscribe()
    }

    /// Slots in use, in slot order.
    pub fn table(&self) -> Vec<(u16, Credential)> {
        lock(&self.shared.table)
            .slots
            .iter()
            .map(|(s, c)| (*s, *c))
            .collect()
    }

    /// The changes of every `apply` request it acted on since start or
    /// [`Self::clear_applies`], one list per request, in arrival order.
    pub fn applies(&self) -> Vec<Vec<SimChange>> {
        lock(&self.shared.table).applies.clone()
    }

    pub fn clear_applies(&self) {
        lock(&self.shared.table).applies.clear();
    }

    /// The summary it would report now.
    pub fn summary(&self) -> TableSummary {
        self.shared.summary(&lock(&self.shared.table))
    }

    /// Changes a slot behind the gateway's back (drift); the state message follows.
    pub async fn set_slot(&self, slot: u16, credential: Option<Credential>) {
        {
            let mut table = lock(&self.shared.table);
            match credential {
                Some(c) => table.slots.insert(slot, c),
                None => table.slots.remove(&slot),
            };
        }
        self.publish_state().await;
    }

    /// Factory reset: empty table, generation 0.
    pub async fn wipe(&self) {
        {
            let mut table = lock(&self.shared.table);
            table.slots.clear();
            table.generation = 0;
        }
        self.publish_state().await;
    }

    /// A new session (as after a power cycle or reconnect): a new boot id in the state.
    pub async fn reboot(&self) {
        {
            let mut table = lock(&self.shared.table);
            table.boot = boot_id();
            table.online = true;
        }
        self.publish_state().await;
    }

    /// Publishes what its last will says and ignores requests until [`Self::reboot`].
    pub async fn go_offline(&self) {
        lock(&self.shared.table).online = false;
        self.publish_state().await;
    }

    /// Drops the next `n` requests without a reply.
    pub fn drop_requests(&self, n: u32) {
        lock(&self.shared.table).drop_next = n;
    }

    /// Refuses the next `n` changes with `code`.
    pub fn refuse_changes(&self, n: u32, code: ErrorCode) {
        lock(&self.shared.table).refuse_next = (n > 0).then_some((code, n));
    }

    /// Presents `card` at door 0: an access event, granted if the table holds it with door 0.
    pub async fn swipe(&self, card: u64) {
        let (known, granted) = {
            let table = lock(&self.shared.table);
            let held = table.slots.values().find(|c| c.card == card);
            (held.is_some(), held.is_some_and(|c| c.doors & 1 == 1))
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .ok();
        let event = Event::Access {
            v: VERSION,
            card,
            known,
            granted,
            door: Some(0),
            time,
        };
        self.send(wire::EVENT, false, &event).await;
    }

    async fn publish_state(&self) {
        let state = self.shared.state();
        self.send(wire::STATE, true, &state).await;
    }

    async fn send(&self, suffix: &str, retain: bool, value: &impl serde::Serialize) {
        let payload = serde_json::to_vec(value).unwrap_or_default();
        if let Err(e) = self
            .client
            .publish(self.shared.topic(suffix), QoS::AtLeastOnce, retain, payload)
            .await
        {
            tracing::warn!(error = %e, "lintel-mqtt sim: publish failed");
        }
    }

    /// Disconnects from the broker (no last will: a clean goodbye publishes offline first).
    pub async fn shutdown(&self) {
        self.go_offline().await;
        self.link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
