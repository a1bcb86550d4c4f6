//! The Buildium adapter against the Buildium fixture on loopback: paging, incremental pulls,
//! statuses, auth, rate limiting and incomplete listings.

use std::time::Duration;

use lintel::config::secret::SecretRef;
use lintel::sources::buildium::{BuildiumConfig, BuildiumSource};
use lintel::sources::fixtures::Fault;
use lintel::sources::fixtures::buildium::{self, BuildiumServer, Lease, tenant};
use lintel::sources::http::HttpSettings;
use lintel::sources::{PullKind, Source, SourceError};

fn secret_file(dir: &tempfile::TempDir, value: &str) -> SecretRef {
    let path = dir.path().join("buildium.secret");
    std::fs::write(&path, format!("{value}\n")).expect("write secret");
    SecretRef::File(path)
}

fn config(server: &BuildiumServer, dir: &tempfile::TempDir) -> BuildiumConfig {
    BuildiumConfig {
        page_size: 7,
        http: HttpSettings {
            retry_min: Duration::from_millis(1),
            retry_max: Duration::from_millis(20),
            ..HttpSettings::default()
        },
        ..BuildiumConfig::new(
            "buildium",
            &server.base_url(),
            buildium::CLIENT_ID,
            secret_file(dir, buildium::CLIENT_SECRET),
        )
    }
}

#[tokio::test]
async fn a_full_pull_pages_in_a_stable_order_with_both_auth_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(30)).expect("server");
    let source = BuildiumSource::new(&config(&server, &dir)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert!(!pull.changes_only);
    assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
    // Past leases (every 10th tenant) are not asked for in a full pull.
    assert_eq!(pull.records.len(), 27);
    let ids: Vec<&str> = pull
        .records
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "orderby=Id asc keeps pages stable");

    let log = server.common().log();
    assert_eq!(log.len(), 4, "27 tenants in pages of 7");
    for (i, request) in log.iter().enumerate() {
        assert_eq!(request.method, "GET");
        assert!(
            request.uri.starts_with("/v1/leases/tenants?"),
            "{}",
            request.uri
        );
        assert_eq!(request.param("limit").as_deref(), Some("7"));
        assert_eq!(request.param("offset"), Some((i * 7).to_string()));
        assert_eq!(request.param("orderby").as_deref(), Some("Id asc"));
        let statuses: Vec<String> = request
            .query()
            .into_iter()
            .filter(|(k, _)| k == "leasetermstatuses")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(statuses, ["Active", "Future"]);
        assert_eq!(request.param("lastupdatedfrom"), None);
        assert_eq!(
            request.header("x-buildium-client-id"),
            Some(buildium::CLIENT_ID)
        );
        assert_eq!(
            request.header("x-buildium-client-secret"),
            Some(buildium::CLIENT_SECRET)
        );
    }

    let status = |id: &str| {
        pull.records
            .iter()
            .find(|r| r.external_id == id)
            .map(|r| r.status.clone())
            .expect(id)
    };
    assert_eq!(status("1001"), "current");
    assert_eq!(status("1004"), "notice");
    assert_eq!(status("1006"), "evicting");
    assert_eq!(status("1008"), "future");
    let notice = pull
        .records
        .iter()
        .find(|r| r.external_id == "1004")
        .expect("1004");
    assert_eq!(notice.move_out, Some(jiff::civil::date(2035, 7, 31)));
}

#[tokio::test]
async fn an_incremental_pull_asks_lastupdatedfrom_and_is_changes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut listing = buildium::tenants(12);
    let mut moved = Lease::active(77, "909");
    moved.status = "Past".into();
    moved.tenant_status = "MovedOut".into();
    moved.updated = "2026-03-10T12:30:00Z".into();
    listing.push(tenant(2001, "Test", "Mover", &[moved]));
    let server = BuildiumServer::start(listing).expect("server");
    let source = BuildiumSource::new(&config(&server, &dir)).expect("source");

    let since: jiff::Timestamp = "2026-03-10T12:00:00Z".parse().expect("ts");
    let pull = source
        .pull(PullKind::Changes { since })
        .await
        .expect("pull");
    assert!(pull.changes_only);
    assert_eq!(pull.records.len(), 1, "only the tenant updated since");
    assert_eq!(pull.records[0].external_id, "2001");
    assert_eq!(pull.records[0].status, "past");
    let request = &server.common().log()[0];
    assert_eq!(
        request.param("lastupdatedfrom").as_deref(),
        Some("2026-03-10T12:00:00Z")
    );
    let statuses: Vec<String> = request
        .query()
        .into_iter()
        .filter(|(k, _)| k == "leasetermstatuses")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        statuses,
        ["Active", "Past", "Future"],
        "a lease turning Past must be seen"
    );

    // Nothing changed: an empty, successful changes-only pull.
    let later: jiff::Timestamp = "2026-03-11T00:00:00Z".parse().expect("ts");
    let pull = source
        .pull(PullKind::Changes { since: later })
        .await
        .expect("pull");
    assert!(pull.changes_only && pull.records.is_empty());
}

