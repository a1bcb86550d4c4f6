use std::collections::HashSet;

use jiff::Timestamp;
use jiff::civil::date;

use super::{PassPlan, Refusal, plan_pass};
use crate::sources::{Pull, SkippedRecord, SourceRecord};
use crate::store::{Outcome, Person, PersonType};

const SOURCE: &str = "pms";

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("test timestamps are in range")
}

fn now() -> Timestamp {
    ts(1_781_539_200)
}

fn allowed() -> HashSet<String> {
    ["pending", "current", "notice"]
        .map(String::from)
        .into_iter()
        .collect()
}

fn record(external_id: &str) -> SourceRecord {
    SourceRecord {
        external_id: external_id.to_string(),
        first_name: "Ada".to_string(),
        last_name: "Lovelace".to_string(),
        email: Some(format!("{}@example.com", external_id.to_lowercase())),
        phone: Some("+15550100101".to_string()),
        unit: Some("101".to_string()),
        status: "current".to_string(),
        lease_start: Some(date(2025, 8, 1)),
        lease_end: Some(date(2026, 7, 31)),
        move_in: Some(date(2025, 8, 1)),
        move_out: None,
    }
}

/// The person a previous pass made from `record(external_id)`.
fn person(id: &str, external_id: &str) -> Person {
    let r = record(external_id);
    Person {
        id: id.to_string(),
        source: SOURCE.to_string(),
        external_id: r.external_id,
        first_name: r.first_name,
        last_name: r.last_name,
        email: r.email,
        phone: r.phone,
        unit: r.unit,
        status: r.status,
        lease_start: r.lease_start,
        lease_end: r.lease_end,
        move_in: r.move_in,
        move_out: r.move_out,
        person_type: PersonType::Resident,
        access_enabled: true,
        at_source: true,
        removed_at: None,
        created_at: ts(1_000),
        updated_at: ts(1_000),
    }
}

fn pull(records: Vec<SourceRecord>) -> Pull {
    Pull {
        records,
        ..Pull::default()
    }
}

fn skipped(index: usize, external_id: Option<&str>) -> SkippedRecord {
    SkippedRecord {
        index,
        external_id: external_id.map(String::from),
        reason: "missing unit".to_string(),
    }
}

/// Runs a pass with ids `new1`, `new2`, ...; returns the plan and how many ids were handed out.
fn run(pull: &Pull, existing: &[Person]) -> (PassPlan, usize) {
    let mut issued = 0;
    let mut new_id = || {
        issued += 1;
        format!("new{issued}")
    };
    let plan = plan_pass(SOURCE, pull, existing, &allowed(), now(), &mut new_id)
        .expect("a non-empty pull is planned");
    (plan, issued)
}

fn planned<'a>(plan: &'a PassPlan, id: &str) -> Option<&'a Person> {
    plan.people.iter().find(|p| p.id == id)
}

fn outcomes(plan: &PassPlan) -> Vec<(Outcome, &str)> {
    plan.activity
        .iter()
        .map(|a| (a.outcome, a.subject.as_str()))
        .collect()
}

#[test]
fn empty_pull_is_refused() {
    let existing = [person("p1", "T-1")];
    let mut new_id = || -> String { panic!("no id is needed for a refused pull") };
    let result = plan_pass(
        SOURCE,
        &Pull::default(),
        &existing,
        &allowed(),
        now(),
        &mut new_id,
    );
    assert_eq!(result.expect_err("empty pull"), Refusal::Empty);
}

#[test]
fn pull_of_only_unreadable_records_is_refused() {
    let existing = [person("p1", "T-1")];
    let garbage = Pull {
        records: Vec::new(),
        skipped: vec![skipped(0, None), skipped(1, Some("T-1"))],
        ..Pull::default()
    };
    let mut new_id = || -> String { panic!("no id is needed for a refused pull") };
    let result = plan_pass(SOURCE, &garbage, &existing, &allowed(), now(), &mut new_id);
    assert_eq!(result.expect_err("nothing readable"), Refusal::Empty);
}

