//! PMS faults at daemon level (docs/RELIABILITY.md): a 429 storm, a slow-drip body, a body of the
//! wrong shape, TLS failures (no TLS; a private CA without `ca_file`), unicode names end to end, and clock skew between the PMS and the
//! gateway. Each runs the real daemon against a fixture PMS and a simulated Modbus controller,
//! and a watcher on the controller's change feed proves nobody lost access they should keep.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::tls::TestCa;
use common::watch::Watch;
use common::*;
use jiff::civil::date;
use jiff::{SignedDuration, Timestamp};
use lintel::clock::ManualClock;
use lintel::control::Request;
use lintel::sources::fixtures::buildium::{self, BuildiumServer};
use lintel::sources::fixtures::{DateHeader, Fault, Gate};
use serde_json::{Value, json};

/// Tenants 1001–1005 and 1011 have access in `buildium::tenants(20)`: cards 900–905.
const IDS: [&str; 6] = ["1001", "1002", "1003", "1004", "1005", "1011"];

struct Site {
    dir: tempfile::TempDir,
    server: BuildiumServer,
    door: lintel_hal::sim::SimHandle,
    daemon: lintel::Daemon,
    cards: Vec<u64>,
}

/// The Buildium fixture with 20 tenants, six of them holding cards at the door.
async fn site(settings: &str, clock: Arc<dyn lintel::clock::Clock>) -> Site {
    site_dated(settings, clock, DateHeader::Real).await
}

/// [`site`] with the fixture's `Date` header set before the daemon's first pull.
async fn site_dated(
    settings: &str,
    clock: Arc<dyn lintel::clock::Clock>,
    date: DateHeader,
) -> Site {
    let server = BuildiumServer::start(buildium::tenants(20)).expect("fixture");
    server.common().date_header(date);
    site_on(server, settings, clock).await
}

/// [`site`] on a fixture already started (e.g. over HTTPS).
async fn site_on(
    server: BuildiumServer,
    settings: &str,
    clock: Arc<dyn lintel::clock::Clock>,
) -> Site {
    let dir = tempfile::tempdir().expect("tempdir");
    let door = sim(64).await;
    let config = buildium_config(
        dir.path(),
        &server.base_url(),
        &door.local_addr().to_string(),
        settings,
    );
    let daemon = lintel::Daemon::start_with_clock(config, clock)
        .await
        .expect("daemon starts");
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let cards: Vec<u64> = (900..900 + IDS.len() as u64).collect();
    for (id, card) in IDS.iter().zip(&cards) {
        add_card(dir.path(), id, *card).await;
    }
    wait_for_cards(&door, &cards).await;
    drained(&daemon.engine().store, "door").await;
    Site {
        dir,
        server,
        door,
        daemon,
        cards,
    }
}

impl Site {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn last_error(&self) -> Value {
        let status = call(self.path(), Request::Status).await;
        status["sources"][0]["last_error"].clone()
    }

    /// Moves tenant `id` out at the PMS, stamping the lease with `stamped`.
    fn move_out(&self, id: i64, stamped: Timestamp) {
        let at = stamped.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert!(self.server.update(id, |t| {
            let lease = &mut t["Leases"][0];
            lease["LeaseStatus"] = json!("Past");
            lease["Tenants"][0]["Status"] = json!("MovedOut");
            lease["LastUpdatedDateTime"] = json!(at);
        }));
    }

    fn nobody_removed(&self, what: &str) {
        let people = self.daemon.engine().store.people().expect("people");
        assert!(people.iter().all(|p| p.at_source), "{what}: nobody removed");
    }
}

