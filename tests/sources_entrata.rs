//! The Entrata adapter against the Entrata fixture: the RPC envelope, both auth styles, paging,
//! date-window incremental pulls, and the documented gotchas.

use std::time::Duration;

use lintel::config::secret::SecretRef;
use lintel::sources::entrata::{EntrataAuth, EntrataConfig, EntrataSource};
use lintel::sources::fixtures::entrata::{self, EntrataServer, customer, lease};
use lintel::sources::fixtures::{Fault, basic_auth};
use lintel::sources::http::HttpSettings;
use lintel::sources::{PullKind, Source, SourceError};
use serde_json::json;

fn secret(dir: &tempfile::TempDir, value: &str) -> SecretRef {
    let path = dir.path().join("entrata.secret");
    std::fs::write(&path, value).expect("write");
    SecretRef::File(path)
}

fn config(server: &EntrataServer, dir: &tempfile::TempDir) -> EntrataConfig {
    EntrataConfig {
        per_page: 5,
        http: HttpSettings {
            retry_min: Duration::from_millis(1),
            retry_max: Duration::from_millis(10),
            ..HttpSettings::default()
        },
        ..EntrataConfig::new(
            "entrata",
            &server.basic_base(),
            entrata::USERNAME,
            secret(dir, entrata::PASSWORD),
            &["100"],
        )
    }
}

#[tokio::test]
async fn a_full_pull_speaks_the_envelope_and_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(12)).expect("server");
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert!(!pull.changes_only);
    // 12 leases, 2 of them past (not asked for): 10 primaries and the roommates of leases
    // 0, 3, 6, 9; their guarantors skipped.
    let statuses: Vec<&str> = pull.records.iter().map(|r| r.status.as_str()).collect();
    assert!(!statuses.contains(&"past"), "{statuses:?}");
    assert_eq!(pull.records.len(), 14, "{:?}", pull.records);
    assert!(
        pull.skipped
            .iter()
            .all(|s| s.reason == "guarantor is not an occupant")
    );
    assert_eq!(pull.skipped.len(), 4);
    let first = &pull.records[0];
    assert_eq!(first.external_id, "2000");
    assert_eq!(
        first.email.as_deref(),
        Some("ione.glenmoor.2000@example.com")
    );
    assert_eq!(
        first.phone.as_deref(),
        Some("+15550102000"),
        "the mobile number"
    );
    assert_eq!(first.unit.as_deref(), Some("100"));
    assert_eq!(first.move_in, Some(jiff::civil::date(2025, 8, 1)));
    assert_eq!(
        first.lease_start,
        Some(jiff::civil::date(2025, 8, 1)),
        "the latest interval"
    );
    assert_eq!(first.lease_end, Some(jiff::civil::date(2035, 7, 31)));

    let log = server.common().log();
    assert_eq!(
        log.len(),
        3,
        "10 leases in pages of 5: two full pages, then an empty one"
    );
    for (i, request) in log.iter().enumerate() {
        assert_eq!(request.method, "POST");
        assert_eq!(request.param("page_no"), Some((i + 1).to_string()));
        assert_eq!(request.param("per_page").as_deref(), Some("5"));
        assert_eq!(request.header("x-send-pagination-links"), Some("1"));
        assert_eq!(
            request.header("authorization"),
            Some(basic_auth(entrata::USERNAME, entrata::PASSWORD).as_str())
        );
        let body = request.json();
        assert_eq!(body["auth"]["type"], "basic");
        assert_eq!(body["method"]["name"], "getLeases");
        assert_eq!(body["method"]["version"], "r2");
        assert_eq!(body["method"]["params"]["propertyId"], "100");
        assert_eq!(body["method"]["params"]["leaseStatusTypeIds"], "3,4,5");
    }
}

#[tokio::test]
async fn the_api_key_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(3)).expect("server");
    let cfg = EntrataConfig {
        auth: EntrataAuth::ApiKey,
        username: None,
        base_url: Some(server.key_base()),
        secret: secret(&key_dir, entrata::API_KEY),
        ..config(&server, &dir)
    };
    let pull = EntrataSource::new(&cfg)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    assert_eq!(pull.records.len(), 4);
    let request = &server.common().log()[0];
    assert_eq!(request.header("x-api-key"), Some(entrata::API_KEY));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.json()["auth"]["type"], "apikey");
}

