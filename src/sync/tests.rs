//! One table-driven test per sync rule, each asserting the outcome and the reason; then the
//! properties: idempotence, order independence, and no revocation past the guard.

use std::collections::HashSet;

use jiff::Timestamp;
use jiff::civil::date;
use proptest::prelude::*;

use super::{PassInput, PassPlan, Refusal, plan_pass};
use crate::config::{MatchKey, PolicyConfig, RequireIdentifier};
use crate::sources::{Pull, SkippedRecord, SourceRecord};
use crate::store::{
    Activity, Alert, AlertKind, GuardState, Outcome, Person, PersonType, PhoneNote, Resolution,
    SourceLink,
};

const SOURCE: &str = "pms";

fn now() -> Timestamp {
    Timestamp::from_second(1_781_539_200).expect("in range")
}

fn record(ext: &str) -> SourceRecord {
    SourceRecord {
        external_id: ext.to_string(),
        first_name: "Ada".to_string(),
        last_name: format!("Lovelace {ext}"),
        email: Some(format!("{}@example.com", ext.to_lowercase())),
        phone: Some("+15550100101".to_string()),
        unit: Some("101".to_string()),
        building: None,
        status: "current".to_string(),
        lease_start: Some(date(2025, 8, 1)),
        lease_end: None,
        move_in: Some(date(2025, 8, 1)),
        move_out: None,
        phone_listed: 0,
    }
}

/// The person an earlier pass made from `record(ext)`.
fn linked(id: &str, ext: &str) -> Person {
    let mut p = super::new_person(id.to_string(), SOURCE, &record(ext), Timestamp::UNIX_EPOCH);
    p.unit = Some("101".to_string());
    p
}

fn local(id: &str, first: &str, last: &str, email: Option<&str>) -> Person {
    let mut p = linked(id, "unused");
    p.link = None;
    p.first_name = first.to_string();
    p.last_name = last.to_string();
    p.email = email.map(String::from);
    p
}

fn pull(records: Vec<SourceRecord>) -> Pull {
    Pull {
        records,
        ..Pull::default()
    }
}

/// The world a pass sees.
#[derive(Default)]
struct World {
    people: Vec<Person>,
    ignored: HashSet<SourceLink>,
    alerts: Vec<Alert>,
    guard: GuardState,
    policy: PolicyConfig,
}

impl World {
    fn with(people: Vec<Person>) -> World {
        World {
            people,
            ..World::default()
        }
    }

    fn run(&self, pull: &Pull) -> Result<PassPlan, Refusal> {
        let input = PassInput {
            source: SOURCE,
            pull,
            people: &self.people,
            ignored: &self.ignored,
            alerts: &self.alerts,
            guard: &self.guard,
            policy: &self.policy,
            country: Some(phonenumber::country::Id::US),
            now: now(),
        };
        // Above every id an earlier plan handed out, as the store's counter is.
        let mut next = (self.people.iter())
            .filter_map(|p| p.id.strip_prefix('p')?.parse().ok())
            .chain(self.alerts.iter().map(|a| a.id))
            .fold(1000, u64::max);
        plan_pass(&input, &mut || {
            next += 1;
            next
        })
    }

    fn plan(&self, records: Vec<SourceRecord>) -> PassPlan {
        self.run(&pull(records))
            .expect("a non-empty pull is planned")
    }

    /// Applies a plan the way the engine commits it.
    fn apply(&mut self, plan: &PassPlan) {
        for p in &plan.people {
            match self.people.iter_mut().find(|q| q.id == p.id) {
                Some(q) => *q = p.clone(),
                None => self.people.push(p.clone()),
            }
        }
        for a in &plan.alerts {
            match self.alerts.iter_mut().find(|b| b.id == a.id) {
                Some(b) => *b = a.clone(),
                None => self.alerts.push(a.clone()),
            }
        }
        if let Some(g) = &plan.guard {
            self.guard = g.clone();
        }
    }
}

/// The single activity entry about `subject` with `outcome`.
fn entry<'a>(plan: &'a PassPlan, outcome: Outcome, subject: &str) -> &'a Activity {
    let found: Vec<_> = plan
        .activity
        .iter()
        .filter(|a| a.outcome == outcome && a.subject == subject)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {outcome:?} entry for {subject}: {:#?}",
        plan.activity
    );
    found[0]
}

fn planned<'a>(plan: &'a PassPlan, id: &str) -> Option<&'a Person> {
    plan.people.iter().find(|p| p.id == id)
}

#[test]
fn an_empty_or_unreadable_listing_is_refused() {
    let world = World::with(vec![linked("p1", "T-1")]);
    assert_eq!(
        world.run(&Pull::default()).expect_err("empty"),
        Refusal::Empty
    );
    let garbage = Pull {
        skipped: vec![SkippedRecord {
            index: 0,
            external_id: None,
            reason: "id: missing".into(),
        }],
        ..Pull::default()
    };
    assert_eq!(world.run(&garbage).expect_err("garbage"), Refusal::Empty);
}