/// Many consecutive 429s with `Retry-After: 1`: every attempt waits the asked second (the
/// request log's arrival times show it), each pass gives up after its retry budget with the
/// reason in status, nobody is revoked; when the PMS recovers mid-pass, the pass succeeds and a
/// real move-out then goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_and_revokes_nobody() {
    let s = site(
        "page_size = 50\ntimeout = \"2s\"\nretries = 3\nretry_min = \"1ms\"\nretry_max = \"5s\"",
        Arc::new(lintel::clock::SystemClock),
    )
    .await;
    let watch = Watch::start(&s.door);
    let common = s.server.common();
    common.reset();
    common.fault_always(Some(Fault::RateLimited {
        retry_after: Some("1".into()),
    }));
    for pass in 0..2 {
        let passes = sync_now(s.path()).await;
        assert_eq!(passes[0]["ok"], false, "storm pass {pass}: {passes}");
        let error = passes[0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("429"), "storm pass {pass}: {error}");
        let shown = s.last_error().await;
        assert!(
            shown.as_str().is_some_and(|e| e.contains("429")),
            "status shows the reason: {shown}"
        );
    }
    let log = common.log();
    assert_eq!(
        log.len(),
        2 * 4,
        "1 + 3 retries per pass, no more: {log:#?}"
    );
    for pass in log.chunks(4) {
        for pair in pass.windows(2) {
            let gap = pair[1].at.duration_since(pair[0].at);
            assert!(
                gap >= Duration::from_millis(990),
                "Retry-After honoured: retried after {gap:?}"
            );
        }
    }
    drained(&s.daemon.engine().store, "door").await;
    assert_eq!(held(&s.door).keys().copied().collect::<Vec<_>>(), s.cards);
    s.nobody_removed("storm");

    // The PMS recovers during a pass: two more 429s, then answers.
    common.reset();
    common.fault_on(
        1,
        Fault::RateLimited {
            retry_after: Some("1".into()),
        },
    );
    common.fault_on(
        2,
        Fault::RateLimited {
            retry_after: Some("1".into()),
        },
    );
    let passes = sync_now(s.path()).await;
    assert_eq!(passes[0]["ok"], true, "recovered: {passes}");
    assert_eq!(s.last_error().await, Value::Null);
    watch.assert_clean("429 storm", &s.cards);

    s.move_out(1002, Timestamp::now());
    let passes = sync_now(s.path()).await;
    assert_eq!(passes[0]["disabled"], 1, "{passes}");
    let rest: Vec<u64> = s.cards.iter().copied().filter(|c| *c != 901).collect();
    wait_for_cards(&s.door, &rest).await;
    s.daemon.stop().await;
}

/// The PMS sends headers at once and then the body one byte every 20 ms: the pull hits the
/// source's 500 ms timeout (which covers the body), the pass fails saying so, and the move-out
/// sitting in the undelivered body changes nothing until a pull completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_body_times_out_and_changes_nothing() {
    let s = site(
        "page_size = 50\ntimeout = \"500ms\"\nretries = 1\nretry_min = \"1ms\"\nretry_max = \"20ms\"",
        Arc::new(lintel::clock::SystemClock),
    )
    .await;
    let watch = Watch::start(&s.door);
    s.move_out(1002, Timestamp::now());
    s.server
        .common()
        .fault_always(Some(Fault::Drip(Duration::from_millis(20))));
    let passes = sync_now(s.path()).await;
    assert_eq!(passes[0]["ok"], false, "{passes}");
    let error = passes[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("timed out after 500ms"), "{error}");
    let shown = s.last_error().await;
    assert!(
        shown.as_str().is_some_and(|e| e.contains("timed out")),
        "{shown}"
    );
    drained(&s.daemon.engine().store, "door").await;
    assert_eq!(held(&s.door).keys().copied().collect::<Vec<_>>(), s.cards);
    let person = s
        .daemon
        .engine()
        .store
        .person_by_external("buildium", "1002")
        .expect("store")
        .expect("kept");
    assert_ne!(person.status, "past", "nothing from the cut body applied");
    s.nobody_removed("drip");
    watch.assert_clean("slow drip", &s.cards);

    s.server.common().fault_always(None);
    let passes = sync_now(s.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let rest: Vec<u64> = s.cards.iter().copied().filter(|c| *c != 901).collect();
    wait_for_cards(&s.door, &rest).await;
    s.daemon.stop().await;
}