#[tokio::test]
async fn cosigners_and_bad_records_are_skipped_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut listing = buildium::tenants(5);
    let mut cosigned = Lease::active(50, "101");
    cosigned.as_cosigner = true;
    listing.push(tenant(3001, "Co", "Signer", &[cosigned]));
    let mut wrong = tenant(3002, "Wrong", "Types", &[Lease::active(51, "102")]);
    wrong["Email"] = serde_json::json!(["not", "a", "string"]);
    listing.push(wrong);
    let server = BuildiumServer::start(listing).expect("server");
    let source = BuildiumSource::new(&config(&server, &dir)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert_eq!(pull.records.len(), 5);
    let skipped: Vec<_> = pull
        .skipped
        .iter()
        .map(|s| (s.external_id.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (Some("3001"), "cosigner on lease 50, not an occupant"),
            (Some("3002"), "Email: expected a string, found an array"),
        ]
    );
}

#[tokio::test]
async fn many_property_ids_are_chunked_under_the_query_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(3)).expect("server");
    let cfg = BuildiumConfig {
        property_ids: (1_000_000..1_000_400).chain([7]).collect(),
        ..config(&server, &dir)
    };
    let source = BuildiumSource::new(&cfg).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert_eq!(pull.records.len(), 3);
    let log = server.common().log();
    assert!(log.len() > 1, "401 property ids need more than one query");
    assert!(log.iter().all(|r| r.uri.len() < 4096));
}

#[tokio::test]
async fn a_429_is_retried_and_the_pull_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(10)).expect("server");
    server
        .common()
        .fault_on(1, Fault::RateLimited { retry_after: None });
    server.common().fault_on(
        3,
        Fault::RateLimited {
            retry_after: Some("0".into()),
        },
    );
    let source = BuildiumSource::new(&config(&server, &dir)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert_eq!(pull.records.len(), 9);
    assert_eq!(server.common().requests(), 4);
}

#[tokio::test]
async fn a_missing_or_short_page_fails_the_whole_pull() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(30)).expect("server");
    let source = BuildiumSource::new(&config(&server, &dir)).expect("source");

    server.common().fault_on(2, Fault::Status(404));
    let err = source.pull(PullKind::Full).await.expect_err("404 page");
    assert!(
        matches!(err, SourceError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("offset=7"), "{err}");

    server.common().reset();
    server.common().fault_on(3, Fault::ShortPage(2));
    let err = source.pull(PullKind::Full).await.expect_err("short page");
    assert!(matches!(err, SourceError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "the page at offset 14 held 2 tenants where 7 were expected (X-Total-Count 27)"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_401_and_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(3)).expect("server");
    let other = tempfile::tempdir().expect("tempdir");
    let cfg = BuildiumConfig {
        secret: secret_file(&other, "wrong-secret-value"),
        ..config(&server, &dir)
    };
    let source = BuildiumSource::new(&cfg).expect("source");
    assert!(!format!("{source:?}").contains("wrong-secret-value"));
    let err = source.pull(PullKind::Full).await.expect_err("401");
    assert!(
        matches!(err, SourceError::Status { status: 401, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-secret-value"));
    assert_eq!(server.common().requests(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn paths_are_case_sensitive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = BuildiumServer::start(buildium::tenants(3)).expect("server");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/v1/Leases/Tenants", server.base_url()))
        .header("x-buildium-client-id", buildium::CLIENT_ID)
        .header("x-buildium-client-secret", buildium::CLIENT_SECRET)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 404);
    drop(dir);
}
