//! The demo building's built-in PMS: a small real HTTP server on loopback serving
//! `GET /residents` → `{"residents": [...]}`, shaped for the generic JSON source with its default
//! field map and `records = "residents"`. End-to-end tests use it as a fixture server too, so it
//! can also fail on demand, require an auth header and serve a raw body.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::ToSpan;
use jiff::civil::{Date, date};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running demo PMS. Dropping it stops the server (in the background); [`PmsServer::shutdown`]
/// stops it and waits.
pub struct PmsServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<Behaviour>,
    requests: AtomicU64,
}

#[derive(Default)]
struct Behaviour {
    residents: Vec<Value>,
    fail_with: Option<u16>,
    raw_body: Option<String>,
    required_header: Option<(String, String)>,
}

impl fmt::Debug for PmsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PmsServer")
            .field("addr", &self.addr)
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl PmsServer {
    /// Binds 127.0.0.1 on an ephemeral port and starts serving `residents`. Must be called from
    /// within a tokio runtime (an error otherwise).
    pub fn start(residents: Vec<Value>) -> std::io::Result<PmsServer> {
        PmsServer::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), residents)
    }

    /// Like [`PmsServer::start`], on a chosen address.
    pub fn start_on(addr: SocketAddr, residents: Vec<Value>) -> std::io::Result<PmsServer> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            std::io::Error::other("the demo PMS server must be started inside a tokio runtime")
        })?;
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(Behaviour {
                residents,
                ..Behaviour::default()
            }),
            requests: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/residents", get(residents_handler))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!("demo PMS server stopped: {e}");
            }
        });
        tracing::debug!(%addr, "demo PMS listening");
        Ok(PmsServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The full URL of the residents listing, e.g. `http://127.0.0.1:40123/residents`.
    pub fn url(&self) -> String {
        format!("http://{}/residents", self.addr)
    }

    /// How many requests `/residents` has received (answered, refused or failed).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The residents currently served.
    pub fn residents(&self) -> Vec<Value> {
        self.state().residents.clone()
    }

    /// Replaces the residents served.
    pub fn set_residents(&self, residents: Vec<Value>) {
        self.state().residents = residents;
    }

    /// Adds one resident at the end of the listing.
    pub fn push(&self, resident: Value) {
        self.state().residents.push(resident);
    }

    /// Removes every resident whose `id` (string or number) is `id`; true if any was removed.
    pub fn remove(&self, id: &str) -> bool {
        let mut state = self.state();
        let before = state.residents.len();
        state.residents.retain(|r| !has_id(r, id));
        state.residents.len() != before
    }

    /// Applies `change` to every resident whose `id` is `id`; true if any matched.
    pub fn update(&self, id: &str, mut change: impl FnMut(&mut Value)) -> bool {
        let mut state = self.state();
        let mut found = false;
        for resident in state.residents.iter_mut().filter(|r| has_id(r, id)) {
            change(resident);
            found = true;
        }
        found
    }

    /// `Some(status)`: answer every request with that HTTP status (and a small JSON error body)
    /// instead of the listing; `None`: back to normal.
    pub fn fail_with(&self, status: Option<u16>) {
        self.state().fail_with = status;
    }

    /// `Some(body)`: serve exactly this body (as `application/json`, status 200) instead of the
    /// listing, e.g. truncated or garbage JSON or another API's shape; `None`: back to normal.
    pub fn serve_raw(&self, body: Option<String>) {
        self.state().raw_body = body;
    }

    /// Requires header `name` to equal `value` exactly; otherwise the answer is 401.
    pub fn require_header(&self, name: &str, value: &str) {
        self.state().required_header = Some((name.to_string(), value.to_string()));
    }

    /// Stops requiring a header.
    pub fn clear_required_header(&self) {
        self.state().required_header = None;
    }

    /// Stops the server and waits until it has closed its listener and connections.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn state(&self) -> MutexGuard<'_, Behaviour> {
        lock(&self.shared)
    }
}

impl Drop for PmsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Behaviour> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn has_id(resident: &Value, id: &str) -> bool {
    match resident.get("id") {
        Some(Value::String(s)) => s == id,
        Some(Value::Number(n)) => n.to_string() == id,
        _ => false,
    }
}

async fn residents_handler(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let state = lock(&shared);
    if let Some((name, value)) = &state.required_header {
        let given = headers.get(name.as_str()).map(|v| v.as_bytes());
        if given != Some(value.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "unauthorized"})),
            )
                .into_response();
        }
    }
    if let Some(code) = state.fail_with {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            axum::Json(json!({"error": format!("demo PMS told to fail with {code}")})),
        )
            .into_response();
    }
    if let Some(body) = &state.raw_body {
        return ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response();
    }
    axum::Json(json!({"residents": state.residents})).into_response()
}

pub(crate) const FIRST_NAMES: [&str; 16] = [
    "Arlo", "Brisa", "Cato", "Delphine", "Emrys", "Fenna", "Galen", "Hollis", "Ione", "Jory",
    "Kestra", "Linnea", "Marlo", "Nerys", "Orrin", "Pell",
];

pub(crate) const LAST_NAMES: [&str; 15] = [
    "Ashgrove",
    "Brindlecombe",
    "Corriveau",
    "Dunmere",
    "Elderkin",
    "Farrowdale",
    "Glenmoor",
    "Hartwick",
    "Ivesdale",
    "Jessamine",
    "Kettleby",
    "Larchmont",
    "Mossbank",
    "Nethercott",
    "Oakhurst",
];