/// A pass settles the records its people already hold while the listing is read. An
/// administrator who decouples someone during that read is not written over by the pass (the
/// people are read again), and the source is read again whole, since what was settled was
/// judged against people as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_the_source_is_read_is_kept_and_the_source_read_again() {
    let s = site("page_size = 50", Arc::new(lintel::clock::SystemClock)).await;
    let store = &s.daemon.engine().store;
    let before = s.server.common().requests();
    assert_eq!(sync_now(s.path()).await[0]["ok"], true);
    let one_pull = s.server.common().requests() - before;

    s.move_out(1002, Timestamp::now());
    let gate = Arc::new(Gate::default());
    s.server.common().fault_next(Fault::Hold(gate.clone()));
    let before = s.server.common().requests();
    let dir = s.path().to_path_buf();
    let pass = tokio::spawn(async move { sync_now(&dir).await });
    gate.arrived().await;
    let id = store
        .person_by_external("buildium", "1002")
        .expect("store")
        .expect("person")
        .id;
    s.daemon
        .engine()
        .set_decoupled(&id, true)
        .await
        .expect("decouple");
    gate.open();
    let passes = pass.await.expect("pass");
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let person = store.person(&id).expect("store").expect("person");
    assert!(person.decoupled, "the administrator's edit stands");
    assert_ne!(
        person.status, "past",
        "sync leaves a decoupled person alone"
    );
    assert_eq!(s.server.common().requests() - before, 2 * one_pull);
    s.daemon.stop().await;
}

/// Names in several scripts come back byte for byte from the store, `people list --json`,
/// `status` and the activity log; nothing is replaced by U+FFFD or escaped twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_names_round_trip_unmangled() {
    let names = [
        ("U-1", "Zoë", "Ñúñez-Çelik"),
        ("U-2", "小龍", "李"),
        ("U-3", "Ana 🙂", "👨‍👩‍👧 Family"),
        ("U-4", "مريم", "العربية"),
        ("U-5", "Jose\u{301}", "Ha\u{308}user"),
        ("U-6", "Ἀλέξανδρος", "Йылдыз"),
    ];
    let listing: Vec<Value> = names
        .iter()
        .map(|(id, first, last)| {
            let mut r = resident(id, "current");
            r["first_name"] = json!(first);
            r["last_name"] = json!(last);
            r
        })
        .collect();
    let b = Building::start(listing, 16).await;
    let watch = Watch::start(&b.door);
    let cards: Vec<(&str, u64)> = names
        .iter()
        .zip(1..)
        .map(|((id, _, _), card)| (*id, card))
        .collect();
    b.issue(&cards).await;

    let (code, people) = b.cli(&["people", "list", "--json"]).await;
    assert_eq!(code, Some(0), "{people}");
    let people: Value = serde_json::from_str(&people).expect("people list --json is JSON");
    let (_, status) = b.cli(&["status"]).await;
    let (_, status_json) = b.cli(&["status", "--json"]).await;
    serde_json::from_str::<Value>(&status_json).expect("status --json is JSON");
    let (_, activity) = b.cli(&["activity", "--json", "--limit", "100"]).await;
    let activity: Value = serde_json::from_str(&activity).expect("activity --json is JSON");
    let people_text = people.to_string();
    let activity_text = activity.to_string();
    for (id, first, last) in names {
        let stored = b
            .store()
            .person_by_external("pms", id)
            .expect("store")
            .expect("stored");
        let shown = serde_json::to_string(&stored).expect("person");
        assert!(
            shown.contains(first) && shown.contains(last),
            "store keeps {first} {last}: {shown}"
        );
        assert!(
            people_text.contains(first) && people_text.contains(last),
            "people list shows {first} {last}"
        );
        assert!(
            activity_text.contains(first) || activity_text.contains(last),
            "activity names {first} {last}: {activity_text}"
        );
    }
    for (what, text) in [
        ("people", people_text.as_str()),
        ("status", status.as_str()),
        ("status --json", status_json.as_str()),
        ("activity", activity_text.as_str()),
    ] {
        assert!(
            !text.contains('\u{FFFD}'),
            "{what} has a replacement character"
        );
        assert!(!text.contains("\\\\u"), "{what} escapes twice");
    }
    let all: Vec<u64> = (1..=names.len() as u64).collect();
    watch.assert_clean("unicode", &all);
    b.daemon.stop().await;
}