#[test]
fn eligibility_rules_skip_with_the_exact_reason() {
    let mut no_unit = record("T-1");
    no_unit.unit = None;
    let mut no_contact = record("T-2");
    no_contact.email = None;
    no_contact.phone = None;
    let mut past = record("T-3");
    past.status = "past".into();
    let excluded = record("T-4");
    let mut blank_unit = record("T-5");
    blank_unit.unit = Some(" # ".into());
    let cases = [
        (no_unit, "no unit"),
        (no_contact, "neither email nor phone"),
        (past, "lease status `past`, which carries no access"),
        (excluded, "excluded by policy.exclude (`t-4@example.com`)"),
        (blank_unit, "no unit"),
    ];
    let mut world = World::default();
    world.policy.exclude = vec!["T-4@EXAMPLE.COM".into()];
    for (rec, reason) in cases {
        let ext = rec.external_id.clone();
        let plan = world.plan(vec![rec]);
        assert!(plan.people.is_empty(), "{ext}");
        let e = entry(&plan, Outcome::Skipped, &ext);
        assert!(e.reason.contains(reason), "{ext}: {}", e.reason);
        assert_eq!(e.source.as_deref(), Some(SOURCE));
        assert_eq!(e.external_id.as_deref(), Some(ext.as_str()));
    }
}

#[test]
fn a_record_without_a_building_is_skipped_when_the_policy_requires_one() {
    let mut no_building = record("T-1");
    no_building.building = None;
    let mut blank_building = record("T-2");
    blank_building.building = Some("  ".into());
    let mut with_building = record("T-3");
    with_building.building = Some(" East Tower ".into());
    let mut world = World::default();
    world.policy.require_building = true;
    for rec in [no_building, blank_building] {
        let ext = rec.external_id.clone();
        let plan = world.plan(vec![rec]);
        assert!(plan.people.is_empty(), "{ext}");
        let e = entry(&plan, Outcome::Skipped, &ext);
        assert_eq!(
            e.reason,
            "no building (facility), so no group can be worked out (policy.require_building)",
            "{ext}"
        );
    }
    let plan = world.plan(vec![with_building]);
    assert_eq!(plan.added, 1);
    assert_eq!(plan.people[0].building.as_deref(), Some("East Tower"));

    // Off by default: a single-building site has no building in its records.
    let plan = World::default().plan(vec![record("T-4")]);
    assert_eq!(plan.added, 1);
}

#[test]
fn require_identifier_policies() {
    let mut email_only = record("T-1");
    email_only.phone = None;
    let mut phone_only = record("T-2");
    phone_only.email = None;
    let cases = [
        (RequireIdentifier::Email, &phone_only, Some("no email")),
        (RequireIdentifier::Email, &email_only, None),
        (RequireIdentifier::Phone, &email_only, Some("no phone")),
        (RequireIdentifier::Both, &email_only, Some("both required")),
        (RequireIdentifier::EmailOrPhone, &phone_only, None),
    ];
    for (policy, rec, reason) in cases {
        let mut world = World::default();
        world.policy.require_identifier = policy;
        let plan = world.plan(vec![rec.clone()]);
        match reason {
            None => assert_eq!(plan.added, 1, "{policy:?}"),
            Some(reason) => {
                let e = entry(&plan, Outcome::Skipped, &rec.external_id);
                assert!(e.reason.contains(reason), "{policy:?}: {}", e.reason);
            }
        }
    }
}

#[test]
fn normalisation_canonicalises_unit_email_and_phone() {
    let mut rec = record("T-1");
    rec.unit = Some("Apt 12-03".into());
    rec.email = Some("  Ada.Lovelace@Example.COM ".into());
    rec.phone = Some("(212) 555-0142".into());
    let plan = World::default().plan(vec![rec]);
    let p = &plan.people[0];
    assert_eq!(p.unit.as_deref(), Some("1203"));
    assert_eq!(p.email.as_deref(), Some("ada.lovelace@example.com"));
    assert_eq!(p.phone.as_deref(), Some("+12125550142"));

    let mut bad_phone = record("T-2");
    bad_phone.phone = Some("ask the front desk".into());
    let plan = World::default().plan(vec![bad_phone]);
    assert_eq!(plan.people[0].phone, None);
    let e = &plan.activity[0];
    assert!(
        e.reason.contains("not a phone number; left out"),
        "{}",
        e.reason
    );
}