#[test]
fn new_allowed_record_is_added_with_a_fresh_id() {
    let mut r = record("T-1");
    r.status = "pending".to_string();
    let (plan, issued) = run(&pull(vec![r.clone()]), &[]);

    assert_eq!(issued, 1);
    assert_eq!(
        (plan.added, plan.updated, plan.disabled, plan.skipped),
        (1, 0, 0, 0)
    );
    assert_eq!(plan.people.len(), 1);
    let p = &plan.people[0];
    assert_eq!(p.id, "new1");
    assert_eq!(p.source, SOURCE);
    assert_eq!(p.external_id, "T-1");
    assert_eq!(p.first_name, r.first_name);
    assert_eq!(p.email, r.email);
    assert_eq!(p.phone, r.phone);
    assert_eq!(p.unit, r.unit);
    assert_eq!(p.status, "pending");
    assert_eq!(p.lease_start, r.lease_start);
    assert_eq!(p.lease_end, r.lease_end);
    assert_eq!(p.move_in, r.move_in);
    assert_eq!(p.move_out, r.move_out);
    assert_eq!(p.person_type, PersonType::Resident);
    assert!(p.access_enabled);
    assert!(p.at_source);
    assert_eq!(p.removed_at, None);
    assert_eq!((p.created_at, p.updated_at), (now(), now()));
    assert_eq!(outcomes(&plan), [(Outcome::Added, "new1")]);
    assert!(plan.activity[0].reason.contains("T-1"));
    assert_eq!(plan.activity[0].at, now());
}

#[test]
fn new_record_with_disallowed_status_is_skipped_and_creates_nobody() {
    let mut r = record("T-9");
    r.status = "future".to_string();
    let (plan, issued) = run(&pull(vec![r]), &[]);

    assert_eq!(issued, 0, "no id is spent on a skipped record");
    assert!(plan.people.is_empty());
    assert_eq!((plan.added, plan.skipped), (0, 1));
    assert_eq!(outcomes(&plan), [(Outcome::Skipped, "T-9")]);
    assert!(
        plan.activity[0].reason.contains("`future`"),
        "{}",
        plan.activity[0].reason
    );
}

#[test]
fn changed_source_fields_update_the_person_and_keep_admin_fields() {
    let mut existing = person("p1", "T-1");
    existing.access_enabled = false;
    existing.person_type = PersonType::Staff;
    let mut r = record("T-1");
    r.email = Some("ada@new.example.com".to_string());
    r.unit = Some("202".to_string());
    r.move_out = Some(date(2026, 7, 31));

    let (plan, issued) = run(&pull(vec![r.clone()]), std::slice::from_ref(&existing));

    assert_eq!(issued, 0);
    assert_eq!((plan.added, plan.updated, plan.disabled), (0, 1, 0));
    let p = planned(&plan, "p1").expect("updated person is written");
    assert_eq!(p.email, r.email);
    assert_eq!(p.unit, r.unit);
    assert_eq!(p.move_out, r.move_out);
    // Admin-owned and bookkeeping fields survive.
    assert!(!p.access_enabled);
    assert_eq!(p.person_type, PersonType::Staff);
    assert_eq!(p.created_at, existing.created_at);
    assert_eq!(p.updated_at, now());
    assert!(p.at_source);

    assert_eq!(outcomes(&plan), [(Outcome::Updated, "p1")]);
    let reason = &plan.activity[0].reason;
    for field in ["email", "unit", "move_out"] {
        assert!(reason.contains(field), "{reason} should name {field}");
    }
    for field in ["first_name", "last_name", "phone", "status", "lease_end"] {
        assert!(!reason.contains(field), "{reason} should not name {field}");
    }
}

#[test]
fn status_change_to_a_disallowed_status_still_updates_the_known_person() {
    let existing = person("p1", "T-1");
    let mut r = record("T-1");
    r.status = "past".to_string();
    let (plan, _) = run(&pull(vec![r]), std::slice::from_ref(&existing));
    let p = planned(&plan, "p1").expect("status change is written");
    assert_eq!(p.status, "past");
    assert!(p.at_source);
    assert_eq!((plan.updated, plan.skipped), (1, 0));
}

