//! One MQTT client connection kept up in a background task: rumqttc's event loop reconnects
//! on every poll without delay, so failures here wait a capped exponential backoff instead, and
//! subscriptions are renewed after each connect (sessions are clean).

use rumqttc::{AsyncClient, Event, Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::broker::BrokerSettings;
use crate::Error;

/// Requests rumqttc may queue before `publish` waits.
const REQUEST_CAPACITY: usize = 64;

/// What the connection task calls; runs on the task, so it must not block.
pub(crate) trait Handler: Send + 'static {
    /// After each successful connect, once the subscriptions are requested.
    fn connected(&mut self, client: &AsyncClient);
    fn publish(&mut self, client: &AsyncClient, publish: Publish);
}

/// A live connection: publish through `client`; dropping it stops the task.
pub(crate) struct Link {
    pub client: AsyncClient,
    /// True once connected and subscribed (the broker acknowledged the subscriptions), so
    /// whoever waits on it will not miss messages published afterwards.
    pub connected: watch::Receiver<bool>,
    _stop: DropGuard,
}

impl Link {
    /// Starts connecting in the background; needs a tokio runtime.
    pub fn spawn(
        settings: &BrokerSettings,
        client_suffix: &str,
        subscriptions: Vec<(String, QoS)>,
        handler: impl Handler,
    ) -> Result<Link, Error> {
        Link::spawn_with_will(settings, client_suffix, subscriptions, handler, None)
    }

    /// As [`Link::spawn`], with a last will the broker publishes if the connection dies.
    pub fn spawn_with_will(
        settings: &BrokerSettings,
        client_suffix: &str,
        subscriptions: Vec<(String, QoS)>,
        mut handler: impl Handler,
        will: Option<rumqttc::LastWill>,
    ) -> Result<Link, Error> {
        let mut options = settings.options(client_suffix)?;
        if let Some(will) = will {
            options.set_last_will(will);
        }
        let (client, mut events) = AsyncClient::new(options, REQUEST_CAPACITY);
        // Every exchange is a small request waiting on a small reply (an esp-rfid board takes
        // one command at a time): Nagle's algorithm meeting delayed ACKs would add ~40 ms to
        // each.
        let mut network = events.network_options();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let (connected_tx, connected) = watch::channel(false);
        let stop = CancellationToken::new();
        let settings = settings.clone();
        let task_client = client.clone();
        let cancelled = stop.clone();
        tokio::spawn(async move {
            let client = task_client;
            let mut failures = 0u32;
            loop {
                let event = tokio::select! {
                    () = cancelled.cancelled() => break,
                    event = events.poll() => event,
                };
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        failures = 0;
                        if subscriptions.is_empty() {
                            connected_tx.send_replace(true);
                        } else if let Err(e) =
                            client.try_subscribe_many(subscriptions.iter().map(|(topic, qos)| {
                                rumqttc::SubscribeFilter::new(topic.clone(), *qos)
                            }))
                        {
                            tracing::warn!(error = %e, "mqtt: could not queue subscriptions");
                        }
                        handler.connected(&client);
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                            // Likely an ACL: nothing will arrive on that topic.
                            tracing::warn!(url = %settings.url, "mqtt: broker refused a subscription");
                        }
                        connected_tx.send_replace(true);
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        handler.publish(&client, publish)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        connected_tx.send_replace(false);
                        failures = failures.saturating_add(1);
                        let delay = settings.backoff(failures);
                        tracing::warn!(
                            url = %settings.url, error = %e, retry_in = ?delay,
                            "mqtt: broker connection failed"
                        );
                        tokio::select! {
                            () = cancelled.cancelled() => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
            // Dropping the event loop closes the socket; the broker sees the client leave.
        });
        Ok(Link {
            client,
            connected,
            _stop: stop.drop_guard(),
        })
    }
}
