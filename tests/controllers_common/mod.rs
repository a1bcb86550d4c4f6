//! Shared by tests/controllers_*.rs: a test building whose controllers are given as TOML, an
//! MQTT broker (embedded rumqttd, or `$LINTEL_TEST_BROKER`), and waits woken by the simulated
//! devices themselves.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use lintel::Config;
use lintel::control::Request;
use lintel_hal::Credential;
use lintel_hal::sim::SimDevice;
use serde_json::Value;
use tokio::sync::watch;

use crate::common::{PATIENCE, call, config_text};

/// A config for the fixture PMS plus `controllers` (TOML for `[[broker]]` and `[[controller]]`
/// tables); each controller in `doors` gets door 0 and every resident gets every door.
pub fn building_config(dir: &Path, pms_url: &str, controllers: &str, doors: &[&str]) -> Config {
    let mut text = config_text(dir, pms_url, &[]);
    text.push_str(controllers);
    for name in doors {
        text.push_str(&format!(
            "\n[[door]]\nname = \"{name}-door\"\ncontroller = \"{name}\"\nindex = 0\n"
        ));
    }
    let doors: Vec<String> = doors.iter().map(|n| format!("\"{n}-door\"")).collect();
    text.push_str(&format!(
        "\n[[group]]\nname = \"everyone\"\ndoors = [{}]\n",
        doors.join(", ")
    ));
    Config::parse(&text, "test").unwrap_or_else(|e| panic!("test config: {e}\n{text}"))
}

/// Waits on `rx` until `done` holds, bounded by [`PATIENCE`].
pub async fn wait_on<T, R>(
    mut rx: watch::Receiver<T>,
    what: &str,
    mut read: impl FnMut() -> R,
    done: impl Fn(&R) -> bool,
) -> R
where
    R: std::fmt::Debug,
{
    let outcome = tokio::time::timeout(PATIENCE, async {
        loop {
            let now = read();
            if done(&now) {
                return now;
            }
            if rx.changed().await.is_err() {
                return now;
            }
        }
    })
    .await;
    match outcome {
        Ok(value) if done(&value) => value,
        Ok(value) => panic!("{what}: source gone, last seen {value:?}"),
        Err(_) => panic!("timed out waiting for {what}; last seen {:?}", read()),
    }
}

/// Cards a simulated Modbus device holds.
pub fn cards(device: &SimDevice) -> Vec<u64> {
    let held: BTreeMap<u64, Credential> = device
        .table()
        .into_iter()
        .map(|(_, c)| (c.card, c))
        .collect();
    held.into_keys().collect()
}

/// Waits until `device` holds exactly `want`, woken by each write it applies.
pub async fn wait_for_device_cards(device: &SimDevice, want: &[u64]) {
    let want = want.to_vec();
    wait_on(
        device.subscribe(),
        &format!("cards {want:?}"),
        || cards(device),
        |held| *held == want,
    )
    .await;
}

/// Waits until `device`'s latest write is the generation bump (default profile: register 4),
/// which the gateway sends once its outbox for the device is empty, a moment after the last
/// batch is acknowledged. Call it once no more slot writes are coming.
pub async fn wait_for_generation_bump(device: &SimDevice) {
    wait_on(
        device.subscribe(),
        "the generation bump after the last batch",
        || device.writes().last().map(|w| w.start),
        |start| *start == Some(4),
    )
    .await;
}

/// The activity log, newest first.
pub async fn activity(dir: &Path) -> Vec<Value> {
    // Built from JSON so fields added to the request later keep their defaults.
    let request: Request =
        serde_json::from_value(serde_json::json!({"verb": "activity", "limit": 1000}))
            .expect("activity request");
    call(dir, request)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until an activity entry satisfies `matches` (the log has no change feed, so this
/// asks the daemon again after each answer; bounded by [`PATIENCE`]).
pub async fn wait_for_activity(dir: &Path, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(hit) = activity(dir).await.into_iter().find(|a| matches(a)) {
                return hit;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    match found {
        Ok(hit) => hit,
        Err(_) => panic!(
            "timed out waiting for activity: {what}; log: {:#?}",
            activity(dir).await
        ),
    }
}

/// URL of the test broker: `$LINTEL_TEST_BROKER` (CI's mosquitto) or an embedded rumqttd
/// started on first use.
pub fn broker_url() -> String {
    if let Ok(url) = std::env::var("LINTEL_TEST_BROKER")
        && !url.is_empty()
    {
        return url;
    }
    static PORT: OnceLock<u16> = OnceLock::new();
    let port = *PORT.get_or_init(|| {
        // rumqttd binds inside its own thread and cannot report the port: find a free one and
        // release it just before; clients retry with backoff until the broker listens.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let server = rumqttd::ServerSettings {
            name: "v4".into(),
            listen: ([127, 0, 0, 1], port).into(),
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 64 * 1024,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = rumqttd::Config {
            router: rumqttd::RouterConfig {
                max_connections: 1000,
                max_outgoing_packet_count: 200,
                max_segment_size: 1024 * 1024,
                max_segment_count: 10,
                ..rumqttd::RouterConfig::default()
            },
            v4: Some(HashMap::from([("v4".to_string(), server)])),
            ..rumqttd::Config::default()
        };
        std::thread::spawn(move || {
            if let Err(e) = rumqttd::Broker::new(config).start() {
                eprintln!("embedded broker stopped: {e}");
            }
        });
        port
    });
    format!("mqtt://127.0.0.1:{port}")
}

/// Hal broker settings for simulators on the test broker, retrying fast while it starts.
pub fn sim_broker() -> lintel_hal::mqtt::BrokerSettings {
    let mut settings = lintel_hal::mqtt::BrokerSettings::new(broker_url());
    settings.reconnect_min_ms = 20;
    settings.reconnect_max_ms = 200;
    settings
}

/// A `[[broker]]` table named `name` for the test broker.
pub fn broker_toml(name: &str) -> String {
    format!(
        "\n[[broker]]\nname = \"{name}\"\nurl = \"{}\"\nclient_id = \"lintel-{}\"\nreconnect_min = \"20ms\"\nreconnect_max = \"200ms\"\n",
        broker_url(),
        std::process::id()
    )
}
