//! How to reach an MQTT broker, as it appears in config, and the reconnect backoff.

use std::{fmt, path::PathBuf, time::Duration};

use rumqttc::{MqttOptions, TlsConfiguration, Transport};

use crate::{Error, ErrorKind};

/// One broker. The password is not part of the serialised form: the caller loads it from a
/// secret and sets [`BrokerSettings::password`]; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// `mqtt://host[:port]` (default port 1883) or `mqtts://host[:port]` (TLS, default 8883).
    pub url: String,
    /// Client id prefix; each controller connects as `{client_id}-{controller}`, because a
    /// broker disconnects a client when another connects with the same id.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    #[serde(default = "default_keepalive_s")]
    pub keepalive_s: u64,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(skip)]
    pub password: Option<String>,
    /// PEM CA bundle to verify the broker; without it, `mqtts` uses the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS (both or neither).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
}

fn default_client_id() -> String {
    "lintel".into()
}

fn default_keepalive_s() -> u64 {
    30
}

fn default_reconnect_min_ms() -> u64 {
    500
}

fn default_reconnect_max_ms() -> u64 {
    60_000
}

impl fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("keepalive_s", &self.keepalive_s)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("reconnect_min_ms", &self.reconnect_min_ms)
            .field("reconnect_max_ms", &self.reconnect_max_ms)
            .finish()
    }
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

/// The broker address from a settings URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl BrokerSettings {
    /// Plain MQTT to `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        BrokerSettings {
            url: url.into(),
            client_id: default_client_id(),
            keepalive_s: default_keepalive_s(),
            username: None,
            password: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
        }
    }

    pub(crate) fn endpoint(&self) -> Result<Endpoint, Error> {
        let (tls, rest) = if let Some(rest) = self.url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = self.url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(config(format!(
                "url = `{}` must start with mqtt:// or mqtts://",
                self.url
            )));
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            // A bracketed IPv6 literal without a port ends in ']'.
            Some((host, port)) if !port.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| config(format!("url = `{}`: `{port}` is not a port", self.url)))?;
                (host, port)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(config(format!("url = `{}` has no usable host", self.url)));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
            tls,
        })
    }

    /// Checks everything that can be checked without the network; the error names the key.
    pub fn validate(&self) -> Result<(), Error> {
        let endpoint = self.endpoint()?;
        if self.client_id.is_empty() || self.client_id.len() > 200 {
            return Err(config("client_id must be 1–200 characters".into()));
        }
        if self.keepalive_s == 0 || self.keepalive_s > 65_535 {
            return Err(config(format!(
                "keepalive_s = {} must be 1–65535",
                self.keepalive_s
            )));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(config("a password needs a username".into()));
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            return Err(config(
                "client_cert_file and client_key_file go together (mutual TLS needs both)".into(),
            ));
        }
        let tls_files = self.ca_file.is_some() || self.client_cert_file.is_some();
        if tls_files && !endpoint.tls {
            return Err(config(format!(
                "ca_file/client_cert_file are set but url = `{}` is not mqtts://",
                self.url
            )));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(config(format!(
                "reconnect_min_ms = {} must be above 0 and at most reconnect_max_ms = {}",
                self.reconnect_min_ms, self.reconnect_max_ms
            )));
        }
        Ok(())
    }

    /// rumqttc options for one client; reads the TLS files.
    pub(crate) fn options(&self, client_suffix: &str) -> Result<MqttOptions, Error> {
        self.validate()?;
        let endpoint = self.endpoint()?;
        let client_id = format!("{}-{client_suffix}", self.client_id);
        let mut options = MqttOptions::new(client_id, endpoint.host, endpoint.port);
        options.set_keep_alive(Duration::from_secs(self.keepalive_s));
        // The esp-rfid limit is 2047 bytes; list replies are single users. Leave room.
        options.set_max_packet_size(64 * 1024, 64 * 1024);
        if let Some(username) = &self.username {
            options.set_credentials(username.clone(), self.password.clone().unwrap_or_default());
        }
        if endpoint.tls {
            // rumqttc is built without a provider; it uses the process default, which must be set.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let read = |path: &PathBuf, key: &str| {
                std::fs::read(path)
                    .map_err(|e| config(format!("{key} = {}: cannot read: {e}", path.display())))
            };
            let client_auth = match (&self.client_cert_file, &self.client_key_file) {
                (Some(cert), Some(key)) => Some((
                    read(cert, "client_cert_file")?,
                    read(key, "client_key_file")?,
                )),
                _ => None,
            };
            let transport = match &self.ca_file {
                Some(ca) => Transport::tls_with_config(TlsConfiguration::Simple {
                    ca: read(ca, "ca_file")?,
                    alpn: None,
                    client_auth,
                }),
                None if client_auth.is_some() => {
                    return Err(config(
                        "mutual TLS needs ca_file too (the broker's CA)".into(),
                    ));
                }
                None => Transport::tls_with_default_config(),
            };
            options.set_transport(transport);
        }
        Ok(options)
    }

    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        backoff(
            failures,
            Duration::from_millis(self.reconnect_min_ms),
            Duration::from_millis(self.reconnect_max_ms),
        )
    }
}