#[test]
fn unchanged_record_writes_nothing() {
    let existing = [person("p1", "T-1"), person("p2", "T-2")];
    let (plan, issued) = run(&pull(vec![record("T-2"), record("T-1")]), &existing);
    assert_eq!(issued, 0);
    assert!(plan.people.is_empty(), "{:?}", plan.people);
    assert!(plan.activity.is_empty(), "{:?}", plan.activity);
    assert_eq!(
        (plan.added, plan.updated, plan.disabled, plan.skipped),
        (0, 0, 0, 0)
    );
}

#[test]
fn absent_person_is_disabled_and_kept() {
    let existing = [person("p1", "T-1"), person("p2", "T-2")];
    let (plan, _) = run(&pull(vec![record("T-1")]), &existing);

    assert_eq!(plan.disabled, 1);
    assert_eq!(plan.people.len(), 1);
    let gone = planned(&plan, "p2").expect("the disabled person is written, not dropped");
    assert!(!gone.at_source);
    assert_eq!(gone.removed_at, Some(now()));
    assert_eq!(gone.updated_at, now());
    // Everything else about the person stays as it was.
    assert_eq!(gone.external_id, "T-2");
    assert_eq!(gone.email, existing[1].email);
    assert!(gone.access_enabled);
    assert_eq!(outcomes(&plan), [(Outcome::Disabled, "p2")]);
}

#[test]
fn already_removed_person_still_absent_is_left_alone() {
    let mut removed = person("p2", "T-2");
    removed.at_source = false;
    removed.removed_at = Some(ts(5_000));
    let existing = [person("p1", "T-1"), removed];
    let (plan, _) = run(&pull(vec![record("T-1")]), &existing);
    assert_eq!(plan.disabled, 0);
    assert!(plan.people.is_empty(), "{:?}", plan.people);
    assert!(plan.activity.is_empty(), "{:?}", plan.activity);
}

#[test]
fn removed_person_listed_again_is_back_at_source() {
    let mut removed = person("p1", "T-1");
    removed.at_source = false;
    removed.removed_at = Some(ts(5_000));
    // Same source fields: only the listing itself changed.
    let (plan, issued) = run(&pull(vec![record("T-1")]), std::slice::from_ref(&removed));

    assert_eq!(issued, 0, "the existing person is reused, not recreated");
    assert_eq!((plan.added, plan.updated), (0, 1));
    let p = planned(&plan, "p1").expect("relisted person is written");
    assert!(p.at_source);
    assert_eq!(p.removed_at, None);
    assert_eq!(p.updated_at, now());
    assert_eq!(outcomes(&plan), [(Outcome::Updated, "p1")]);
    assert!(plan.activity[0].reason.contains("listed again"));
}

#[test]
fn duplicate_external_id_is_flagged_once_and_the_first_record_wins() {
    let first = record("T-1");
    let mut second = record("T-1");
    second.first_name = "Impostor".to_string();
    let (plan, issued) = run(&pull(vec![first, second, record("T-2")]), &[]);

    assert_eq!(issued, 2);
    assert_eq!(plan.added, 2);
    let added: Vec<_> = plan
        .people
        .iter()
        .filter(|p| p.external_id == "T-1")
        .collect();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].first_name, "Ada");
    let flagged: Vec<_> = plan
        .activity
        .iter()
        .filter(|a| a.outcome == Outcome::Flagged)
        .collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0].subject, "T-1");
    assert!(flagged[0].reason.contains("twice"));
}

#[test]
fn duplicate_of_an_existing_person_uses_the_first_record() {
    let existing = [person("p1", "T-1")];
    let mut changed = record("T-1");
    changed.unit = Some("303".to_string());
    let mut other = record("T-1");
    other.unit = Some("404".to_string());
    let (plan, _) = run(&pull(vec![changed, other]), &existing);
    assert_eq!(plan.people.len(), 1);
    assert_eq!(plan.people[0].unit.as_deref(), Some("303"));
    assert_eq!(
        plan.activity
            .iter()
            .filter(|a| a.outcome == Outcome::Flagged)
            .count(),
        1
    );
}

