//! Driver for controllers speaking lintel's own MQTT profile (`docs/mqtt.md`): batched JSON
//! changes with request ids, replies carrying the id, and a retained state message whose table
//! digest lets the controller prove it holds exactly what the gateway expects.

mod router;
pub mod wire;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use rumqttc::QoS;
use tokio::{
    sync::{broadcast, mpsc, watch},
    time::Instant,
};

use super::{broker::BrokerSettings, link::Link};
use crate::{
    BatchError, Check, Controller, Credential, DeviceEvent, DeviceInfo, Drift, Error, ErrorKind,
    Op, drift::diff_by_slot,
};
use router::Router;
use wire::{ErrorCode, Reply, Request, TableSummary, VERSION, WireChange};

/// One lintel-profile controller, as configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintelMqttSettings {
    /// The controller's base topic; it listens on `TOPIC/req` and publishes `TOPIC/res`,
    /// `TOPIC/state` and `TOPIC/event`.
    pub topic: String,
    /// How long to wait for a reply (per request, and per page of a table read).
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// Most changes in one `apply` request.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
}

fn default_ack_timeout_ms() -> u64 {
    5_000
}

fn default_max_batch() -> usize {
    50
}

/// Largest request the driver publishes; a batch is cut to stay under it.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

impl LintelMqttSettings {
    pub fn new(topic: impl Into<String>) -> Self {
        LintelMqttSettings {
            topic: topic.into(),
            ack_timeout_ms: default_ack_timeout_ms(),
            max_batch: default_max_batch(),
        }
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::new(ErrorKind::Config, m));
        let topic = &self.topic;
        if topic.is_empty() || topic.contains(['+', '#']) || topic.ends_with('/') {
            return bad(format!(
                "topic = `{topic}` must be a plain topic without wildcards or a trailing /"
            ));
        }
        if self.ack_timeout_ms == 0 {
            return bad("ack_timeout_ms must be above zero".into());
        }
        if !(1..=500).contains(&self.max_batch) {
            return bad(format!("max_batch = {} is outside 1–500", self.max_batch));
        }
        Ok(())
    }
}

/// What the driver knows about the controller from its retained state message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintelMqttState {
    /// The last state message, if any was seen.
    pub state: Option<wire::State>,
    /// Set when the controller speaks another profile version.
    pub unsupported: Option<String>,
    pub last_seen: Option<Instant>,
    /// Distinct boot ids seen.
    pub boots: u64,
}

/// The lintel-profile driver for one controller.
pub struct LintelMqtt {
    link: Link,
    settings: LintelMqttSettings,
    url: String,
    request_topic: String,
    state: watch::Receiver<LintelMqttState>,
    events: broadcast::Sender<DeviceEvent>,
    replies: mpsc::Receiver<Reply>,
    /// Request ids are `{session}-{n}`: a reply to an earlier incarnation never matches.
    session: String,
    next: u64,
}

impl std::fmt::Debug for LintelMqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LintelMqtt")
            .field("settings", &self.settings)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

const EVENT_CAPACITY: usize = 256;
const INBOX_CAPACITY: usize = 1024;

/// A session tag unique within the process and unlikely to repeat across restarts.
fn session_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}", nanos ^ (n << 48))
}

fn refused(reply: &Reply) -> Error {
    let kind = match reply.error {
        Some(ErrorCode::SlotOutOfRange | ErrorCode::Version) => ErrorKind::Config,
        Some(ErrorCode::Invalid) => ErrorKind::Rejected,
        Some(ErrorCode::Busy) => ErrorKind::Busy,
        Some(ErrorCode::Other) | None => ErrorKind::Protocol,
    };
    let code = reply
        .error
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "no error code".into());
    Error::new(
        kind,
        format!(
            "controller refused request {}: {code}: {}",
            reply.id,
            reply.message.as_deref().unwrap_or("")
        ),
    )
}

