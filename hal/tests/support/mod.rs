//! An embedded rumqttd broker shared by the MQTT tests of one test binary.

use std::{collections::HashMap, net::TcpListener, sync::OnceLock};

use lintel_hal::mqtt::BrokerSettings;
use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Port of the broker, started on first use.
///
/// rumqttd binds its listener inside its own server thread and cannot report the bound
/// address, so a free port is found by binding 127.0.0.1:0, reading the port and releasing it
/// right before the broker binds it. Clients retry with backoff until it listens.
fn port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let server = ServerSettings {
            name: "v4".into(),
            listen: ([127, 0, 0, 1], port).into(),
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 64 * 1024,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            router: RouterConfig {
                max_connections: 1000,
                max_outgoing_packet_count: 200,
                max_segment_size: 1024 * 1024,
                max_segment_count: 10,
                ..RouterConfig::default()
            },
            v4: Some(HashMap::from([("v4".to_string(), server)])),
            ..Config::default()
        };
        std::thread::spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("embedded broker stopped: {e}");
            }
        });
        port
    })
}

/// Settings for the test broker, retrying fast while it starts: `$LINTEL_TEST_BROKER` (e.g.
/// `mqtt://127.0.0.1:18830`, a mosquitto that `.ci/run` starts) when set, else the embedded one.
pub fn broker() -> BrokerSettings {
    let url = match std::env::var("LINTEL_TEST_BROKER") {
        Ok(url) if !url.is_empty() => url,
        _ => format!("mqtt://127.0.0.1:{}", port()),
    };
    let mut settings = BrokerSettings::new(url);
    settings.reconnect_min_ms = 20;
    settings.reconnect_max_ms = 200;
    settings
}
