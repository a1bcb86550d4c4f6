//! The AppFolio adapter against the AppFolio fixture: Reports v2 paging and join, semicolon
//! emails, statuses, and v0 incremental pulls.

use std::time::Duration;

use lintel::config::secret::SecretRef;
use lintel::sources::appfolio::{AppFolioConfig, AppFolioSource, V0Config};
use lintel::sources::fixtures::Fault;
use lintel::sources::fixtures::appfolio::{self, AppFolioServer};
use lintel::sources::fixtures::basic_auth;
use lintel::sources::http::HttpSettings;
use lintel::sources::{PullKind, Source, SourceError};

fn config(server: &AppFolioServer, dir: &tempfile::TempDir, v0: bool) -> AppFolioConfig {
    let path = dir.path().join("appfolio.secret");
    std::fs::write(&path, appfolio::CLIENT_SECRET).expect("write");
    AppFolioConfig {
        http: HttpSettings {
            retry_min: Duration::from_millis(1),
            retry_max: Duration::from_millis(10),
            ..HttpSettings::default()
        },
        v0: v0.then(|| V0Config {
            developer_id: appfolio::DEVELOPER_ID.into(),
            base_url: server.base_url(),
            client_id: None,
            secret: None,
            page_size: 2,
        }),
        ..AppFolioConfig::new(
            "appfolio",
            &server.base_url(),
            appfolio::CLIENT_ID,
            SecretRef::File(path),
        )
    }
}

#[tokio::test]
async fn reports_are_paged_joined_and_mapped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AppFolioServer::start(appfolio::data(10)).expect("server");
    let source = AppFolioSource::new(&config(&server, &dir, false)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert!(!pull.changes_only);
    assert!(pull.skipped.is_empty(), "{:?}", pull.skipped);
    assert_eq!(pull.records.len(), 10);
    let statuses: Vec<&str> = pull.records.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "current", "current", "notice", "evicting", "future", "past", "current", "current",
            "notice", "evicting"
        ]
    );
    let first = &pull.records[0];
    assert_eq!(first.external_id, "3001");
    assert_eq!(
        first.email.as_deref(),
        Some("arlo.ashgrove.3001@example.com")
    );
    assert_eq!(first.phone.as_deref(), Some("+15550100000"));
    assert_eq!(first.unit.as_deref(), Some("101"));
    assert_eq!(first.lease_start, Some(jiff::civil::date(2025, 8, 1)));
    assert_eq!(
        pull.records[2].move_out,
        Some(jiff::civil::date(2035, 7, 31))
    );

    let log = server.common().log();
    // 10 rows in pages of 3: four pages of each report.
    assert_eq!(log.len(), 8);
    for request in &log {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.header("authorization"),
            Some(basic_auth(appfolio::CLIENT_ID, appfolio::CLIENT_SECRET).as_str())
        );
    }
    assert!(
        log[..4]
            .iter()
            .all(|r| r.uri.starts_with("/api/v2/reports/tenant_directory.json"))
    );
    assert!(
        log[4..]
            .iter()
            .all(|r| r.uri.starts_with("/api/v2/reports/rent_roll.json"))
    );
    assert_eq!(log[1].uri, "/api/v2/reports/tenant_directory.json?page=2");
}

#[tokio::test]
async fn without_v0_a_changes_pull_is_a_full_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AppFolioServer::start(appfolio::data(4)).expect("server");
    let source = AppFolioSource::new(&config(&server, &dir, false)).expect("source");
    let since = "2026-01-01T00:00:00Z".parse().expect("ts");
    let pull = source
        .pull(PullKind::Changes { since })
        .await
        .expect("pull");
    assert!(!pull.changes_only);
    assert_eq!(pull.records.len(), 4);
}

#[tokio::test]
async fn v0_incremental_pulls_keep_what_the_reports_said_and_hidden_means_past() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AppFolioServer::start(appfolio::data(6)).expect("server");
    let source = AppFolioSource::new(&config(&server, &dir, true)).expect("source");
    source.pull(PullKind::Full).await.expect("full pull first");
    {
        let mut data = server.data();
        data.v0[0]["HiddenAt"] = serde_json::json!("2026-03-10T12:05:00Z");
        data.v0[0]["LastUpdatedAt"] = serde_json::json!("2026-03-10T12:05:00Z");
        for i in 1..4 {
            data.v0[i]["LastUpdatedAt"] = serde_json::json!("2026-03-10T12:06:00Z");
            data.v0[i]["FirstName"] = serde_json::json!("Renamed");
        }
    }
    server.common().reset();
    let since = "2026-03-10T12:00:00Z".parse().expect("ts");
    let pull = source
        .pull(PullKind::Changes { since })
        .await
        .expect("changes");
    assert!(pull.changes_only);
    assert_eq!(pull.records.len(), 4);
    let hidden = &pull.records[0];
    assert_eq!(hidden.external_id, "3001");
    assert_eq!(hidden.status, "past");
    // Email and unit name come from the last full pull (v0 carries only UnitId).
    assert_eq!(
        hidden.email.as_deref(),
        Some("arlo.ashgrove.3001@example.com")
    );
    assert_eq!(hidden.unit.as_deref(), Some("101"));
    assert_eq!(pull.records[1].first_name, "Renamed");

    let log = server.common().log();
    assert_eq!(log.len(), 2, "4 changed tenants in pages of 2");
    for request in &log {
        assert_eq!(request.method, "GET");
        assert!(request.uri.starts_with("/api/v0/tenants?"));
        assert_eq!(
            request.header("x-appfolio-developer-id"),
            Some(appfolio::DEVELOPER_ID)
        );
        assert_eq!(
            request.param("filters[LastUpdatedAtFrom]").as_deref(),
            Some("2026-03-10T12:00:00Z")
        );
    }
    assert_eq!(log[1].param("page[number]").as_deref(), Some("2"));
}

#[tokio::test]
async fn a_next_page_url_to_another_host_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AppFolioServer::start(appfolio::data(4)).expect("server");
    server.common().fault_on(
        1,
        Fault::RawBody(r#"{"results": [], "next_page_url": "https://elsewhere.example/api/v2/reports/tenant_directory.json?page=2"}"#.into()),
    );
    let source = AppFolioSource::new(&config(&server, &dir, false)).expect("source");
    let err = source.pull(PullKind::Full).await.expect_err("other host");
    assert!(matches!(err, SourceError::Body { .. }), "{err}");
    assert!(err.to_string().contains("another host"), "{err}");
    assert_eq!(server.common().requests(), 1);
}

#[tokio::test]
async fn a_failed_page_fails_the_pull() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = AppFolioServer::start(appfolio::data(10)).expect("server");
    server.common().fault_on(3, Fault::Status(404));
    let source = AppFolioSource::new(&config(&server, &dir, false)).expect("source");
    let err = source.pull(PullKind::Full).await.expect_err("404");
    assert!(
        matches!(err, SourceError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("page=3"), "{err}");
}