/// A store upgraded to schema 4 holds no fingerprints. Such a record still settles, as before,
/// and the pass notes which raw phone the person's was read from apart from its writes; so does
/// a pass planning the record whole.
#[test]
fn which_raw_phone_a_person_was_read_from_is_noted_apart_and_not_reported() {
    let mut rec = record("T-1");
    rec.phone = Some("(212) 555-0142".into());
    let mut world = World::default();
    let added = world.plan(vec![rec.clone()]);
    let listed =
        super::normalise::listed_phone("(212) 555-0142", Some(phonenumber::country::Id::US));
    assert_eq!(added.people[0].phone_listed, listed);
    assert!(added.phones.is_empty());
    world.apply(&added);
    world.people[0].phone_listed = 0;
    let note = PhoneNote {
        person: world.people[0].id.clone(),
        phone: "+12125550142".into(),
        listed,
    };

    let whole = world.plan(vec![rec.clone()]);
    assert_eq!(
        (whole.added, whole.updated, whole.activity.len()),
        (0, 0, 0)
    );
    assert!(whole.people.is_empty(), "{:?}", whole.people);
    assert_eq!(whole.phones, std::slice::from_ref(&note));

    let (read, phones) = read_settling_noting(&world, vec![rec.clone()]);
    assert_eq!(read.settled.len(), 1);
    assert_eq!(phones, [note]);
    let settled = world.run(&read).expect("plan");
    assert!(settled.people.is_empty() && settled.phones.is_empty());

    // Noted, it settles with nothing more to note.
    world.people[0].phone_listed = listed;
    let (read, phones) = read_settling_noting(&world, vec![rec.clone()]);
    assert_eq!((read.settled.len(), phones.len()), (1, 0));
    // The source writes the same phone its own way: parsed again, and only the note changes.
    rec.phone = Some("212.555.0142".into());
    let (read, phones) = read_settling_noting(&world, vec![rec]);
    assert_eq!(read.settled.len(), 1);
    assert_eq!(
        phones[0].listed,
        super::normalise::listed_phone("212.555.0142", Some(phonenumber::country::Id::US))
    );
}

/// `[policy.units]` as an operator writes it.
fn units(toml_text: &str) -> PolicyConfig {
    toml::from_str(toml_text).expect("valid [policy] text")
}

#[test]
fn custom_unit_rules_change_the_canonical_unit_as_configured() {
    let cases = [
        // (the site's [policy] text, unit at source, canonical unit)
        ("", "Bldg 12-03b", "BLDG1203B"),
        (
            "[units]\nstrip_prefixes = [\"bldg\"]\nuppercase = false",
            "Bldg 12-03b",
            "1203b",
        ),
        ("[units]\nremove = \" \"", "Apt 12-03", "12-03"),
        ("[units]\nstrip_prefixes = []", "Apt 1203", "APT1203"),
    ];
    for (text, raw, want) in cases {
        let mut rec = record("T-1");
        rec.unit = Some(raw.into());
        let mut world = World {
            policy: units(text),
            ..World::default()
        };
        let plan = world.plan(vec![rec.clone()]);
        assert_eq!(plan.people[0].unit.as_deref(), Some(want), "{text:?}");
        assert_eq!(
            entry(&plan, Outcome::Added, "p001001").reason,
            "new at `pms` as T-1 (Ada Lovelace T-1), status current",
            "{text:?}"
        );

        // The exclusion list names the unit in its canonical form under those rules.
        world.policy.exclude = vec![want.to_lowercase()];
        let plan = world.plan(vec![rec]);
        assert!(plan.people.is_empty(), "{text:?}");
        assert_eq!(
            entry(&plan, Outcome::Skipped, "T-1").reason,
            format!("excluded by policy.exclude (`{want}`)"),
            "{text:?}"
        );
    }

    // New rules re-canonicalise the units of people already synced on the next pass.
    let mut world = World::with(vec![linked("p1", "T-1")]);
    let mut rec = record("T-1");
    rec.unit = Some("Apt 1-01".into());
    assert!(
        world.plan(vec![rec.clone()]).people.is_empty(),
        "1-01 is 101 by default"
    );
    world.policy = units("[units]\nremove = \"\"");
    let plan = world.plan(vec![rec]);
    assert_eq!(
        planned(&plan, "p1").expect("updated").unit.as_deref(),
        Some("1-01")
    );
    assert_eq!(
        entry(&plan, Outcome::Updated, "p1").reason,
        "`pms` changed unit"
    );
}

#[test]
fn correlation_external_id_first() {
    let world = World::with(vec![linked("p1", "T-1")]);
    let mut rec = record("T-1");
    rec.first_name = "Augusta".into();
    let plan = world.plan(vec![rec]);
    assert_eq!(plan.people.len(), 1);
    assert_eq!(plan.people[0].id, "p1");
    let e = entry(&plan, Outcome::Updated, "p1");
    assert!(e.reason.contains("changed first_name"), "{}", e.reason);
}

#[test]
fn correlation_exact_name_and_email_links_a_local_person() {
    let world = World::with(vec![local(
        "p9",
        "Ada",
        "Lovelace T-1",
        Some("t-1@example.com"),
    )]);
    let plan = world.plan(vec![record("T-1")]);
    let p = planned(&plan, "p9").expect("linked, not created");
    assert_eq!(
        p.link.as_ref().map(ToString::to_string).as_deref(),
        Some("pms:T-1")
    );
    assert_eq!(plan.added, 0);
    let e = entry(&plan, Outcome::Updated, "p9");
    assert!(e.reason.contains("match exactly"), "{}", e.reason);
}

