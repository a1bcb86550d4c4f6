//! The opt-in Prometheus endpoint (`[metrics] listen`, loopback only): `GET /metrics` in the
//! text exposition format. Everything is read when scraped, from the same facts `lintel status`
//! shows, plus the per-controller batch counters and ack latency the driver decorator keeps.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::metered::LATENCY_BUCKETS;
use super::watchdog::Liveness;

#[derive(Clone)]
struct Ctx {
    engine: Arc<Engine>,
    liveness: Liveness,
    started: Instant,
}

pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    liveness: Liveness,
    started: Instant,
    shutdown: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Ctx {
            engine,
            liveness,
            started,
        });
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, "metrics endpoint listening");
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}

async fn scrape(State(ctx): State<Ctx>) -> impl IntoResponse {
    match render(&ctx.engine, &ctx.liveness, ctx.started) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot read the store: {e}\n"),
        ),
    }
}

/// A label value, escaped as the exposition format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

fn seconds(t: jiff::Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

pub fn render(
    engine: &Engine,
    liveness: &Liveness,
    started: Instant,
) -> Result<String, crate::store::StoreError> {
    let s = engine.status(started)?;
    let mut o = Out(String::new());

    o.family(
        "lintel_build_info",
        "gauge",
        "Always 1; the version is a label.",
    );
    o.sample("lintel_build_info", &[("version", &s.version)], 1);
    o.family(
        "lintel_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    o.sample("lintel_uptime_seconds", &[], s.uptime_s);
    o.family(
        "lintel_healthy",
        "gauge",
        "1 when lintel status would say OK, 0 when DEGRADED.",
    );
    o.sample("lintel_healthy", &[], u8::from(s.healthy));
    o.family(
        "lintel_core_loops_alive",
        "gauge",
        "1 while every core loop is idle or within its bound (what the systemd watchdog checks).",
    );
    o.sample(
        "lintel_core_loops_alive",
        &[],
        u8::from(liveness.check().is_ok()),
    );
    o.family(
        "lintel_alerts_open",
        "gauge",
        "Open alerts, as lintel status lists them.",
    );
    o.sample("lintel_alerts_open", &[], s.alerts.len());

    o.family("lintel_people", "gauge", "People in the store, by state.");
    for (state, n) in [
        ("total", s.people.total),
        ("active", s.people.active),
        ("disabled", s.people.disabled),
        ("pending_review", s.people.pending_review),
    ] {
        o.sample("lintel_people", &[("state", state)], n);
    }
    o.family(
        "lintel_credentials",
        "gauge",
        "Credentials issued (cards assigned to people).",
    );
    o.sample("lintel_credentials", &[], s.store.credentials);
    o.family(
        "lintel_store_size_bytes",
        "gauge",
        "Size of the store on disk.",
    );
    o.sample("lintel_store_size_bytes", &[], s.store.size_bytes);

    o.family(
        "lintel_source_enabled",
        "gauge",
        "1 when the source is pulled.",
    );
    for src in &s.sources {
        o.sample(
            "lintel_source_enabled",
            &[("source", &src.name), ("kind", &src.kind)],
            u8::from(src.enabled),
        );
    }
    o.family(
        "lintel_source_failing",
        "gauge",
        "1 when the source's last pull failed.",
    );
    for src in &s.sources {
        o.sample(
            "lintel_source_failing",
            &[("source", &src.name)],
            u8::from(src.last_error.is_some()),
        );
    }
    o.family(
        "lintel_source_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the source's last successful pass (absent before the first).",
    );
    for src in &s.sources {
        if let Some(at) = src.last_success_at {
            o.sample(
                "lintel_source_last_success_timestamp_seconds",
                &[("source", &src.name)],
                seconds(at),
            );
        }
    }
    o.family(
        "lintel_source_people_in_scope",
        "gauge",
        "Records the source's last successful pass kept in scope.",
    );
    for src in &s.sources {
        o.sample(
            "lintel_source_people_in_scope",
            &[("source", &src.name)],
            src.people_in_scope,
        );
    }

    o.family(
        "lintel_controller_online",
        "gauge",
        "1 when the controller answers.",
    );
    for c in &s.controllers {
        o.sample(
            "lintel_controller_online",
            &[("controller", &c.name), ("kind", &c.kind)],
            u8::from(c.online),
        );
    }
    o.family(
        "lintel_controller_queue_depth",
        "gauge",
        "Changes in the outbox waiting for the controller's acknowledgement.",
    );
    for c in &s.controllers {
        o.sample(
            "lintel_controller_queue_depth",
            &[("controller", &c.name)],
            c.pending_ops,
        );
    }
    o.family(
        "lintel_controller_credentials",
        "gauge",
        "Credentials the controller confirmed holding.",
    );
    for c in &s.controllers {
        o.sample(
            "lintel_controller_credentials",
            &[("controller", &c.name)],
            c.credentials,
        );
    }
    o.family(
        "lintel_controller_last_ack_timestamp_seconds",
        "gauge",
        "Unix time of the controller's last acknowledgement (absent before the first).",
    );
    for c in &s.controllers {
        if let Some(at) = c.last_ack_at {
            o.sample(
                "lintel_controller_last_ack_timestamp_seconds",
                &[("controller", &c.name)],
                seconds(at),
            );
        }
    }
    o.family(
        "lintel_controller_resync_remaining",
        "gauge",
        "Changes of the last resync not yet acknowledged (0 when none runs).",
    );
    for c in &s.controllers {
        let remaining = engine
            .resync_progress(&c.name)
            .map_or(0, |p| p.total - p.done.min(p.total));
        o.sample(
            "lintel_controller_resync_remaining",
            &[("controller", &c.name)],
            remaining,
        );
    }

    let counters: Vec<(String, super::metered::Counters)> = s
        .controllers
        .iter()
        .filter_map(|c| {
            engine
                .controller_ops
                .stats
                .get(&c.name)
                .map(|st| (c.name.clone(), st.counters()))
        })
        .collect();
    o.family(
        "lintel_controller_ops_confirmed_total",
        "counter",
        "Changes the controller confirmed since the daemon started.",
    );
    for (name, c) in &counters {
        o.sample(
            "lintel_controller_ops_confirmed_total",
            &[("controller", name)],
            c.ops_confirmed,
        );
    }
    o.family(
        "lintel_controller_batches_total",
        "counter",
        "Batches sent to the controller since the daemon started, by result.",
    );
    for (name, c) in &counters {
        o.sample(
            "lintel_controller_batches_total",
            &[("controller", name), ("result", "ok")],
            c.batches_ok,
        );
        o.sample(
            "lintel_controller_batches_total",
            &[("controller", name), ("result", "failed")],
            c.batches_failed,
        );
    }
    o.family(
        "lintel_controller_ack_latency_seconds",
        "histogram",
        "Time from sending a batch to the controller's acknowledgement of all of it.",
    );
    for (name, c) in &counters {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(c.latency_buckets) {
            o.sample(
                "lintel_controller_ack_latency_seconds_bucket",
                &[("controller", name), ("le", &bound.to_string())],
                count,
            );
        }
        o.sample(
            "lintel_controller_ack_latency_seconds_bucket",
            &[("controller", name), ("le", "+Inf")],
            c.latency_count,
        );
        o.sample(
            "lintel_controller_ack_latency_seconds_sum",
            &[("controller", name)],
            c.latency_sum_s,
        );
        o.sample(
            "lintel_controller_ack_latency_seconds_count",
            &[("controller", name)],
            c.latency_count,
        );
    }
    Ok(o.0)
}