/// `count` deterministic synthetic residents (made-up names, `example.com` emails, fictional
/// `+1555010xxxx` phones), shaped for the JSON source's default field map. Ids are `R-1001`,
/// `R-1002`, …; units `101`–`412` (4 floors × 12, reused when `count` > 48); statuses are
/// mostly "current", every 12th "notice" (moving out in 2027) and every 12th "future" (moving in
/// in 2027).
pub fn demo_residents(count: usize) -> Vec<Value> {
    (0..count).map(demo_resident).collect()
}

fn demo_resident(i: usize) -> Value {
    let first = FIRST_NAMES[(i * 7) % FIRST_NAMES.len()];
    let last = LAST_NAMES[(i * 11 + i / LAST_NAMES.len()) % LAST_NAMES.len()];
    let number = 1001 + i;
    let floor = (i / 12) % 4 + 1;
    let unit = format!("{floor}{:02}", i % 12 + 1);
    let month = i8::try_from(i % 12 + 1).unwrap_or(1);
    let (status, lease_start, lease_end, move_out) = match i % 12 {
        5 => {
            let start = date(2025, month, 1);
            let end = date(2027, 1, 31);
            ("notice", start, end, Some(end))
        }
        11 => {
            let start = date(2027, (month % 3) + 1, 1);
            ("future", start, year_later(start), None)
        }
        _ => {
            let start = date(2025, month, 1);
            ("current", start, year_later(year_later(start)), None)
        }
    };
    json!({
        "id": format!("R-{number}"),
        "first_name": first,
        "last_name": last,
        "email": format!("{}.{}.{number}@example.com", first.to_lowercase(), last.to_lowercase()),
        "phone": format!("+1555010{:04}", i % 10_000),
        "unit": unit,
        "status": status,
        "lease_start": lease_start.to_string(),
        "lease_end": lease_end.to_string(),
        "move_in": lease_start.to_string(),
        "move_out": move_out.map(|d: Date| d.to_string()),
    })
}

/// The day before the same date a year later.
fn year_later(start: Date) -> Date {
    start
        .checked_add(1.year())
        .and_then(|d| d.checked_sub(1.day()))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_residents_are_deterministic_and_plausible() {
        let residents = demo_residents(60);
        assert_eq!(residents, demo_residents(60));
        assert_eq!(residents.len(), 60);
        assert_eq!(residents[0]["id"], "R-1001");
        assert_eq!(residents[59]["id"], "R-1060");
        assert_eq!(residents[0]["unit"], "101");
        assert_eq!(residents[47]["unit"], "412");
        let mut ids = std::collections::HashSet::new();
        let mut emails = std::collections::HashSet::new();
        for r in &residents {
            assert!(ids.insert(r["id"].as_str().expect("id").to_string()));
            let email = r["email"].as_str().expect("email");
            assert!(email.ends_with("@example.com"));
            assert!(emails.insert(email.to_string()));
            let phone = r["phone"].as_str().expect("phone");
            assert!(
                phone.starts_with("+1555010") && phone.len() == 12,
                "{phone}"
            );
            for key in ["lease_start", "lease_end", "move_in"] {
                let d: Date = r[key].as_str().expect(key).parse().expect("iso date");
                assert!((2025..=2027).contains(&d.year()), "{key} {d}");
            }
        }
        let count = |s: &str| residents.iter().filter(|r| r["status"] == s).count();
        assert_eq!(count("notice"), 5);
        assert_eq!(count("future"), 5);
        assert_eq!(count("current"), 50);
        // Not every resident shares a name.
        let names: std::collections::HashSet<_> = residents
            .iter()
            .map(|r| format!("{} {}", r["first_name"], r["last_name"]))
            .collect();
        assert!(names.len() > 40);
    }

    async fn get(url: &str, header: Option<(&str, &str)>) -> (u16, String) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut request = client.get(url);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    #[tokio::test]
    async fn serves_edits_fails_and_counts() {
        let server = PmsServer::start(demo_residents(3)).expect("start");
        assert!(server.url().starts_with("http://127.0.0.1:"));

        let (status, body) = get(&server.url(), None).await;
        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["residents"].as_array().expect("array").len(), 3);

        server.push(json!({"id": 7, "status": "current"}));
        assert!(server.remove("R-1002"));
        assert!(server.remove("7"));
        assert!(!server.remove("R-9999"));
        assert!(server.update("R-1001", |r| r["status"] = json!("past")));
        let residents = server.residents();
        assert_eq!(residents.len(), 2);
        assert_eq!(residents[0]["status"], "past");

        server.fail_with(Some(503));
        assert_eq!(get(&server.url(), None).await.0, 503);
        server.fail_with(None);

        server.require_header("X-Api-Key", "k");
        assert_eq!(get(&server.url(), None).await.0, 401);
        assert_eq!(get(&server.url(), Some(("X-Api-Key", "nope"))).await.0, 401);
        assert_eq!(get(&server.url(), Some(("x-api-key", "k"))).await.0, 200);
        server.clear_required_header();

        server.serve_raw(Some("{oops".into()));
        assert_eq!(get(&server.url(), None).await, (200, "{oops".to_string()));

        server.set_residents(vec![]);
        server.serve_raw(None);
        assert_eq!(get(&server.url(), None).await.1, r#"{"residents":[]}"#);
        assert_eq!(server.requests(), 7);

        let url = server.url();
        server.shutdown().await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        assert!(client.get(&url).send().await.is_err());
    }

    #[test]
    fn start_outside_a_runtime_is_an_error() {
        let err = PmsServer::start(vec![]).expect_err("no runtime");
        assert!(err.to_string().contains("tokio runtime"));
    }
}