#[test]
fn correlation_partial_matches_go_to_review_without_access() {
    let same_email = local("p9", "Ada", "Byron", Some("t-1@example.com"));
    let mut same_name_unit = local("p8", "Ada", "Lovelace T-2", Some("other@example.com"));
    same_name_unit.unit = Some("101".into());
    let cases = [
        (same_email, "T-1", "same email, different name"),
        (same_name_unit, "T-2", "same name and unit, different email"),
    ];
    for (person, ext, why) in cases {
        let world = World::with(vec![person.clone()]);
        let plan = world.plan(vec![record(ext)]);
        assert!(plan.people.is_empty(), "no access change until reviewed");
        let e = entry(&plan, Outcome::Flagged, ext);
        assert!(
            e.reason.contains(why) && e.reason.contains("review"),
            "{}",
            e.reason
        );
        assert_eq!(plan.alerts.len(), 1);
        let AlertKind::PartialMatch { candidate, .. } = &plan.alerts[0].kind else {
            panic!("{:?}", plan.alerts[0].kind)
        };
        assert_eq!(candidate, &person.id);
    }
}

#[test]
fn an_open_review_is_not_raised_twice() {
    let mut world = World::with(vec![local("p9", "Ada", "Byron", Some("t-1@example.com"))]);
    let first = world.plan(vec![record("T-1")]);
    world.apply(&first);
    let second = world.plan(vec![record("T-1")]);
    assert!(second.alerts.is_empty());
    let e = entry(&second, Outcome::Flagged, "T-1");
    assert!(
        e.reason.contains("still waiting for review"),
        "{}",
        e.reason
    );
}

#[test]
fn no_match_creates_and_roommates_sharing_an_email_are_both_kept() {
    let mut a = record("T-1");
    a.email = Some("family@example.com".into());
    let mut b = record("T-2");
    b.email = Some("family@example.com".into());
    b.first_name = "Bea".into();
    let mut world = World::default();
    let first = world.plan(vec![a.clone()]);
    world.apply(&first);
    let plan = world.plan(vec![a, b]);
    assert_eq!(plan.added, 1);
    let added = plan
        .activity
        .iter()
        .find(|x| x.outcome == Outcome::Added)
        .expect("added");
    assert!(
        added
            .reason
            .contains("shares its email with p001001, both kept"),
        "{}",
        added.reason
    );
}

#[test]
fn email_change_on_a_linked_person_is_held_with_an_alert() {
    let mut world = World::with(vec![linked("p1", "T-1")]);
    let mut rec = record("T-1");
    rec.email = Some("new@example.com".into());
    rec.unit = Some("202".into());
    let plan = world.plan(vec![rec.clone()]);
    let p = planned(&plan, "p1").expect("other fields still update");
    assert_eq!(p.email.as_deref(), Some("t-1@example.com"), "email held");
    assert_eq!(p.unit.as_deref(), Some("202"));
    let e = entry(&plan, Outcome::Flagged, "p1");
    assert!(
        e.reason.contains("from t-1@example.com to new@example.com"),
        "{}",
        e.reason
    );
    assert!(matches!(
        plan.alerts[0].kind,
        AlertKind::EmailMismatch { .. }
    ));

    // Ignored by an administrator: held silently from then on.
    world.apply(&plan);
    world.alerts[0].resolved = Some(Resolution {
        at: now(),
        how: "ignore".into(),
    });
    let again = world.plan(vec![rec]);
    assert!(
        again.alerts.is_empty() && again.flagged == 0,
        "{:#?}",
        again.activity
    );
}

#[test]
fn two_records_claiming_one_person_raise_a_duplicate() {
    let mut world = World::with(vec![linked("p1", "T-1")]);
    world.policy.match_key = MatchKey::Email;
    let mut twin = record("T-9");
    twin.email = Some("t-1@example.com".into());
    let plan = world.plan(vec![record("T-1"), twin]);
    assert!(matches!(plan.alerts[0].kind, AlertKind::Duplicate));
    let e = entry(&plan, Outcome::Flagged, "p1");
    assert!(e.reason.contains("both match p1"), "{}", e.reason);

    // Claimed by another source: duplicate, not a second person.
    let mut other = linked("p2", "X-1");
    other.link = Some(SourceLink {
        source: "roster".into(),
        external_id: "X-1".into(),
    });
    other.first_name = "Ada".into();
    other.last_name = "Lovelace T-5".into();
    other.email = Some("t-5@example.com".into());
    let plan = World::with(vec![other]).plan(vec![record("T-5")]);
    assert!(plan.people.is_empty());
    let e = entry(&plan, Outcome::Flagged, "T-5");
    assert!(
        e.reason.contains("already belongs to roster:X-1"),
        "{}",
        e.reason
    );
}

