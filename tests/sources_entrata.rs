//! The Entrata adapter against the Entrata fixture: the RPC envelope, both auth styles, the
//! status map read from `getLeasePickList` each pass, paging, date-window incremental pulls, and
//! the documented gotchas.

use std::time::Duration;

use lintel::config::secret::SecretRef;
use lintel::sources::entrata::{EntrataAuth, EntrataConfig, EntrataSource};
use lintel::sources::fixtures::entrata::{self, EntrataServer, customer, lease, lease_status_type};
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
        4,
        "the pick list, then 10 leases in pages of 5: two full pages, then an empty one"
    );
    let pick = log[0].json();
    assert_eq!(pick["method"]["name"], "getLeasePickList");
    assert_eq!(pick["method"]["version"], "r1");
    assert_eq!(pick["auth"]["type"], "basic");
    assert_eq!(log[0].param("page_no"), None);
    assert_eq!(
        log[0].header("authorization"),
        Some(basic_auth(entrata::USERNAME, entrata::PASSWORD).as_str())
    );
    for (i, request) in log[1..].iter().enumerate() {
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
    assert_eq!(log[0].json()["method"]["name"], "getLeasePickList");
    let windows: Vec<Vec<String>> = log[1..]
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
            // The page after the short one, confirming the end.
            ["eventDateFrom", "eventDateTo", "propertyId"],
        ]
    );
    let params = log[3].json()["method"]["params"].clone();
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
    // Request 2: the first getLeases page, after the pick list.
    server.common().fault_on(
        2,
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

#[tokio::test]
async fn the_pick_list_read_each_pass_decides_the_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(vec![
        lease(
            "8101",
            "11",
            "101",
            vec![customer(9101, "Primary", "Current")],
        ),
        lease(
            "8102",
            "12",
            "102",
            vec![customer(9102, "Primary", "Current")],
        ),
        lease(
            "8103",
            "13",
            "103",
            vec![customer(9103, "Primary", "Current")],
        ),
        lease(
            "8104",
            "14",
            "104",
            vec![customer(9104, "Primary", "Current")],
        ),
        lease(
            "8105",
            "4",
            "105",
            vec![customer(9105, "Primary", "Current")],
        ),
    ])
    .expect("server");
    // This account numbers its statuses its own way; 4 is not one of them.
    server.set_lease_status_types(vec![
        lease_status_type(11, "Current", "Active"),
        lease_status_type(12, "Notice", "Active"),
        lease_status_type(13, "Past", "Completed"),
        lease_status_type(14, "Holdover", "Active"),
    ]);
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");
    let pull = source.pull(PullKind::Full).await.expect("pull");
    let got: Vec<(&str, &str)> = pull
        .records
        .iter()
        .map(|r| (r.external_id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(got, [("9101", "current"), ("9102", "notice")]);
    assert_eq!(
        server.common().log()[1].json()["method"]["params"]["leaseStatusTypeIds"],
        "11,12",
        "a full pull asks for the ids the pick list names live"
    );

    // The next pass reads the pick list again: 11 now means Notice.
    server.set_lease_status_types(vec![
        lease_status_type(11, "Notice", "Active"),
        lease_status_type(12, "Notice", "Active"),
    ]);
    let pull = source.pull(PullKind::Full).await.expect("pull");
    assert_eq!(pull.records[0].external_id, "9101");
    assert_eq!(pull.records[0].status, "notice");

    // Every lease asked for: names lintel does not know and ids the pick list lacks are skipped
    // with the reason, unless status_ids maps them.
    server.set_lease_status_types(vec![
        lease_status_type(11, "Current", "Active"),
        lease_status_type(13, "Past", "Completed"),
        lease_status_type(14, "Holdover", "Active"),
    ]);
    let every = EntrataConfig {
        lease_status_type_ids: Some(["11", "12", "13", "14", "4"].map(String::from).to_vec()),
        ..config(&server, &dir)
    };
    let pull = EntrataSource::new(&every)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    let skipped: Vec<(Option<&str>, &str)> = pull
        .skipped
        .iter()
        .map(|s| (s.external_id.as_deref(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                Some("9102"),
                "leaseStatusTypeId 12 is not in getLeasePickList (map it in status_ids)"
            ),
            (
                Some("9104"),
                "leaseStatusTypeId 14 is \"Holdover\" in getLeasePickList, which has no lintel \
                 status (map it in status_ids)"
            ),
            (
                Some("9105"),
                "leaseStatusTypeId 4 is not in getLeasePickList (map it in status_ids)"
            ),
        ]
    );
    let mapped = EntrataConfig {
        status_ids: [("14", "Evicting"), ("4", "current")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..every
    };
    let pull = EntrataSource::new(&mapped)
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    let got: Vec<(&str, &str)> = pull
        .records
        .iter()
        .map(|r| (r.external_id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("9101", "current"),
            ("9103", "past"),
            ("9104", "evicting"),
            ("9105", "current")
        ]
    );
}

#[tokio::test]
async fn a_pick_list_that_cannot_be_read_fails_the_pass_before_any_lease() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(3)).expect("server");
    let source = EntrataSource::new(&config(&server, &dir)).expect("source");

    server.set_lease_status_types(vec![json!({"@attributes": {"id": 4, "type": "Active"}})]);
    let err = source.pull(PullKind::Full).await.expect_err("no name");
    assert!(matches!(err, SourceError::Body { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("is not valid: getLeasePickList: leaseStatusType[0]: name missing"),
        "{err}"
    );
    assert_eq!(server.common().requests(), 1, "no getLeases call");

    // An API user without getLeasePickList enabled.
    server.common().fault_next(Fault::RawBody(
        r#"{"response": {"code": 403, "error": {"code": 403, "message": "Access denied for getLeasePickList"}}}"#.into(),
    ));
    let err = source.pull(PullKind::Full).await.expect_err("denied");
    assert!(matches!(err, SourceError::Api { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("reported an error: envelope code 403 (Access denied for getLeasePickList)"),
        "{err}"
    );
    assert_eq!(server.common().requests(), 2);
}

#[tokio::test]
async fn paging_runs_over_several_pages_to_a_short_last_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 20 leases, 3 of them past (not asked for): 17 in pages of 5, 5, 5, 2.
    let server = EntrataServer::start(entrata::leases(20)).expect("server");
    let pull = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    let pages: Vec<Option<String>> = server.common().log()[1..]
        .iter()
        .map(|r| r.param("page_no"))
        .collect();
    // Page 5 confirms that the short page 4 was the last.
    assert_eq!(
        pages,
        ["1", "2", "3", "4", "5"].map(|p| Some(p.to_string()))
    );
    // 17 primaries and the roommates of leases 0, 3, 6, 9, 12, 15, 18.
    assert_eq!(pull.records.len(), 24);
    let mut ids: Vec<&str> = pull
        .records
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24, "no record twice");
    assert_eq!(pull.skipped.len(), 7, "the guarantors");
}

#[tokio::test]
async fn a_middle_page_that_fails_fails_the_pass_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(20)).expect("server");
    // Request 3 is page 2 (after the pick list and page 1).
    server.common().fault_on(3, Fault::Status(404));
    let err = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect_err("page 2");
    assert!(
        matches!(err, SourceError::Status { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("/api/v1/leases?page_no=2&per_page=5 answered HTTP 404"),
        "{err}"
    );
    assert_eq!(
        server.common().requests(),
        3,
        "no page after the failed one"
    );
}

/// The pull's error when page 2 (request 3) carries `body`.
async fn pull_with_page_two(leases: Vec<serde_json::Value>) -> (SourceError, EntrataServer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(20)).expect("server");
    let page = json!({"response": {"requestId": "2", "code": 200, "result": {"leases": {"lease": leases}}}});
    server
        .common()
        .fault_on(3, Fault::RawBody(page.to_string()));
    let err = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect_err("page 2");
    (err, server)
}

#[tokio::test]
async fn a_page_repeating_an_earlier_one_fails_the_pass() {
    // Page 2 brings page 1's first lease among new ones: the listing shifted while paging.
    let (err, _server) = pull_with_page_two(vec![
        lease(
            "7000",
            "4",
            "100",
            vec![customer(2000, "Primary", "Current")],
        ),
        lease(
            "7900",
            "4",
            "190",
            vec![customer(2900, "Primary", "Current")],
        ),
    ])
    .await;
    assert!(matches!(err, SourceError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "/api/v1/leases?page_no=2&per_page=5 is incomplete: page 2 repeats lease 7000 of an \
             earlier page (the listing shifted while paging)"
        ),
        "{err}"
    );
    // Page 2 brings only page 1's lease after a full page 1: page_no was ignored, and what
    // follows page 1 cannot be read.
    let (err, _server) = pull_with_page_two(vec![lease(
        "7000",
        "4",
        "100",
        vec![customer(2000, "Primary", "Current")],
    )])
    .await;
    assert!(
        err.to_string().ends_with(
            "/api/v1/leases?page_no=2&per_page=5 is incomplete: page 2 only repeats leases of \
             earlier pages (getLeases ignored page_no?), so the leases after page 1 cannot be read"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_short_page_in_the_middle_fails_the_pass_and_a_repeated_short_listing_ends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = EntrataServer::start(entrata::leases(20)).expect("server");
    // Page 2 comes back with 2 of its 5 leases; page 3 then still has leases.
    server.common().fault_on(3, Fault::ShortPage(2));
    let err = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect_err("short middle page");
    assert!(matches!(err, SourceError::Incomplete { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "/api/v1/leases?page_no=3&per_page=5 is incomplete: page 2 held 2 leases of per_page \
             5 but page 3 holds more: page 2 came back short"
        ),
        "{err}"
    );

    // A property whose whole listing fits one short page, on a server that answers every
    // page_no with it: the confirming page brings nothing new, so the listing is complete.
    let server = EntrataServer::start(entrata::leases(3)).expect("server");
    let first = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("pull");
    let again = json!({"response": {"requestId": "2", "code": 200, "result": {"leases": {"lease": [
        lease("7000", "4", "100", vec![customer(2000, "Primary", "Current")]),
    ]}}}});
    // The second pull's confirming page: requests 1–3 were the first pull, 4 and 5 are the
    // pick list and page 1.
    server
        .common()
        .fault_on(6, Fault::RawBody(again.to_string()));
    let second = EntrataSource::new(&config(&server, &dir))
        .expect("source")
        .pull(PullKind::Full)
        .await
        .expect("a repeating confirmation page ends the listing");
    assert_eq!(second.records.len(), first.records.len());
    assert!(!first.records.is_empty());
}
