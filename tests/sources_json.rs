//! The generic JSON source's paging styles, auth kinds and modified-since parameter, against
//! small paging servers on loopback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lintel::config::secret::SecretRef;
use lintel::sources::fixtures::{Common, Running, basic_auth, serve};
use lintel::sources::http::HttpSettings;
use lintel::sources::json::{AuthKind, JsonSource, JsonSourceConfig, Paging, PagingStyle};
use lintel::sources::{PullKind, Source, SourceError};
use serde_json::{Value, json};

fn people(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({"id": format!("P-{i}"), "first_name": "Test", "last_name": format!("Person {i}"), "status": "current"}))
        .collect()
}

#[derive(Clone)]
struct Listing {
    people: Vec<Value>,
    /// Leave this offset out (a page that disappears).
    drop_at: Option<usize>,
}

async fn handler(
    State(listing): State<Arc<Mutex<Listing>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let listing = listing.lock().expect("lock").clone();
    let all = listing.people;
    let n = |k: &str, d: usize| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut items: Vec<Value>;
    let mut body = json!({});
    let mut link = None;
    if q.contains_key("page") {
        let (page, size) = (n("page", 1), n("per_page", 10));
        let start = ((page - 1) * size).min(all.len());
        items = all[start..(start + size).min(all.len())].to_vec();
    } else if q.contains_key("offset") {
        let (offset, size) = (n("offset", 0), n("limit", 10));
        let start = offset.min(all.len());
        items = all[start..(start + size).min(all.len())].to_vec();
        if listing.drop_at == Some(offset) {
            items.clear();
        }
        body["meta"] = json!({"total": all.len()});
    } else {
        // Cursor and link styles: 4 per page; the cursor is the next index.
        let start = n("cursor", n("from", 0)).min(all.len());
        let end = (start + 4).min(all.len());
        items = all[start..end].to_vec();
        if end < all.len() {
            body["next"] = json!(end.to_string());
            link = Some(format!("<http://{host}/r?from={end}>; rel=\"next\""));
        }
    }
    body["data"] = Value::Array(items);
    let mut response = axum::Json(body).into_response();
    if let Some(link) = link {
        response
            .headers_mut()
            .insert("link", link.parse().expect("header"));
    }
    response
}

fn start(people: Vec<Value>) -> (Running, Arc<Mutex<Listing>>) {
    let state = Arc::new(Mutex::new(Listing {
        people,
        drop_at: None,
    }));
    let app = Router::new()
        .route("/r", get(handler))
        .with_state(state.clone());
    (
        serve(app, Arc::new(Common::default())).expect("serve"),
        state,
    )
}

fn config(server: &Running, paging: Paging) -> JsonSourceConfig {
    JsonSourceConfig {
        records: "data".into(),
        paging,
        http: HttpSettings {
            retry_min: Duration::from_millis(1),
            retry_max: Duration::from_millis(5),
            ..HttpSettings::default()
        },
        ..JsonSourceConfig::new("json", format!("{}/r", server.base_url()))
    }
}

async fn pull(
    cfg: &JsonSourceConfig,
    kind: PullKind,
) -> Result<lintel::sources::Pull, SourceError> {
    JsonSource::new(cfg).expect("source").pull(kind).await
}

#[tokio::test]
async fn page_number_paging() {
    let (server, _) = start(people(23));
    let cfg = config(
        &server,
        Paging {
            style: PagingStyle::Page,
            size: 10,
            ..Paging::default()
        },
    );
    let p = pull(&cfg, PullKind::Full).await.expect("pull");
    assert_eq!(p.records.len(), 23);
    let pages: Vec<Option<String>> = server
        .common
        .log()
        .iter()
        .map(|r| r.param("page"))
        .collect();
    assert_eq!(
        pages,
        [Some("1".into()), Some("2".into()), Some("3".into())]
    );
}