#[test]
fn match_key_email_and_unit_and_name_follow_a_rekeyed_record() {
    let mut rekeyed = record("NEW-1");
    rekeyed.email = Some("t-1@example.com".into());
    rekeyed.last_name = "Lovelace T-1".into();
    for key in [MatchKey::Email, MatchKey::UnitAndName] {
        let mut world = World::with(vec![linked("p1", "T-1")]);
        world.policy.match_key = key;
        let plan = world.plan(vec![rekeyed.clone()]);
        let p = planned(&plan, "p1").expect("same person");
        assert_eq!(p.external_id(), Some("NEW-1"), "{key:?}");
        assert_eq!(plan.added + plan.disabled, 0, "{key:?}");
        assert_eq!(
            entry(&plan, Outcome::Updated, "p1").reason,
            "`pms` changed external id",
            "{key:?}"
        );
    }
    let world = World::with(vec![linked("p1", "T-1")]);
    let plan = world.plan(vec![rekeyed]);
    assert_eq!(
        (plan.added, plan.disabled),
        (0, 1),
        "external_id: a new id is a new record"
    );
    assert_eq!(
        entry(&plan, Outcome::Disabled, "p1").reason,
        "no longer listed by `pms`; access revoked, person and history kept"
    );
    assert_eq!(
        entry(&plan, Outcome::Flagged, "NEW-1").reason,
        "NEW-1 matches p1 exactly, who already belongs to pms:T-1; not applied"
    );
}

#[test]
fn ownership_admin_fields_survive_and_decoupled_people_are_skipped() {
    let mut p = linked("p1", "T-1");
    p.access_enabled = false;
    p.person_type = PersonType::Staff;
    p.extra.tags = vec!["board".into()];
    p.extra.notes = "keeps a dog".into();
    let mut rec = record("T-1");
    rec.last_name = "King".into();
    let plan = World::with(vec![p.clone()]).plan(vec![rec.clone()]);
    let after = planned(&plan, "p1").expect("updated");
    assert_eq!(after.last_name, "King");
    assert_eq!(
        entry(&plan, Outcome::Updated, "p1").reason,
        "`pms` changed last_name"
    );
    assert_eq!(
        (
            after.access_enabled,
            after.person_type,
            &after.extra.tags,
            &after.extra.notes
        ),
        (false, PersonType::Staff, &p.extra.tags, &p.extra.notes)
    );

    p.decoupled = true;
    let plan = World::with(vec![p.clone()]).plan(vec![rec]);
    assert!(plan.people.is_empty());
    assert_eq!(
        entry(&plan, Outcome::Skipped, "p1").reason,
        "decoupled: sync leaves this person alone"
    );
    // And never disabled for being absent either.
    let plan = World::with(vec![p, linked("p2", "T-2")]).plan(vec![record("T-2")]);
    assert_eq!(plan.disabled, 0);
}

#[test]
fn removal_at_source_disables_and_keeps_the_person() {
    let plan =
        World::with(vec![linked("p1", "T-1"), linked("p2", "T-2")]).plan(vec![record("T-2")]);
    let gone = planned(&plan, "p1").expect("kept, written");
    assert!(!gone.at_source);
    assert_eq!(gone.extra.removed_at, Some(now()));
    let e = entry(&plan, Outcome::Disabled, "p1");
    assert!(
        e.reason.contains("no longer listed") && e.reason.contains("kept"),
        "{}",
        e.reason
    );

    // Listed again: back.
    let mut world = World::with(vec![gone.clone()]);
    let plan = world.plan(vec![record("T-1")]);
    world.apply(&plan);
    assert!(world.people[0].at_source);
    assert!(
        entry(&plan, Outcome::Updated, "p1")
            .reason
            .contains("listed again")
    );
}

#[test]
fn excluding_a_linked_person_takes_their_access_until_the_entry_goes() {
    let mut world = World::with(vec![linked("p1", "T-1"), linked("p2", "T-2")]);
    world.policy.exclude = vec!["t-1".into()];
    let plan = world.plan(vec![record("T-1"), record("T-2")]);
    assert_eq!(plan.disabled, 1);
    let gone = planned(&plan, "p1").expect("kept, written");
    assert_eq!(gone.extra.excluded.as_deref(), Some("T-1"));
    assert_eq!(
        entry(&plan, Outcome::Disabled, "p1").reason,
        "excluded by policy.exclude (`T-1`); access revoked, person and history kept"
    );
    assert!(planned(&plan, "p2").is_none(), "p2 is untouched");
    world.apply(&plan);

    // Still excluded: nothing new to say or write.
    let again = world.plan(vec![record("T-1"), record("T-2")]);
    assert!(
        again.people.is_empty() && again.activity.is_empty(),
        "{again:#?}"
    );

    // The entry goes: access comes back.
    world.policy.exclude.clear();
    let plan = world.plan(vec![record("T-1"), record("T-2")]);
    let back = planned(&plan, "p1").expect("written");
    assert_eq!(back.extra.excluded, None);
    assert_eq!(
        entry(&plan, Outcome::Updated, "p1").reason,
        "`pms` changed no longer excluded"
    );
}

