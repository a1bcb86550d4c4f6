//! A one-off connection check for `lintel doctor`: TCP, TLS when `mqtts://`, and the broker's
//! CONNACK (so wrong credentials show up too), then a clean disconnect.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, Packet};

use super::broker::BrokerSettings;
use crate::{Error, ErrorKind};

/// What went wrong, in the order a connection gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerStage {
    /// The address or the TLS files in the settings.
    Settings,
    /// TCP connect (DNS, routing, firewall, nothing listening).
    Connect,
    /// The TLS handshake (CA, certificate name, client certificate).
    Tls,
    /// The broker answered CONNECT with a refusal (credentials, authorisation, client id).
    Refused,
    /// No answer within the timeout.
    Timeout,
}

impl BrokerSettings {
    /// Connects once as `{client_id}-{suffix}` and waits for the broker's CONNACK.
    pub async fn check(&self, suffix: &str, timeout: Duration) -> Result<(), (BrokerStage, Error)> {
        let options = self
            .options(suffix)
            .map_err(|e| (BrokerStage::Settings, e))?;
        let (client, mut events) = AsyncClient::new(options, 4);
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        })
        .await;
        let result = match outcome {
            Err(_) => Err((
                BrokerStage::Timeout,
                Error::new(
                    ErrorKind::Timeout,
                    format!("no CONNACK from {} within {timeout:?}", self.url),
                ),
            )),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let stage = match &e {
                    ConnectionError::ConnectionRefused(_) | ConnectionError::NotConnAck(_) => {
                        BrokerStage::Refused
                    }
                    ConnectionError::Tls(_) => BrokerStage::Tls,
                    ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => {
                        BrokerStage::Timeout
                    }
                    _ => BrokerStage::Connect,
                };
                Err((
                    stage,
                    Error::new(ErrorKind::Unreachable, format!("{}: {e}", self.url)),
                ))
            }
        };
        if result.is_ok() {
            let _ = client.try_disconnect();
            // Let the DISCONNECT go out; errors after it are the connection closing.
            let _ = tokio::time::timeout(Duration::from_millis(500), events.poll()).await;
        }
        result
    }
}