#[tokio::test]
async fn mixed_ids_single_objects_cancelled_roommates_and_month_to_month() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut l = lease("8001", "4", "305", vec![]);
    l["customers"] = json!({"customer": customer(9001, "Primary", "Current")});
    let mut roommate = customer(9002, "Responsible", "Cancelled");
    roommate["id"] = json!("9002");
    l["customers"]["customer"] = json!([l["customers"]["customer"].clone(), roommate]);
    l["leaseStatusTypeId"] = json!(4);
    l["isMonthToMonth"] = json!(1);
    l["leaseIntervals"] =
        json!({"leaseInterval": {"id": 3, "startDate": "01/01/2020", "endDate": "12/31/2020"}});
    let server = EntrataServer::start(vec![l]).expect("server");
    let cfg = EntrataConfig {
        lease_status_type_ids: None,
        ..config(&server, &dir)
    };
    let pull = EntrataSource::new(&cfg)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    assert_eq!(pull.records.len(), 2, "{:?}", pull.skipped);
    assert_eq!(pull.records[0].external_id, "9001");
    assert_eq!(pull.records[0].status, "current");
    assert_eq!(pull.records[0].lease_end, None, "month to month: no end");
    assert_eq!(
        pull.records[0].lease_start,
        Some(jiff::civil::date(2020, 1, 1))
    );
    assert_eq!(pull.records[1].external_id, "9002");
    assert_eq!(
        pull.records[1].status, "cancelled",
        "a removed roommate gets no access"
    );
}

#[tokio::test]
async fn incremental_pulls_use_date_windows_in_the_property_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(6)).expect("server");
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("America/Denver").expect("tz"))
        .date();
    let mdy = |d: jiff::civil::Date| d.strftime("%m/%d/%Y").to_string();
    // A lease given notice today (its event date), the rest untouched since 2025.
    assert!(server.update("7001", |l| {
        l["leaseStatusTypeId"] = json!("5");
        l["_eventDate"] = json!(mdy(today));
    }));
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");
    let since = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    let pull = source
        .pull(PullKind::Changes { since })
        .await
        .expect("pull");
    assert!(pull.changes_only);
    assert_eq!(pull.records.len(), 1, "{:?}", pull.records);
    assert_eq!(pull.records[0].external_id, "2010");
    assert_eq!(pull.records[0].status, "notice");

    let log = server.common().log();
    let windows: Vec<Vec<String>> = log
        .iter()
        .map(|r| {
            let params = r.json()["method"]["params"].clone();
            let mut keys: Vec<String> = params
                .as_object()
                .expect("params")
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        })
        .collect();
    assert_eq!(
        windows,
        [
            ["moveInDateFrom", "moveInDateTo", "propertyId"],
            ["moveOutDateFrom", "moveOutDateTo", "propertyId"],
            ["eventDateFrom", "eventDateTo", "propertyId"],
        ]
    );
    let params = log[2].json()["method"]["params"].clone();
    let yesterday = today.checked_sub(jiff::ToSpan::day(1)).expect("date");
    assert!(
        params["eventDateFrom"] == mdy(yesterday)
            || params["eventDateFrom"]
                == mdy(today.checked_sub(jiff::ToSpan::days(2)).expect("date")),
        "{params}"
    );
    assert_eq!(params["eventDateTo"], mdy(today));
}

#[tokio::test]
async fn an_error_in_the_envelope_fails_the_pull_despite_http_200() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(3)).expect("server");
    server.common().fault_on(
        1,
        Fault::RawBody(r#"{"response": {"requestId": "1", "code": 301, "error": {"code": 301, "message": "Method not allowed for this user"}}}"#.into()),
    );
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");
    let err = source.pull(PullKind::Full).await.expect_err("envelope");
    assert!(matches!(err, SourceError::Api { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("envelope code 301 (Method not allowed for this user)"),
        "{err}"
    );
}

#[tokio::test]
async fn quota_reset_header_is_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(3)).expect("server");
    let now = jiff::Timestamp::now().as_second();
    server.common().fault_on(1, Fault::RateLimitReset(now - 5));
    server
        .common()
        .fault_on(2, Fault::RateLimitReset(now + 86_400));
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");
    // Reset already passed: retried at once, then told to wait a day: fails now.
    let err = source.pull(PullKind::Full).await.expect_err("quota");
    assert!(err.to_string().contains("more than retry_max"), "{err}");
    assert_eq!(server.common().requests(), 2);
}