#[test]
fn excluding_many_linked_people_is_held_by_the_mass_change_guard() {
    let (mut world, records) = building(100);
    world.policy.exclude = (0..11).map(|i| format!("T-{i}")).collect();
    let plan = world.plan(records);
    assert_eq!((plan.disabled, plan.held.len()), (0, 11));
    assert!(plan.people.iter().all(|p| p.extra.excluded.is_none()));
    assert!(
        entry(&plan, Outcome::Flagged, "p000")
            .reason
            .starts_with("held by the mass-change guard: `pms` would take access from 11 of 100"),
        "{}",
        entry(&plan, Outcome::Flagged, "p000").reason
    );
}

#[test]
fn absence_proves_nothing_in_a_changes_only_or_partly_unreadable_listing() {
    let world = World::with(vec![linked("p1", "T-1"), linked("p2", "T-2")]);
    let mut changes = pull(vec![record("T-2")]);
    changes.changes_only = true;
    assert_eq!(world.run(&changes).expect("plan").disabled, 0);

    let mut partial = pull(vec![record("T-2")]);
    partial.skipped.push(SkippedRecord {
        index: 1,
        external_id: None,
        reason: "id: missing".into(),
    });
    let plan = world.run(&partial).expect("plan");
    assert_eq!(plan.disabled, 0);
    assert!(
        entry(&plan, Outcome::Flagged, "p1")
            .reason
            .contains("unreadable records; kept")
    );
}

#[test]
fn ignored_records_are_skipped() {
    let mut world = World::default();
    world.ignored.insert(SourceLink {
        source: SOURCE.into(),
        external_id: "T-1".into(),
    });
    let plan = world.plan(vec![record("T-1")]);
    assert!(plan.people.is_empty());
    assert!(
        entry(&plan, Outcome::Skipped, "T-1")
            .reason
            .contains("ignored by an administrator")
    );
}

fn building(n: usize) -> (World, Vec<SourceRecord>) {
    let records: Vec<_> = (0..n).map(|i| record(&format!("T-{i}"))).collect();
    let people = (0..n)
        .map(|i| linked(&format!("p{i:03}"), &format!("T-{i}")))
        .collect();
    (World::with(people), records)
}

#[test]
fn the_mass_change_guard_holds_then_approve_or_reject_decides() {
    // 100 active; 11 leave: more than 10 AND more than 5 % → held.
    let (mut world, records) = building(100);
    let plan = world.plan(records[11..].to_vec());
    assert_eq!(plan.disabled, 0);
    assert_eq!(plan.held.len(), 11);
    assert!(plan.people.iter().all(|p| p.at_source));
    let AlertKind::MassDisable { people } = &plan.alerts[0].kind else {
        panic!("{:?}", plan.alerts)
    };
    assert_eq!(people.len(), 11);
    assert!(
        plan.alerts[0].message.contains("11 of 100"),
        "{}",
        plan.alerts[0].message
    );
    assert!(
        entry(&plan, Outcome::Flagged, "p000")
            .reason
            .contains("held by the mass-change guard")
    );
    world.apply(&plan);

    // The same pass again: still held, no second alert.
    let again = world.plan(records[11..].to_vec());
    assert_eq!((again.held.len(), again.alerts.len()), (11, 0));

    // Rejected: held silently.
    let mut rejected = World {
        guard: GuardState {
            rejected: world.guard.held.clone(),
            ..GuardState::default()
        },
        ..World::with(world.people.clone())
    };
    let plan = rejected.plan(records[11..].to_vec());
    assert_eq!(
        (plan.held.len(), plan.alerts.len(), plan.disabled),
        (11, 0, 0)
    );
    rejected.apply(&plan);

    // Approved: exactly that set goes through.
    world.guard = GuardState {
        approved: world.guard.held.clone(),
        ..GuardState::default()
    };
    let plan = world.plan(records[11..].to_vec());
    assert_eq!((plan.disabled, plan.held.len()), (11, 0));
    assert_eq!(plan.guard, Some(GuardState::default()));

    // Approval covers only the approved set: one more leaver holds the pass again.
    let (mut world, records) = building(100);
    world.guard.approved = (0..11).map(|i| format!("p{i:03}")).collect();
    let plan = world.plan(records[12..].to_vec());
    assert_eq!((plan.disabled, plan.held.len()), (0, 12));
}

#[test]
fn under_either_limit_the_pass_goes_through() {
    let cases = [
        (100, 10, "10 is not more than 10"),
        (1000, 11, "1.1 % is under 5 %"),
    ];
    for (n, leaving, why) in cases {
        let (world, records) = building(n);
        let plan = world.plan(records[leaving..].to_vec());
        assert_eq!((plan.disabled, plan.held.len()), (leaving, 0), "{why}");
        assert!(plan.alerts.is_empty(), "{why}: {:?}", plan.alerts);
        for i in 0..leaving {
            assert_eq!(
                entry(&plan, Outcome::Disabled, &format!("p{i:03}")).reason,
                "no longer listed by `pms`; access revoked, person and history kept",
                "{why}"
            );
        }
    }
}