impl LintelMqtt {
    /// Connects to the broker as `{client_id}-{name}` in the background and starts listening
    /// to the controller. Needs a tokio runtime.
    pub fn connect(
        broker: &BrokerSettings,
        name: &str,
        settings: LintelMqttSettings,
    ) -> Result<Self, Error> {
        settings.validate()?;
        let (state_tx, state) = watch::channel(LintelMqttState::default());
        let events = broadcast::Sender::new(EVENT_CAPACITY);
        let (reply_tx, replies) = mpsc::channel(INBOX_CAPACITY);
        let topic = &settings.topic;
        let router = Router {
            reply_topic: format!("{topic}/{}", wire::REPLY),
            state_topic: format!("{topic}/{}", wire::STATE),
            event_topic: format!("{topic}/{}", wire::EVENT),
            state: state_tx,
            events: events.clone(),
            replies: reply_tx,
        };
        let subscriptions = vec![
            (router.reply_topic.clone(), QoS::AtLeastOnce),
            (router.state_topic.clone(), QoS::AtLeastOnce),
            (router.event_topic.clone(), QoS::AtLeastOnce),
        ];
        let link = Link::spawn(broker, name, subscriptions, router)?;
        Ok(LintelMqtt {
            link,
            request_topic: format!("{topic}/{}", wire::REQUEST),
            url: broker.url.clone(),
            settings,
            state,
            events,
            replies,
            session: session_tag(),
            next: 0,
        })
    }

    /// What the driver knows about the controller; changes on every state message.
    pub fn state(&self) -> watch::Receiver<LintelMqttState> {
        self.state.clone()
    }

    /// Whether the broker connection is up (and subscribed).
    pub fn broker_connected(&self) -> watch::Receiver<bool> {
        self.link.connected.clone()
    }

    fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{}-{}", self.session, self.next)
    }

    /// Refuses early when the controller is known to be away.
    fn check_online(&self) -> Result<(), Error> {
        let topic = &self.settings.topic;
        let state = self.state.borrow();
        if let Some(reason) = &state.unsupported {
            return Err(Error::new(ErrorKind::Config, reason.clone()).whole_device());
        }
        match &state.state {
            None => Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "lintel-mqtt on {topic}: not heard from yet (no retained message on \
                     {topic}/{})",
                    wire::STATE
                ),
            )),
            Some(s) if !s.online => Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "lintel-mqtt {} on {topic}: offline (its last will was published)",
                    s.device
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    async fn publish(&mut self, request: &Request) -> Result<(), Error> {
        self.check_online()?;
        if !*self.link.connected.borrow() {
            return Err(Error::new(
                ErrorKind::Unreachable,
                format!("broker {} not connected", self.url),
            ));
        }
        // Replies to requests that timed out must not be taken for this one's.
        while self.replies.try_recv().is_ok() {}
        let payload = serde_json::to_vec(request)
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("encoding request: {e}")))?;
        self.link
            .client
            .publish(&self.request_topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::new(ErrorKind::Unreachable, format!("publishing request: {e}")))
    }

    /// The next reply to `id`, within the ack timeout.
    async fn reply(&mut self, id: &str, what: &str) -> Result<Reply, Error> {
        let timeout = Duration::from_millis(self.settings.ack_timeout_ms);
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                Ok(Some(reply)) if reply.id == id => {
                    if reply.v != VERSION {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!(
                                "controller on {} answers in profile version {}, lintel speaks \
                                 {VERSION}",
                                self.settings.topic, reply.v
                            ),
                        ));
                    }
                    return Ok(reply);
                }
                Ok(Some(other)) => {
                    tracing::debug!(id = %other.id, expected = id, "lintel-mqtt: reply to another request");
                }
                Ok(None) => {
                    return Err(Error::new(
                        ErrorKind::Unreachable,
                        "lintel-mqtt: connection task ended",
                    ));
                }
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "lintel-mqtt on {}: no reply to {what} {id} within {} ms",
                            self.settings.topic, self.settings.ack_timeout_ms
                        ),
                    ));
                }
            }
        }
    }

    async fn status(&mut self) -> Result<TableSummary, Error> {
        let id = self.next_id();
        self.publish(&Request::Status {
            v: VERSION,
            id: id.clone(),
        })
        .await?;
        let reply = self.reply(&id, "status").await?;
        if !reply.ok {
            return Err(refused(&reply));
        }
        reply.table.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("status reply {id} carries no table summary"),
            )
        })
    }

    /// One `apply` request for `ops`; `Ok(n)` = the controller applied the first n.
    async fn apply_batch(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let id = self.next_id();
        let request = Request::Apply {
            v: VERSION,
            id: id.clone(),
            changes: ops.iter().map(WireChange::from).collect(),
        };
        self.publish(&request)
            .await
            .map_err(|error| BatchError { applied: 0, error })?;
        let reply = self
            .reply(&id, "apply")
            .await
            .map_err(|error| BatchError { applied: 0, error })?;
        let applied = reply.applied.unwrap_or(0).min(ops.len());
        match (reply.ok, applied == ops.len()) {
            (true, true) => Ok(()),
            (true, false) => Err(BatchError {
                applied,
                error: Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "controller acked request {id} as ok but applied {applied} of {}",
                        ops.len()
                    ),
                ),
            }),
            (false, _) => Err(BatchError {
                applied,
                error: refused(&reply),
            }),
        }
    }

    /// How many of `ops` go in the next request: at most `max_batch`, under the size limit.
    fn batch_len(&self, ops: &[Op]) -> usize {
        // A change is at most ~170 bytes of JSON; the envelope under 100.
        const PER_CHANGE: usize = 170;
        let by_size = (MAX_REQUEST_BYTES - 100) / PER_CHANGE;
        ops.len().min(self.settings.max_batch).min(by_size).max(1)
    }
}

