//! The sync rules end to end: through the real daemon, the control socket and the `lintel`
//! binary, against the fixture PMS and a simulated controller.

mod common;

use common::*;
use lintel::control::Request;

/// N residents, each with a card `100 + i`, all on the door.
async fn furnished(n: usize) -> Building {
    let b = Building::start(residents(n), 256).await;
    let cards: Vec<(String, u64)> = (1..=n)
        .map(|i| (format!("R-{i}"), 100 + i as u64))
        .collect();
    let refs: Vec<(&str, u64)> = cards.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    b.issue(&refs).await;
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_source_never_changes_any_controller() {
    let b = furnished(6).await;
    let before = held(&b.door);
    b.door.clear_requests();
    let listing = residents(6);
    for round in 0..6 {
        if round % 2 == 0 {
            b.pms.set_residents(vec![]);
        } else {
            b.pms.set_residents(listing.clone());
        }
        let passes = sync_now(b.path()).await;
        assert_eq!(passes[0]["ok"], round % 2 == 1, "round {round}: {passes}");
        assert_eq!(
            b.store().outbox_len("door"),
            0,
            "round {round}: nothing queued"
        );
    }
    assert_eq!(held(&b.door), before);
    assert!(
        b.door.writes().is_empty(),
        "no frame reached the controller: {:?}",
        b.door.writes()
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_disable_is_held_until_approved() {
    let b = furnished(30).await;
    // 12 of 30 vanish: more than 10 and more than 5 %.
    b.pms.set_residents(residents(18));
    let (code, out) = b.cli(&["sync-now"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("12 HELD by the mass-change guard"), "{out}");
    assert_eq!(b.store().outbox_len("door"), 0, "nothing revoked");
    assert_eq!(held(&b.door).len(), 30);

    let (code, out) = b.cli(&["status"]).await;
    assert_eq!(code, Some(1), "held pass degrades status: {out}");
    assert!(
        out.contains("[mass_disable]") && out.contains("12 of 30"),
        "{out}"
    );

    let (code, out) = b.cli(&["sync", "approve", "pms"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("12 disabled"), "{out}");
    let want: Vec<u64> = (101..=118).collect();
    wait_for_cards(&b.door, &want).await;
    let (_, out) = b.cli(&["alerts"]).await;
    assert!(out.contains("no alerts"), "{out}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_mass_disable_keeps_everyone() {
    let b = furnished(30).await;
    b.pms.set_residents(residents(5));
    sync_now(b.path()).await;
    let (code, out) = b.cli(&["sync", "reject", "pms"]).await;
    assert_eq!(code, Some(0), "{out}");
    let again = sync_now(b.path()).await;
    assert_eq!(again[0]["held"], 25, "{again}");
    let (_, alerts) = b.cli(&["alerts"]).await;
    assert!(
        alerts.contains("no alerts"),
        "rejected set is held silently: {alerts}"
    );
    assert_eq!(held(&b.door).len(), 30);
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_and_shows_the_first_rows() {
    let b = furnished(3).await;
    b.pms.remove("R-2");
    b.pms.push(resident("R-9", "current"));
    let (code, out) = b.cli(&["sync-now", "--dry-run"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("pms: would be — 1 added, 0 updated, 1 disabled"),
        "{out}"
    );
    // Someone new has no id until applied: named by the record.
    assert!(
        out.contains("disabled p") && out.contains("added pms:R-9 (new): new at `pms` as R-9"),
        "{out}"
    );
    assert_eq!(b.store().people().expect("people").len(), 3);
    assert!(
        b.store()
            .people()
            .expect("people")
            .iter()
            .all(|p| p.at_source)
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_match_waits_for_review_then_links() {
    let b = Building::start(vec![resident("R-1", "current")], 16).await;
    // Staff added on site; the PMS then lists someone with the same email, another name.
    let (code, out) = b
        .cli(&[
            "people",
            "add",
            "--first",
            "Sam",
            "--last",
            "Other",
            "--email",
            "r-7@example.com",
            "--unit",
            "Apt 101",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let local = b
        .store()
        .people()
        .expect("people")
        .into_iter()
        .find(|p| p.link.is_none())
        .expect("local");
    assert_eq!(local.unit.as_deref(), Some("101"));
    b.issue(&[(local.id.as_str(), 777)]).await;
    b.pms.push(resident("R-7", "current"));
    // A dry run says an alert would be raised, and raises none.
    let (code, out) = b.cli(&["sync-now", "--dry-run"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("flagged R-7: R-7 resembles")
            && out.contains("(an alert is raised when applied)"),
        "{out}"
    );
    assert!(b.store().alerts().expect("alerts").is_empty());
    let passes = sync_now(b.path()).await;
    assert_eq!(passes[0]["flagged"], 1, "{passes}");
    let status = call(b.path(), Request::Status).await;
    assert_eq!(status["people"]["pending_review"], 1, "{status}");

    let alerts = call(b.path(), Request::Alerts { all: false }).await;
    let id = alerts[0]["id"].as_u64().expect("alert id");
    let (code, out) = b
        .cli(&["review", "resolve", &id.to_string(), "--link"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("pms record R-7 linked to {}", local.id)),
        "{out}"
    );
    let now_linked = b.store().person(&local.id).expect("store").expect("person");
    assert_eq!(now_linked.external_id(), Some("R-7"));
    assert_eq!(
        now_linked.last_name, "Resident R-7",
        "source-owned fields now come from the PMS"
    );
    let passes = sync_now(b.path()).await;
    assert_eq!(
        (passes[0]["flagged"].as_u64(), passes[0]["added"].as_u64()),
        (Some(0), Some(0)),
        "{passes}"
    );

    // Without the flags the CLI says what it needs.
    let (code, out) = b.cli(&["review", "resolve", &id.to_string()]).await;
    assert_ne!(code, Some(0));
    assert!(out.contains("--link") || out.contains("required"), "{out}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoupled_people_are_left_alone_and_explain_says_why() {
    let b = furnished(2).await;
    let (code, out) = b.cli(&["people", "decouple", "R-1"]).await;
    assert_eq!(code, Some(0), "{out}");
    b.pms.remove("R-1");
    sync_now(b.path()).await;
    assert!(
        held(&b.door).contains_key(&101),
        "a decoupled person is never disabled by sync"
    );

    let (code, out) = b.cli(&["explain", "R-1"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("decoupled"), "{out}");
    assert!(out.contains("not on policy.exclude"), "{out}");
    assert!(
        out.contains("has the contact details policy.require_identifier asks for"),
        "{out}"
    );
    assert!(!out.contains("open alert"), "{out}");
    assert!(
        out.contains("door-door      YES  opens: door confirmed card(s) [101]"),
        "{out}"
    );

    // An email change at the source raises an alert about R-2; explain names it.
    b.pms
        .update("R-2", |r| r["email"] = "changed@example.com".into());
    sync_now(b.path()).await;
    let (code, out) = b.cli(&["explain", "R-2"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.lines().any(|l| l.contains("open alert")
            && l.contains("(email_mismatch): `pms` changed the email of")),
        "{out}"
    );

    b.cli(&["credentials", "remove", "102"]).await;
    let (_, out) = b.cli(&["explain", "R-2", "--door", "door-door"]).await;
    assert!(out.contains("no   they hold no card"), "{out}");
    let (code, out) = b.cli(&["people", "show", "nobody@example.com"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no person matches"), "{out}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_delete_needs_the_token_of_exactly_the_previewed_set() {
    let b = furnished(4).await;
    let (code, out) = b
        .cli(&["bulk-delete", "--source", "pms", "--preview"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("4 people synced from pms would be deleted"),
        "{out}"
    );
    let token = out
        .split("--confirm ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("token printed")
        .to_string();

    // The set changes: the old token is refused.
    b.pms.push(resident("R-5", "current"));
    sync_now(b.path()).await;
    let (code, out) = b
        .cli(&["bulk-delete", "--source", "pms", "--confirm", &token])
        .await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("preview again"), "{out}");

    let (_, out) = b
        .cli(&["bulk-delete", "--source", "pms", "--preview"])
        .await;
    let token = out
        .split("--confirm ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("token")
        .to_string();
    let (code, out) = b
        .cli(&[
            "bulk-delete",
            "--source",
            "pms",
            "--confirm",
            &token,
            "--disable-source",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}");
    wait_for_cards(&b.door, &[]).await;
    assert!(b.store().people().expect("people").is_empty());
    let activity = call(
        b.path(),
        Request::Activity {
            limit: 500,
            search: Some("bulk delete".into()),
        },
    )
    .await;
    let entries = activity.as_array().expect("list");
    let deleted = entries
        .iter()
        .filter(|a| {
            a["reason"]
                .as_str()
                .is_some_and(|r| r.contains("deleted by bulk delete"))
        })
        .count();
    assert_eq!(deleted, 5, "{activity}");
    assert!(
        entries
            .iter()
            .any(|a| a["reason"] == "source switched off by bulk delete"),
        "{activity}"
    );
    let passes = sync_now(b.path()).await;
    assert!(
        passes.as_array().expect("list").is_empty(),
        "source switched off: {passes}"
    );
    let status = call(b.path(), Request::Status).await;
    assert_eq!(status["sources"][0]["enabled"], false, "{status}");
    assert_eq!(
        status["sources"][0]["disabled_why"],
        "switched off by bulk delete; `lintel sync enable pms` switches it back on"
    );

    // Back on: its pass runs at once and the people come back.
    let (code, out) = b.cli(&["sync", "enable", "pms"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(b.store().people().expect("people").len(), 5, "{out}");
    let status = call(b.path(), Request::Status).await;
    assert_eq!(status["sources"][0]["enabled"], true, "{status}");
    assert!(
        status["sources"][0].get("disabled_why").is_none(),
        "{status}"
    );
    let (code, out) = b.cli(&["sync", "enable", "pms"]).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("source `pms` is not switched off"), "{out}");
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_is_searchable_and_each_entry_can_be_shown() {
    let b = furnished(2).await;
    b.pms.remove("R-2");
    sync_now(b.path()).await;
    let (code, out) = b.cli(&["activity", "--search", "R-2"]).await;
    assert_eq!(code, Some(0), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("disabled"))
        .expect("the removal is found");
    let id = line.split_whitespace().next().expect("id");
    let (code, out) = b.cli(&["activity", "show", id]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("record   R-2") && out.contains("no longer listed"),
        "{out}"
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_does_not_grow_the_activity_log_past_its_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(2)).expect("pms");
    let door = sim(16).await;
    let mut text = config_text(
        dir.path(),
        &pms.url(),
        &[("door", door.local_addr().to_string())],
    );
    text.push_str("\n[activity]\nmax_entries = 5\n");
    let config = lintel::config::Config::parse(&text, "test").expect("valid config");
    let daemon = lintel::Daemon::start(config).await.expect("daemon starts");
    pms.fail_with(Some(500));
    for round in 0..12 {
        let passes = sync_now(dir.path()).await;
        assert_eq!(passes[0]["ok"], false, "round {round}: {passes}");
    }
    let log = daemon.engine().store.activity(100).expect("reads");
    assert_eq!(log.len(), 5, "trimmed to activity.max_entries: {log:#?}");
    assert_eq!(log[0].outcome, lintel::store::Outcome::Failed);
    assert!(
        log[0].reason.starts_with("pull failed")
            && log[0].reason.ends_with("no access was changed"),
        "{}",
        log[0].reason
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_found_by_id_external_id_email_or_any_card_form_and_never_guessed() {
    let mut listing = residents(2);
    // An external id spelled like R-2's card number.
    listing.push(resident("102", "current"));
    let b = Building::start(listing, 64).await;
    b.issue(&[("R-1", 101), ("R-2", 102)]).await;
    for card in ["w26:12:345", "uid:04A1B2C3"] {
        let (code, out) = b.cli(&["credentials", "add", "R-1", "--card", card]).await;
        assert_eq!(code, Some(0), "{card}: {out}");
    }
    let store = b.store();
    let id = |ext: &str| {
        store
            .person_by_external("pms", ext)
            .expect("reads")
            .expect("synced")
            .id
    };
    let (r1, r2, other) = (id("R-1"), id("R-2"), id("102"));
    let cases = [
        ("R-1", &r1),
        ("pms:R-1", &r1),
        ("R-1@EXAMPLE.com", &r1),
        ("101", &r1),
        ("CARD 101", &r1),
        ("w26:12:345", &r1),
        ("W26 12:345", &r1),
        ("uid:04a1b2c3", &r1),
        ("04:A1:B2:C3", &r1),
        (r2.as_str(), &r2),
        ("pms:102", &other),
    ];
    for (query, want) in cases {
        let (code, out) = b.cli(&["people", "show", query, "--json"]).await;
        assert_eq!(code, Some(0), "{query}: {out}");
        let person: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(
            person["person"]["id"].as_str(),
            Some(want.as_str()),
            "{query}"
        );
    }

    // `102` is R-2's card and another person's external id: refused, naming both.
    let (code, out) = b.cli(&["people", "show", "102"]).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "`102` matches 2 people ({r2}, {other}); use their lintel id"
        )),
        "{out}"
    );
    let (code, out) = b.cli(&["people", "show", "nobody@example.com"]).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("no person matches `nobody@example.com`"),
        "{out}"
    );
    b.daemon.stop().await;
}

/// One JSON source section for `pms`, switched on or off.
fn source_section(name: &str, pms: &lintel::demo::pms::PmsServer, enabled: bool) -> String {
    format!(
        "\n[[source]]\nname = \"{name}\"\nkind = \"json\"\nurl = \"{}\"\nrecords = \"residents\"\ntimeout = \"5s\"\nenabled = {enabled}\n",
        pms.url()
    )
}

fn listing(prefix: &str, n: usize) -> Vec<serde_json::Value> {
    (1..=n)
        .map(|i| resident(&format!("{prefix}-{i}"), "current"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sources_sync_side_by_side_and_a_switched_off_one_keeps_its_people() {
    let dir = tempfile::tempdir().expect("tempdir");
    let north = lintel::demo::pms::PmsServer::start(listing("N", 2)).expect("pms");
    let south = lintel::demo::pms::PmsServer::start(listing("S", 2)).expect("pms");
    let legacy = lintel::demo::pms::PmsServer::start(listing("L", 2)).expect("pms");
    let door = sim(64).await;
    let config = |legacy_on: bool| {
        let mut text = base_text(dir.path());
        text.push_str(&source_section("north", &north, true));
        text.push_str(&source_section("south", &south, true));
        text.push_str(&source_section("legacy", &legacy, legacy_on));
        text.push_str(&format!(
            "\n[[controller]]\nname = \"door\"\nkind = \"modbus-tcp\"\naddress = \"{}\"\ntimeout = \"2s\"\n\n[[door]]\nname = \"door-door\"\ncontroller = \"door\"\nindex = 0\n\n[[group]]\nname = \"residents\"\ndoors = [\"door-door\"]\n",
            door.local_addr()
        ));
        lintel::config::Config::parse(&text, "test").expect("valid config")
    };

    // All three on: everyone synced and given a card.
    let daemon = lintel::Daemon::start(config(true)).await.expect("starts");
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes.as_array().map(Vec::len), Some(3), "{passes}");
    let cards = [
        ("N-1", 101),
        ("N-2", 102),
        ("S-1", 201),
        ("S-2", 202),
        ("L-1", 301),
        ("L-2", 302),
    ];
    for (person, card) in cards {
        add_card(dir.path(), person, card).await;
    }
    wait_for_cards(&door, &[101, 102, 201, 202, 301, 302]).await;
    drained(&daemon.engine().store, "door").await;
    // Restarted as a reload does it, handing over the open store: reopening the path at once
    // in the same process can still find the stopped daemon's sled lock held.
    let store = daemon.engine().store.clone();
    assert!(daemon.stop_drained().await, "every task stopped");

    // `legacy` switched off in its config; it then lists nobody, which must not matter.
    legacy.set_residents(vec![]);
    north.remove("N-2");
    south.push(resident("S-3", "current"));
    let asked_before = legacy.requests();
    let daemon = lintel::Daemon::launch(
        config(false),
        std::sync::Arc::new(lintel::clock::SystemClock),
        lintel::daemon::Launch {
            store: Some(store),
            ..lintel::daemon::Launch::default()
        },
    )
    .await
    .expect("restarts");
    let passes = sync_now(dir.path()).await;
    let ran: Vec<&str> = passes
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["source"].as_str())
        .collect();
    assert_eq!(ran, ["north", "south"], "{passes}");
    assert_eq!(
        legacy.requests(),
        asked_before,
        "a switched-off source is never pulled"
    );

    let store = &daemon.engine().store;
    for ext in ["L-1", "L-2"] {
        let p = store
            .person_by_external("legacy", ext)
            .expect("reads")
            .expect("members already synced stay");
        assert!(p.at_source && p.access_enabled, "{p:?}");
    }
    let gone = store
        .person_by_external("north", "N-2")
        .expect("reads")
        .expect("kept");
    assert!(!gone.at_source);
    assert!(
        store
            .person_by_external("south", "S-3")
            .expect("reads")
            .is_some()
    );
    wait_for_cards(&door, &[101, 201, 202, 301, 302]).await;
    let log = call(
        dir.path(),
        Request::Activity {
            limit: 500,
            search: None,
        },
    )
    .await;
    let entries = log.as_array().expect("list");
    assert!(
        entries.iter().any(|a| a["external_id"] == "N-2"
            && a["outcome"] == "disabled"
            && a["reason"]
                == "no longer listed by `north`; access revoked, person and history kept"),
        "{log}"
    );
    assert!(
        entries.iter().any(|a| a["external_id"] == "S-3"
            && a["outcome"] == "added"
            && a["reason"] == "new at `south` as S-3 (Test Resident S-3), status current"),
        "{log}"
    );
    assert!(
        !entries
            .iter()
            .any(|a| a["source"] == "legacy" && a["outcome"] == "disabled"),
        "{log}"
    );

    let status = call(dir.path(), Request::Status).await;
    let sources = status["sources"].as_array().expect("sources");
    let by_name = |name: &str| {
        sources
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    for name in ["north", "south"] {
        let s = by_name(name);
        assert_eq!(
            (s["enabled"].as_bool(), s["last_error"].as_str()),
            (Some(true), None),
            "{s}"
        );
        assert!(s["last_success_at"].is_string(), "{s}");
    }
    assert_eq!(by_name("north")["people_in_scope"], 1, "{status}");
    assert_eq!(by_name("south")["people_in_scope"], 3, "{status}");
    let off = by_name("legacy");
    assert_eq!(off["enabled"], false, "{off}");
    assert_eq!(
        off["disabled_why"],
        "`enabled = false` in its config section"
    );
    assert!(off["next_run_at"].is_null(), "{off}");
    // Its last pass is the one from before it was switched off.
    assert_eq!(
        off["last_pass"],
        "pass ok: 2 listed, 0 added, 0 updated, 0 disabled, 0 skipped, 0 flagged"
    );
    for (name, listed) in [("north", 1), ("south", 3)] {
        let line = by_name(name)["last_pass"].as_str().unwrap_or_default();
        assert!(
            line.starts_with(&format!("pass ok: {listed} listed")),
            "{name}: {line}"
        );
    }
    let sock = socket(dir.path());
    let (code, out) = lintel_cli(&["status", "--socket", sock.to_str().expect("utf-8")]).await;
    assert_eq!(code, Some(0), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name} row: {out}"))
            .to_string()
    };
    assert!(
        row("north").contains(" enabled ") && row("south").contains(" enabled "),
        "{out}"
    );
    assert!(
        row("legacy").contains(" disabled ") && row("legacy").contains("not scheduled"),
        "{out}"
    );
    assert!(
        out.contains("off: `enabled = false` in its config section"),
        "{out}"
    );
    daemon.stop().await;
}

/// The activity entries the daemon logged about `external_id`, as (outcome, reason).
async fn activity_about(dir: &std::path::Path, external_id: &str) -> Vec<(String, String)> {
    let log = call(
        dir,
        Request::Activity {
            limit: 500,
            search: None,
        },
    )
    .await;
    log.as_array()
        .expect("list")
        .iter()
        .filter(|a| a["external_id"] == external_id)
        .map(|a| {
            (
                a["outcome"].as_str().unwrap_or_default().to_string(),
                a["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_resolve_create_makes_a_separate_person_and_ignore_skips_the_record() {
    let b = Building::start(vec![resident("R-1", "current")], 16).await;
    // Staff-added people who share an email with a record of another name: partial matches.
    for (first, email) in [("Sam", "r-7@example.com"), ("Kim", "r-8@example.com")] {
        let (code, out) = b
            .cli(&[
                "people", "add", "--first", first, "--last", "Other", "--email", email, "--unit",
                "101",
            ])
            .await;
        assert_eq!(code, Some(0), "{out}");
    }
    b.pms.push(resident("R-7", "current"));
    b.pms.push(resident("R-8", "current"));
    let passes = sync_now(b.path()).await;
    assert_eq!(passes[0]["flagged"], 2, "{passes}");
    let alerts = call(b.path(), Request::Alerts { all: false }).await;
    let alert_for = |ext: &str| {
        alerts
            .as_array()
            .expect("list")
            .iter()
            .find(|a| a["external_id"] == ext)
            .and_then(|a| a["id"].as_u64())
            .unwrap_or_else(|| panic!("an alert about {ext}: {alerts}"))
    };
    let (create, ignore) = (alert_for("R-7"), alert_for("R-8"));
    let local = |email: &str| {
        b.store()
            .people()
            .expect("people")
            .into_iter()
            .find(|p| p.link.is_none() && p.email.as_deref() == Some(email))
            .expect("local person")
    };
    let (sam, kim) = (local("r-7@example.com"), local("r-8@example.com"));

    let (code, out) = b
        .cli(&["review", "resolve", &create.to_string(), "--create"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let created = b
        .store()
        .person_by_external("pms", "R-7")
        .expect("reads")
        .expect("created");
    assert_ne!(created.id, sam.id, "a separate person, not the candidate");
    assert_eq!(
        (created.last_name.as_str(), created.email.as_deref()),
        ("Resident R-7", Some("r-7@example.com"))
    );
    assert_eq!(
        out.trim(),
        format!("pms record R-7 created as {}", created.id)
    );
    let sam_after = b.store().person(&sam.id).expect("store").expect("kept");
    assert_eq!(
        (sam_after.link, sam_after.last_name.as_str()),
        (None, "Other")
    );

    let (code, out) = b
        .cli(&["review", "resolve", &ignore.to_string(), "--ignore"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.trim(), "pms record R-8 will be skipped from now on");
    assert!(
        b.store()
            .person_by_external("pms", "R-8")
            .expect("reads")
            .is_none()
    );

    let passes = sync_now(b.path()).await;
    assert_eq!(
        (
            passes[0]["flagged"].as_u64(),
            passes[0]["added"].as_u64(),
            passes[0]["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(1)),
        "{passes}"
    );
    let kim_after = b.store().person(&kim.id).expect("store").expect("kept");
    assert_eq!(kim_after.link, None, "the candidate is left as it was");
    assert!(
        b.store()
            .alerts()
            .expect("alerts")
            .iter()
            .all(|a| a.resolved.is_some())
    );

    let r7 = activity_about(b.path(), "R-7").await;
    assert!(
        r7.contains(&(
            "processed".into(),
            format!(
                "alert {create} resolved with --create: pms record R-7 created as {}",
                created.id
            )
        )),
        "{r7:#?}"
    );
    let r8 = activity_about(b.path(), "R-8").await;
    assert!(
        r8.contains(&(
            "processed".into(),
            format!(
                "alert {ignore} resolved with --ignore: pms record R-8 will be skipped from now on"
            )
        )),
        "{r8:#?}"
    );
    assert!(
        r8.contains(&(
            "skipped".into(),
            "ignored by an administrator (review resolved with --ignore)".into()
        )),
        "{r8:#?}"
    );

    // A resolved alert cannot be resolved again.
    let (code, out) = b
        .cli(&["review", "resolve", &ignore.to_string(), "--create"])
        .await;
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("alert {ignore} was already resolved (ignore)")),
        "{out}"
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recoupled_person_is_synced_again_on_the_next_pass() {
    let b = furnished(2).await;
    let id = b
        .store()
        .person_by_external("pms", "R-1")
        .expect("reads")
        .expect("synced")
        .id;
    let (code, out) = b.cli(&["people", "decouple", "R-1"]).await;
    assert_eq!(code, Some(0), "{out}");
    b.pms.update("R-1", |r| {
        r["last_name"] = "Renamed".into();
        r["unit"] = "Apt 2-02".into();
    });
    sync_now(b.path()).await;
    let held_back = b.store().person(&id).expect("store").expect("person");
    assert_eq!(
        (held_back.last_name.as_str(), held_back.unit.as_deref()),
        ("Resident R-1", Some("101")),
        "a decoupled person is skipped"
    );
    assert!(activity_about(b.path(), "R-1").await.contains(&(
        "skipped".into(),
        "decoupled: sync leaves this person alone".into()
    )));

    let (code, out) = b.cli(&["people", "recouple", "R-1"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out.trim(), format!("{id} is coupled: sync updates them"));
    let passes = sync_now(b.path()).await;
    assert_eq!(passes[0]["updated"], 1, "{passes}");
    let synced = b.store().person(&id).expect("store").expect("person");
    assert_eq!(
        (
            synced.last_name.as_str(),
            synced.unit.as_deref(),
            synced.decoupled
        ),
        ("Renamed", Some("202"), false),
        "source-owned fields overwritten again"
    );
    assert!(held(&b.door).contains_key(&101), "their card stays");

    let log = call(
        b.path(),
        Request::Activity {
            limit: 500,
            search: None,
        },
    )
    .await;
    let reasons: Vec<&str> = log
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["subject"] == id.as_str())
        .filter_map(|a| a["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"recoupled: the next pass updates this person from their source again"),
        "{reasons:#?}"
    );
    assert!(
        reasons.contains(&"`pms` changed last_name, unit"),
        "{reasons:#?}"
    );
    b.daemon.stop().await;
}