#[test]
fn status_changes_that_end_access_count_towards_the_guard() {
    let (world, mut records) = building(100);
    for r in &mut records[..20] {
        r.status = "past".into();
    }
    let plan = world.plan(records);
    assert_eq!(plan.held.len(), 20);
    assert!(
        plan.people.iter().all(|p| p.status == "current"),
        "held people keep their status"
    );
}

fn shuffled(mut records: Vec<SourceRecord>, seed: u64) -> Vec<SourceRecord> {
    let len = records.len();
    if len > 1 {
        let mut x = seed | 1;
        for i in (1..len).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            records.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }
    records
}

fn arb_records() -> impl Strategy<Value = Vec<SourceRecord>> {
    prop::collection::vec((0u32..40, 0u8..3, any::<bool>()), 1..30).prop_map(|rows| {
        rows.into_iter()
            .map(|(id, status, email)| {
                let mut r = record(&format!("T-{id}"));
                r.status = ["current", "notice", "past"][usize::from(status)].to_string();
                if !email {
                    r.email = None;
                }
                r
            })
            .collect()
    })
}

/// A store an earlier life left behind: people linked to the source (some decoupled, some
/// removed at source), and people an administrator added, some matching a record exactly and
/// some only partly.
fn arb_people() -> impl Strategy<Value = Vec<Person>> {
    prop::collection::btree_map(0u32..40, (0u8..5, any::<bool>()), 0..30).prop_map(|rows| {
        rows.into_iter()
            .map(|(n, (kind, flag))| {
                let id = format!("q{n:03}");
                let ext = format!("T-{n}");
                match kind {
                    0 => linked(&id, &ext),
                    1 => {
                        let mut p = linked(&id, &ext);
                        p.decoupled = true;
                        p.last_name = "Edited Locally".into();
                        p
                    }
                    2 => {
                        let mut p = linked(&id, &ext);
                        p.at_source = flag;
                        p.status = if flag { "current" } else { "past" }.into();
                        p
                    }
                    3 => local(
                        &id,
                        "Ada",
                        &format!("Lovelace {ext}"),
                        Some(&format!("{}@example.com", ext.to_lowercase())),
                    ),
                    _ => local(
                        &id,
                        if flag { "Ada" } else { "Staff" },
                        "Byron",
                        Some(&format!("{}@example.com", ext.to_lowercase())),
                    ),
                }
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_same_snapshot_twice_changes_nothing_the_second_time(records in arb_records()) {
        let mut world = World::default();
        let first = world.plan(records.clone());
        world.apply(&first);
        let second = world.plan(records);
        prop_assert!(second.people.is_empty(), "{:#?}", second.people);
        prop_assert_eq!(second.added + second.updated + second.disabled, 0);
    }

    #[test]
    fn the_same_snapshot_twice_over_an_existing_store_changes_nothing_the_second_time(
        people in arb_people(),
        records in arb_records(),
    ) {
        let mut world = World::with(people);
        let first = world.plan(records.clone());
        world.apply(&first);
        let second = world.plan(records);
        prop_assert!(second.people.is_empty(), "{:#?}", second.people);
        prop_assert!(second.alerts.is_empty(), "{:#?}", second.alerts);
        prop_assert_eq!(second.added + second.updated + second.disabled, 0);
        // A held pass stays held on the same listing, with the same set and alert.
        if let Some(g) = &second.guard {
            prop_assert_eq!(g, &world.guard);
        }
    }

    #[test]
    fn record_order_does_not_change_the_outcome(records in arb_records(), seed in any::<u64>()) {
        let (world, _) = building(20);
        let a = world.plan(records.clone());
        let b = world.plan(shuffled(records, seed));
        let summary = |p: &PassPlan| {
            let mut people: Vec<_> = p.people.iter().map(|x| (x.external_id().map(String::from), x.status.clone(), x.at_source)).collect();
            people.sort();
            (people, p.added, p.updated, p.disabled, p.skipped, p.flagged)
        };
        prop_assert_eq!(summary(&a), summary(&b));
    }

    #[test]
    fn a_snapshot_missing_more_than_the_threshold_never_revokes_before_approval(
        n in 40usize..200,
        missing in 0.06f64..0.9,
        seed in any::<u64>(),
    ) {
        let (world, records) = building(n);
        let keep = n - ((n as f64 * missing).ceil() as usize).max(11).min(n - 1);
        let listing: Vec<_> = shuffled(records, seed).into_iter().take(keep).collect();
        let plan = world.plan(listing);
        prop_assert_eq!(plan.disabled, 0);
        prop_assert!(plan.people.iter().all(|p| p.at_source));
        prop_assert_eq!(plan.held.len(), n - keep);
    }
}

#[test]
fn an_id_listed_twice_applies_neither_copy_and_disables_nobody() {
    let world = World::with(vec![linked("p1", "T-1")]);
    let mut changed = record("T-1");
    changed.status = "past".into();
    let plan = world.plan(vec![record("T-1"), changed, record("T-2")]);
    assert!(planned(&plan, "p1").is_none());
    assert_eq!((plan.added, plan.disabled), (1, 0));
    assert!(
        entry(&plan, Outcome::Flagged, "T-1")
            .reason
            .contains("listed 2 times")
    );
}

#[test]
fn a_readable_record_applies_even_when_an_unreadable_one_shares_its_id() {
    let mut listing = pull(vec![record("T-1")]);
    listing.skipped.push(SkippedRecord {
        index: 0,
        external_id: Some("T-1".into()),
        reason: "move_in: not a date".into(),
    });
    let plan = World::default().run(&listing).expect("plan");
    assert_eq!(plan.added, 1);
}

/// The pull a source reads under the settling scope a pass opens with `world`'s people.
fn read_settling(world: &World, records: Vec<SourceRecord>) -> Pull {
    read_settling_noting(world, records).0
}

/// [`read_settling`], and the phone notes settling made.
fn read_settling_noting(world: &World, records: Vec<SourceRecord>) -> (Pull, Vec<PhoneNote>) {
    let judge = std::sync::Arc::new(super::Settler::new(
        SOURCE,
        world.people.clone(),
        &world.policy,
        Some(phonenumber::country::Id::US),
        &world.ignored,
    ));
    let read = crate::sources::settle::settling(judge.clone(), async move {
        let mut pull = Pull::default();
        for record in records {
            pull.push_resident(record);
        }
        pull
    });
    let pull = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(read);
    let (_, phones) = std::sync::Arc::unwrap_or_clone(judge).into_parts();
    (pull, phones)
}

/// Plans `records` whole and as read under a settling scope; both must decide alike.
fn plans_alike(world: &World, records: Vec<SourceRecord>) -> Result<Pull, TestCaseError> {
    let whole = world.run(&pull(records.clone()));
    let read = read_settling(world, records);
    let settled = world.run(&read);
    prop_assert_eq!(format!("{whole:#?}"), format!("{settled:#?}"));
    Ok(read)
}

#[test]
fn records_already_applied_are_settled_by_id_and_plan_as_they_would_whole() {
    let mut world = World::default();
    let listing = vec![record("T-1"), record("T-2"), record("T-3")];
    let first = world.plan(listing.clone());
    world.apply(&first);
    let mut moved = record("T-2");
    moved.unit = Some("102".into());
    let second = vec![record("T-1"), moved, record("T-3")];
    let read = plans_alike(&world, second).expect("alike");
    let settled: Vec<_> = read
        .settled
        .iter()
        .map(|s| s.external_id.as_str())
        .collect();
    assert_eq!(settled, ["T-1", "T-3"]);
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.residents(), 3);
    let plan = world.run(&read).expect("plan");
    assert_eq!((plan.updated, plan.disabled, plan.added), (1, 0, 0));
    // Decoupled, ignored or excluded records are never settled: each logs why it is skipped.
    world.people[0].decoupled = true;
    world.ignored.insert(SourceLink {
        source: SOURCE.into(),
        external_id: "T-2".into(),
    });
    world.policy.exclude = vec!["T-3".into()];
    let read = plans_alike(&world, listing).expect("alike");
    assert!(read.settled.is_empty(), "{:?}", read.settled);
}

#[test]
fn a_settled_record_keeps_its_place_when_two_records_claim_one_person() {
    let mut world = World::default();
    world.policy.match_key = MatchKey::Email;
    let first = world.plan(vec![record("T-1")]);
    world.apply(&first);
    let mut rekeyed = record("T-9");
    rekeyed.email = record("T-1").email;
    for listing in [
        vec![record("T-1"), rekeyed.clone()],
        vec![rekeyed.clone(), record("T-1")],
    ] {
        let read = plans_alike(&world, listing).expect("alike");
        assert_eq!(read.settled.len(), 1);
    }
}

proptest! {
    #[test]
    fn settling_while_reading_changes_no_plan(
        people in arb_people(),
        first in arb_records(),
        second in arb_records(),
        key in 0u8..3,
        ignored in 0u32..40,
    ) {
        let mut world = World::with(people);
        world.policy.match_key = [MatchKey::ExternalId, MatchKey::Email, MatchKey::UnitAndName][usize::from(key)];
        let plan = world.plan(first.clone());
        world.apply(&plan);
        world.ignored.insert(SourceLink { source: SOURCE.into(), external_id: format!("T-{ignored}") });
        plans_alike(&world, first.clone())?;
        plans_alike(&world, second.clone())?;
        plans_alike(&world, first.into_iter().chain(second).collect())?;
    }
}