#[tokio::test]
async fn offset_paging_checks_the_total() {
    let (server, state) = start(people(25));
    let cfg = config(
        &server,
        Paging {
            style: PagingStyle::Offset,
            size: 10,
            total: "meta.total".into(),
            ..Paging::default()
        },
    );
    assert_eq!(
        pull(&cfg, PullKind::Full)
            .await
            .expect("pull")
            .records
            .len(),
        25
    );
    state.lock().expect("lock").drop_at = Some(10);
    let err = pull(&cfg, PullKind::Full)
        .await
        .expect_err("a page vanished");
    assert!(matches!(err, SourceError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("ended after 10 records but the total says 25"),
        "{err}"
    );
}

#[tokio::test]
async fn cursor_and_link_paging() {
    let (server, _) = start(people(10));
    let cfg = config(
        &server,
        Paging {
            style: PagingStyle::Cursor,
            next_cursor: "next".into(),
            ..Paging::default()
        },
    );
    assert_eq!(
        pull(&cfg, PullKind::Full)
            .await
            .expect("cursor")
            .records
            .len(),
        10
    );
    let cursors: Vec<Option<String>> = server
        .common
        .log()
        .iter()
        .map(|r| r.param("cursor"))
        .collect();
    assert_eq!(cursors, [None, Some("4".into()), Some("8".into())]);

    server.common.reset();
    let cfg = config(
        &server,
        Paging {
            style: PagingStyle::Link,
            ..Paging::default()
        },
    );
    let p = pull(&cfg, PullKind::Full).await.expect("link");
    assert_eq!(p.records.len(), 10);
    assert_eq!(p.records[9].external_id, "P-10");
    assert_eq!(server.common.requests(), 3);
}

async fn guarded(State(expected): State<String>, headers: HeaderMap) -> Response {
    if headers.get("authorization").map(|v| v.as_bytes()) != Some(expected.as_bytes()) {
        return (axum::http::StatusCode::UNAUTHORIZED, "no").into_response();
    }
    axum::Json(json!({"data": people(2)})).into_response()
}

#[tokio::test]
async fn bearer_and_basic_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    std::fs::write(&path, "t0ken").expect("write");
    for (kind, username, expected) in [
        (AuthKind::Bearer, None, "Bearer t0ken".to_string()),
        (
            AuthKind::Basic,
            Some("svc".to_string()),
            basic_auth("svc", "t0ken"),
        ),
    ] {
        let app = Router::new().route("/r", get(guarded)).with_state(expected);
        let server = serve(app, Arc::new(Common::default())).expect("serve");
        let cfg = JsonSourceConfig {
            auth: Some(kind),
            username,
            secret: Some(SecretRef::File(path.clone())),
            ..config(&server, Paging::default())
        };
        cfg.validate().expect("valid");
        let p = pull(&cfg, PullKind::Full).await.expect("authorised");
        assert_eq!(p.records.len(), 2);
        let source = JsonSource::new(&cfg).expect("source");
        assert!(!format!("{source:?}").contains("t0ken"));
    }
}

#[tokio::test]
async fn since_param_makes_changes_pulls_changes_only() {
    let (server, _) = start(people(3));
    let cfg = JsonSourceConfig {
        since_param: Some("modified_since".into()),
        ..config(&server, Paging::default())
    };
    let since = "2026-03-10T12:00:00Z".parse().expect("ts");
    let p = pull(&cfg, PullKind::Changes { since }).await.expect("pull");
    assert!(p.changes_only);
    assert_eq!(
        server.common.log()[0].param("modified_since").as_deref(),
        Some("2026-03-10T12:00:00Z")
    );
    let p = pull(&cfg, PullKind::Full).await.expect("pull");
    assert!(!p.changes_only);
    assert_eq!(server.common.log()[1].param("modified_since"), None);

    // Without since_param a changes pull is a full one.
    let plain = config(&server, Paging::default());
    assert!(
        !pull(&plain, PullKind::Changes { since })
            .await
            .expect("pull")
            .changes_only
    );
}