#[async_trait]
impl Controller for LintelMqtt {
    async fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
        let mut done = 0;
        while done < ops.len() {
            let n = self.batch_len(&ops[done..]);
            self.apply_batch(&ops[done..done + n])
                .await
                .map_err(|e| BatchError {
                    applied: done + e.applied,
                    error: e.error,
                })?;
            done += n;
        }
        Ok(())
    }

    async fn read_table(&mut self) -> Result<Vec<(u16, Credential)>, Error> {
        let id = self.next_id();
        self.publish(&Request::Read {
            v: VERSION,
            id: id.clone(),
        })
        .await?;
        let mut pages: Vec<Option<Vec<wire::Entry>>> = Vec::new();
        loop {
            let reply = self.reply(&id, "read").await?;
            if !reply.ok {
                return Err(refused(&reply));
            }
            let total = reply.pages.unwrap_or(1).max(1) as usize;
            let page = reply.page.unwrap_or(0) as usize;
            if total > 10_000 || page >= total {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("read reply {id}: page {page} of {total}"),
                ));
            }
            pages.resize(total.max(pages.len()), None);
            pages[page] = Some(reply.entries.unwrap_or_default());
            if pages.iter().all(Option::is_some) {
                break;
            }
        }
        let mut table: Vec<(u16, Credential)> = pages
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.slot, e.credential()))
            .collect();
        table.sort_by_key(|(slot, _)| *slot);
        Ok(table)
    }

    async fn probe(&mut self) -> Result<DeviceInfo, Error> {
        let summary = self.status().await?;
        let device = self
            .state
            .borrow()
            .state
            .as_ref()
            .map(|s| format!("{} (boot {})", s.device, s.boot));
        Ok(DeviceInfo {
            slots: Some(summary.slots),
            generation: Some(summary.generation),
            checksum: None,
            peer: device,
        })
    }

    /// Asks for the digest; reads the table only when it differs from the expected one.
    async fn verify(&mut self, expected: &[(u16, Credential)]) -> Result<Drift, Error> {
        let summary = self.status().await?;
        let generation = Some(summary.generation);
        if summary.digest == wire::digest(expected.iter().map(|(s, c)| (*s, c))) {
            return Ok(Drift {
                check: Check::Digest,
                generation,
                slots: Vec::new(),
            });
        }
        let found = self.read_table().await?;
        Ok(Drift {
            check: Check::FullRead,
            generation,
            slots: diff_by_slot(expected, &found),
        })
    }

    fn events(&self) -> Option<broadcast::Receiver<DeviceEvent>> {
        Some(self.events.subscribe())
    }
}