/// Delay before reconnect attempt number `failures` (1 = after the first failure): `min`
/// doubled per earlier failure, capped at `max`, so a broker that is down is not flooded.
pub fn backoff(failures: u32, min: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    min.saturating_mul(1u32 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let delays: Vec<u64> = (1..=10)
            .map(|n| backoff(n, min, max).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000
            ]
        );
        assert_eq!(backoff(u32::MAX, min, max), max);
        assert_eq!(backoff(0, min, max), min);
    }

    #[test]
    fn urls() {
        let ep = |u: &str| BrokerSettings::new(u).endpoint();
        assert_eq!(
            ep("mqtt://broker.local").ok(),
            Some(Endpoint {
                host: "broker.local".into(),
                port: 1883,
                tls: false
            })
        );
        assert_eq!(
            ep("mqtts://10.0.0.2:8884/").ok(),
            Some(Endpoint {
                host: "10.0.0.2".into(),
                port: 8884,
                tls: true
            })
        );
        assert_eq!(
            ep("mqtts://[::1]").ok().map(|e| (e.host, e.port)),
            Some(("::1".into(), 8883))
        );
        assert_eq!(ep("mqtt://[::1]:1884").ok().map(|e| e.port), Some(1884));
        for bad in ["tcp://x:1883", "mqtt://", "mqtt://x:port", "broker:1883"] {
            assert_eq!(
                ep(bad).err().map(|e| e.kind()),
                Some(ErrorKind::Config),
                "{bad}"
            );
        }
    }

    #[test]
    fn validate_names_the_key() {
        let with = |f: fn(&mut BrokerSettings)| {
            let mut s = BrokerSettings::new("mqtt://localhost");
            f(&mut s);
            s.validate()
                .err()
                .map(|e| e.message().to_string())
                .unwrap_or_default()
        };
        assert_eq!(with(|_| {}), "");
        assert!(with(|s| s.keepalive_s = 0).contains("keepalive_s"));
        assert!(with(|s| s.password = Some("x".into())).contains("username"));
        assert!(with(|s| s.client_cert_file = Some("c.pem".into())).contains("client_key_file"));
        assert!(with(|s| s.ca_file = Some("ca.pem".into())).contains("mqtts"));
        assert!(with(|s| s.reconnect_min_ms = 0).contains("reconnect_min_ms"));
    }

    #[test]
    fn password_never_shows() {
        let mut s = BrokerSettings::new("mqtt://localhost");
        s.username = Some("lintel".into());
        s.password = Some("hunter2".into());
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("redacted"),
            "{shown}"
        );
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(!json.contains("hunter2"), "{json}");
        let parsed: BrokerSettings =
            serde_json::from_str(r#"{"url":"mqtts://b:8883","username":"u"}"#).expect("parse");
        assert_eq!(parsed.keepalive_s, 30);
        assert!(serde_json::from_str::<BrokerSettings>(r#"{"url":"x","pass":"y"}"#).is_err());
    }
}