/// A PMS whose clock runs behind or ahead of the gateway's: incremental pulls ask for changes
/// since the last pass on the PMS's own clock (its `Date` header), so a change it stamps with
/// its "now" is picked up by the next incremental poll however far the clocks are apart. With
/// no usable `Date` header the gateway's clock stands in (and the pass summary says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pms_clock_skew_in_incremental_pulls() {
    let gateway = date(2030, 6, 12)
        .at(12, 0, 0, 0)
        .in_tz("America/New_York")
        .expect("tz")
        .timestamp();
    let clock = Arc::new(ManualClock::new(gateway));
    let skewed = |skew: SignedDuration| DateHeader::Skewed {
        clock: clock.clone(),
        skew,
    };
    let hour = SignedDuration::from_hours(1);
    for (date, pms_now, note) in [
        (
            skewed(-hour),
            gateway - hour,
            "PMS clock (Date header, 1h behind",
        ),
        (
            skewed(-6 * hour),
            gateway - 6 * hour,
            "PMS clock (Date header, 6h behind",
        ),
        (
            skewed(hour),
            gateway + hour,
            "PMS clock (Date header, 1h ahead of",
        ),
        (
            skewed(6 * hour),
            gateway + 6 * hour,
            "PMS clock (Date header, 6h ahead of",
        ),
        // No usable Date: the gateway's clock, with a PMS inside the overlap.
        (
            DateHeader::Raw("not a date".into()),
            gateway - SignedDuration::from_mins(4),
            "gateway clock (no usable Date header)",
        ),
    ] {
        let what = format!("PMS answering at {pms_now}, {note}");
        let s = site_dated(
            "page_size = 50\ntimeout = \"2s\"\nretries = 1\nretry_min = \"1ms\"\n\
             retry_max = \"20ms\"\nincremental_every = \"20ms\"",
            clock.clone(),
            date,
        )
        .await;
        let watch = Watch::start(&s.door);
        let pms_clock = if note.contains("gateway clock") {
            gateway
        } else {
            pms_now
        };
        let since = (pms_clock - SignedDuration::from_mins(5))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let common = s.server.common();
        eventually(
            &format!("{what}: an incremental poll from {since}"),
            || async {
                common
                    .log()
                    .iter()
                    .any(|r| r.param("lastupdatedfrom").as_deref() == Some(since.as_str()))
            },
        )
        .await;
        // The full pulls (site setup, the poller's first) are over once an incremental poll
        // was sent, and the frozen clock never reaches the nightly one: whatever applies the
        // move-out is an incremental poll (one logged before it may still read it).
        s.move_out(1002, pms_now);
        wait_for_cards(&s.door, &[900, 902, 903, 904, 905]).await;
        let log = common.log();
        let first = log
            .iter()
            .position(|r| r.param("lastupdatedfrom").is_some())
            .expect("an incremental poll");
        for r in &log[first..] {
            assert_eq!(
                r.param("lastupdatedfrom").as_deref(),
                Some(since.as_str()),
                "{what}: every later poll is incremental from the PMS's clock: {}",
                r.uri
            );
        }
        let status = call(s.path(), Request::Status).await;
        let last_pass = status["sources"][0]["last_pass"].as_str().unwrap_or("");
        assert!(last_pass.contains(note), "{what}: {last_pass}");
        s.nobody_removed(&what);
        watch.assert_clean(&what, &[900, 902, 903, 904, 905]);
        s.daemon.stop().await;
    }
}