#[test]
fn skipped_record_with_an_id_keeps_its_person() {
    let existing = [person("p1", "T-1"), person("p2", "T-2")];
    let listing = Pull {
        records: vec![record("T-1")],
        skipped: vec![skipped(1, Some("T-2"))],
        ..Pull::default()
    };
    let (plan, _) = run(&listing, &existing);

    assert_eq!(plan.disabled, 0);
    assert_eq!(plan.skipped, 1);
    assert!(planned(&plan, "p2").is_none(), "{:?}", plan.people);
    assert_eq!(outcomes(&plan), [(Outcome::Skipped, "T-2")]);
    assert_eq!(plan.activity[0].reason, "missing unit");
}

#[test]
fn skipped_record_without_an_id_suppresses_every_absence_disable() {
    let existing = [
        person("p1", "T-1"),
        person("p2", "T-2"),
        person("p3", "T-3"),
    ];
    let listing = Pull {
        records: vec![record("T-1")],
        skipped: vec![skipped(7, None)],
        ..Pull::default()
    };
    let (plan, _) = run(&listing, &existing);

    assert_eq!(plan.disabled, 0);
    assert!(plan.people.is_empty(), "{:?}", plan.people);
    let mut got = outcomes(&plan);
    got.sort_by_key(|(_, subject)| subject.to_string());
    assert_eq!(
        got,
        [
            (Outcome::Flagged, "p2"),
            (Outcome::Flagged, "p3"),
            (Outcome::Skipped, "pms record #7"),
        ]
    );
}

#[test]
fn anonymous_skip_still_allows_adds_and_updates() {
    let existing = [person("p1", "T-1"), person("p2", "T-2")];
    let mut changed = record("T-1");
    changed.phone = None;
    let listing = Pull {
        records: vec![changed, record("T-3")],
        skipped: vec![skipped(2, None)],
        ..Pull::default()
    };
    let (plan, _) = run(&listing, &existing);
    assert_eq!((plan.added, plan.updated, plan.disabled), (1, 1, 0));
    assert_eq!(
        planned(&plan, "p1").expect("updated").phone,
        None,
        "update applied"
    );
    assert!(planned(&plan, "new1").is_some());
    assert!(planned(&plan, "p2").is_none());
}

#[test]
fn only_this_sources_people_and_new_people_are_written() {
    let mut relisted = person("p3", "T-3");
    relisted.at_source = false;
    relisted.removed_at = Some(ts(5_000));
    let existing = [person("p1", "T-1"), person("p2", "T-2"), relisted];
    let mut changed = record("T-1");
    changed.last_name = "King".to_string();
    let listing = pull(vec![changed, record("T-3"), record("T-4")]);
    let (plan, issued) = run(&listing, &existing);

    let mut allowed_ids: HashSet<String> = existing.iter().map(|p| p.id.clone()).collect();
    allowed_ids.extend((1..=issued).map(|i| format!("new{i}")));
    for p in &plan.people {
        assert!(allowed_ids.contains(&p.id), "unexpected person {}", p.id);
        assert_eq!(p.source, SOURCE);
    }
    for a in &plan.activity {
        assert!(
            allowed_ids.contains(&a.subject),
            "unexpected subject {}",
            a.subject
        );
    }
    // p1 updated, p2 disabled, p3 relisted, T-4 added.
    let mut ids: Vec<&str> = plan.people.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["new1", "p1", "p2", "p3"]);
    assert_eq!(
        (plan.added, plan.updated, plan.disabled, plan.skipped),
        (1, 2, 1, 0)
    );
}

#[test]
fn a_readable_record_is_applied_even_when_an_unreadable_one_shares_its_id() {
    let mut p = pull(vec![record("T-1")]);
    p.skipped.push(skipped(0, Some("T-1")));
    let (plan, _) = run(&p, &[]);
    assert_eq!(plan.added, 1, "{:?}", outcomes(&plan));
    assert!(plan.activity.iter().all(|a| a.outcome != Outcome::Flagged));
}

#[test]
fn a_changes_only_pull_disables_nobody() {
    let mut p = pull(vec![record("T-1")]);
    p.changes_only = true;
    let (plan, _) = run(&p, &[person("p1", "T-1"), person("p2", "T-2")]);
    assert_eq!(plan.disabled, 0);
    assert!(planned(&plan, "p2").is_none(), "{:?}", outcomes(&plan));
}