/// Lease dates on either side of "today" with the gateway clock near the boundary: a lease
/// ending today keeps its card to the end time to the second; a move-in tomorrow opens nothing
/// before its start time. Only the real end revokes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_dates_around_today_revoke_only_at_the_real_end() {
    let tz = "America/New_York";
    let at = |d: i8, h: i8, m: i8, s: i8| {
        date(2030, 6, d)
            .at(h, m, s, 0)
            .in_tz(tz)
            .expect("tz")
            .timestamp()
    };
    let clock = Arc::new(ManualClock::new(at(15, 15, 30, 0)));
    let mut ending = resident("R-1", "current");
    ending["lease_end"] = json!("2030-06-15");
    let mut starting = resident("R-2", "current");
    starting["lease_start"] = json!("2030-06-16");
    starting["move_in"] = json!("2030-06-16");
    let b = Building::start_with_clock(
        vec![ending, starting, resident("R-3", "current")],
        16,
        clock.clone(),
    )
    .await;
    let watch = Watch::start(&b.door);
    for (person, card) in [("R-1", 1), ("R-2", 2), ("R-3", 3)] {
        add_card(b.path(), person, card).await;
    }
    wait_for(&b.door, "R-1's and R-3's cards", |t| {
        t.contains_key(&1) && t.contains_key(&3)
    })
    .await;
    drained(b.store(), "door").await;
    let end = held(&b.door)[&1]
        .valid_until
        .expect("a lease end is a window end");
    let window = b.daemon.engine().next_change().expect("a window ahead");
    assert!(window <= Timestamp::from_second(end.into()).expect("ts"));
    // R-2 may be written ahead with its start, never opening early.
    if let Some(c) = held(&b.door).get(&2) {
        assert!(i64::from(c.valid_from) >= at(16, 0, 0, 0).as_second());
    }

    // A second before the end, with passes in between: R-1 keeps the card.
    let end = Timestamp::from_second(end.into()).expect("ts");
    clock.set(end - SignedDuration::from_secs(1));
    let passes = sync_now(b.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    drained(b.store(), "door").await;
    assert!(held(&b.door).contains_key(&1), "not revoked a second early");

    clock.set(end);
    wait_for(&b.door, "R-1's revocation", |t| !t.contains_key(&1)).await;
    clock.set(at(16, 12, 0, 0));
    let passes = sync_now(b.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    wait_for(&b.door, "R-2's card after the move-in", |t| {
        t.contains_key(&2) && t.contains_key(&3)
    })
    .await;
    watch.assert_clean("lease dates", &[3]);
    let dropped = watch.seen().dropped.clone();
    assert_eq!(dropped, BTreeSet::from([1]), "only R-1 lost access");
    b.daemon.stop().await;
}

/// The reasons of the failed-pass activity entries for the Buildium source.
async fn failed_passes(dir: &Path) -> Vec<String> {
    let activity = call(
        dir,
        Request::Activity {
            limit: 50,
            search: None,
        },
    )
    .await;
    activity
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["outcome"] == "failed" && a["subject"] == "buildium")
        .map(|a| a["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The PMS answers with a body of the wrong shape (an object where the tenant array belongs):
/// the pass fails naming the shape in its reply, its activity entry and status, and the move-out
/// behind the bad body revokes nobody until a good pull arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_field_types_fail_the_pass_and_revoke_nobody() {
    let s = site(
        "page_size = 50\nretries = 1\nretry_min = \"1ms\"\nretry_max = \"20ms\"",
        Arc::new(lintel::clock::SystemClock),
    )
    .await;
    let watch = Watch::start(&s.door);
    s.move_out(1002, Timestamp::now());
    s.server
        .common()
        .fault_always(Some(Fault::RawBody(r#"{"Id": 1001}"#.into())));
    let passes = sync_now(s.path()).await;
    assert_eq!(passes[0]["ok"], false, "{passes}");
    let error = passes[0]["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("expected an array of tenants, found an object"),
        "{error}"
    );
    assert_eq!(
        s.last_error().await,
        json!(error),
        "status shows the reason"
    );
    assert!(
        failed_passes(s.path())
            .await
            .contains(&format!("{error}; no access was changed"))
    );
    drained(&s.daemon.engine().store, "door").await;
    assert_eq!(held(&s.door).keys().copied().collect::<Vec<_>>(), s.cards);
    s.nobody_removed("wrong shape");
    watch.assert_clean("wrong field types", &s.cards);
    s.daemon.stop().await;
}

/// The source is pointed at an `https://` URL on a server that speaks plain HTTP: the TLS
/// handshake fails before any request reaches the PMS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_failure_fails_the_pass_and_revokes_nobody() {
    let settings = "page_size = 50\nretries = 1\nretry_min = \"1ms\"\nretry_max = \"20ms\"";
    let site = site(settings, Arc::new(lintel::clock::SystemClock)).await;
    let url = site.server.base_url().replace("http://", "https://");
    tls_failure_revokes_nobody(site, &url, settings).await;
}

/// The PMS serves HTTPS with a certificate from a CA made here. With `ca_file` naming the CA the
/// passes succeed; restarted with the default settings (built-in roots only), the pass fails
/// naming the unknown issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_fails_the_pass_and_revokes_nobody() {
    let ca = TestCa::new();
    let ca_dir = tempfile::tempdir().expect("tempdir");
    let ca_file = ca_dir.path().join("ca.pem");
    ca.write_pem(&ca_file);
    let server = BuildiumServer::start_on(ca.listener().await, "https", buildium::tenants(20))
        .expect("TLS fixture");
    let url = server.base_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let settings = "page_size = 50\nretries = 1\nretry_min = \"1ms\"\nretry_max = \"20ms\"";
    let trusted = format!("{settings}\nca_file = \"{}\"", ca_file.display());
    let site = site_on(server, &trusted, Arc::new(lintel::clock::SystemClock)).await;
    let error = tls_failure_revokes_nobody(site, &url, settings).await;
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
}

/// Restarts `site`'s daemon with the source at `url` and `settings`, where the TLS handshake
/// fails: the pass fails saying so in its reply, its activity entry and status, no request
/// reaches the PMS, and every card stays at the door. Returns the reason.
async fn tls_failure_revokes_nobody(site: Site, url: &str, settings: &str) -> String {
    let Site {
        dir,
        server,
        door,
        daemon,
        cards,
    } = site;
    let path = dir.path();
    let watch = Watch::start(&door);
    daemon.stop().await;
    let config = buildium_config(path, url, &door.local_addr().to_string(), settings);
    let daemon = restart(&config).await;
    server.common().reset();
    let passes = sync_now(path).await;
    assert_eq!(passes[0]["ok"], false, "{passes}");
    let error = passes[0]["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error
            .contains("TLS failure (certificate verification is on; set ca_file for a private CA)"),
        "{error}"
    );
    let status = call(path, Request::Status).await;
    assert_eq!(
        status["sources"][0]["last_error"],
        json!(error),
        "status shows the reason"
    );
    assert!(
        failed_passes(path)
            .await
            .contains(&format!("{error}; no access was changed"))
    );
    assert_eq!(server.common().requests(), 0, "nothing reached HTTP");
    drained(&daemon.engine().store, "door").await;
    assert_eq!(held(&door).keys().copied().collect::<Vec<_>>(), cards);
    let people = daemon.engine().store.people().expect("people");
    assert!(people.iter().all(|p| p.at_source), "nobody removed");
    watch.assert_clean("tls failure", &cards);
    daemon.stop().await;
    error
}
