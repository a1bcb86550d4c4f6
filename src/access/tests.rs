use jiff::Timestamp;
use jiff::civil::date;

use super::{Access, Policy, Window};
use crate::config::Config;
use crate::store::{CredentialRecord, Person, PersonType, SourceLink, VisitorPass};

/// Two controllers: `lobby` (doors 0 and 1) and `garage` (door 3), plus an idle `roof` with no
/// doors. Residents reach all three doors, staff only the front door, nobody targets vendors.
const SITE: &str = r#"
[site]
name = "test"
timezone = "America/New_York"

[[controller]]
name = "lobby"
kind = "modbus-tcp"
address = "127.0.0.1:502"

[[controller]]
name = "garage"
kind = "modbus-tcp"
address = "127.0.0.1:503"

[[controller]]
name = "roof"
kind = "modbus-tcp"
address = "127.0.0.1:504"

[[door]]
name = "front"
controller = "lobby"
index = 0

[[door]]
name = "side"
controller = "lobby"
index = 1

[[door]]
name = "gate"
controller = "garage"
index = 3

[[group]]
name = "residents"
doors = ["front", "side", "gate"]
match = { person_type = "resident" }

[[group]]
name = "staff"
doors = ["front"]
match = { person_type = "staff" }
"#;

// America/New_York, checked against `TZ=America/New_York date -d ... +%s`.
/// 2026-03-07 10:00 EST (the day before clocks spring forward).
const MAR_07_1000: i64 = 1_772_895_600;
/// 2026-03-08 10:00 EDT (clocks sprang forward at 02:00 that morning).
const MAR_08_1000: i64 = 1_772_978_400;
/// 2026-03-08 07:30 EDT.
const MAR_08_0730: i64 = 1_772_969_400;
/// 2026-06-30 16:00 EDT.
const JUN_30_1600: i64 = 1_782_849_600;
/// 2026-10-31 16:00 EDT (the day before clocks fall back).
const OCT_31_1600: i64 = 1_793_476_800;
/// 2026-11-01 16:00 EST (clocks fell back at 02:00 that morning).
const NOV_01_1600: i64 = 1_793_566_800;
/// 2026-11-01 22:15 EST.
const NOV_01_2215: i64 = 1_793_589_300;
/// 2026-06-15 12:00 EDT: "now" in most tests, inside every window below.
const NOW: i64 = 1_781_539_200;

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("test timestamps are in range")
}

fn policy(text: &str) -> Policy {
    Policy::new(&Config::parse(text, "test").expect("test config is valid"))
}

/// A UTC site with one controller, `c`; `rest` adds its doors and groups.
fn one_controller(rest: &str) -> Policy {
    policy(&format!(
        r#"
[site]
name = "test"
timezone = "UTC"

[[controller]]
name = "c"
kind = "modbus-tcp"
address = "127.0.0.1:502"
{rest}"#
    ))
}

fn site() -> Policy {
    policy(SITE)
}

/// A current resident living 2026-03-08 .. 2026-11-01 (move dates only; no lease dates).
fn person(id: &str) -> Person {
    Person {
        id: id.to_string(),
        link: Some(SourceLink {
            source: "pms".to_string(),
            external_id: format!("ext-{id}"),
        }),
        first_name: "Ada".to_string(),
        last_name: "Lovelace".to_string(),
        email: None,
        phone: None,
        unit: Some("101".to_string()),
        building: None,
        status: "current".to_string(),
        lease_start: None,
        lease_end: None,
        move_in: Some(date(2026, 3, 8)),
        move_out: Some(date(2026, 11, 1)),
        phone_listed: 0,
        person_type: PersonType::Resident,
        access_enabled: true,
        decoupled: false,
        at_source: true,
        created_at: ts(0),
        updated_at: ts(0),
        extra: Default::default(),
    }
}

// Card numbers are given as u32 and widened to whatever the store keeps.
#[allow(clippy::useless_conversion)]
fn card(card: u32, person_id: &str) -> CredentialRecord {
    CredentialRecord {
        card: card.into(),
        credential: crate::credentials::Credential::raw(card.into()).expect("a card number"),
        person_id: person_id.to_string(),
        added_at: ts(0),
    }
}

fn window(from: Option<i64>, until: Option<i64>) -> Window {
    Window {
        from: from.map(ts),
        until: until.map(ts),
    }
}

fn denied_reason(access: Access) -> String {
    match access {
        Access::Denied(reason) => reason,
        Access::Granted { .. } => panic!("expected a denial, got {access:?}"),
    }
}

fn assert_granted(access: &Access) {
    assert!(
        matches!(access, Access::Granted { .. }),
        "expected a grant, got {access:?}"
    );
}

#[test]
fn window_uses_move_dates_at_default_times_across_dst_changes() {
    // Move-in on the spring-forward day is EDT (UTC-4); move-out on the fall-back day is EST
    // (UTC-5). A fixed offset for either would be an hour off.
    assert_eq!(
        site().window(&person("p1")),
        window(Some(MAR_08_1000), Some(NOV_01_1600))
    );
}

#[test]
fn window_falls_back_to_lease_dates() {
    let mut p = person("p1");
    p.move_in = None;
    p.move_out = None;
    p.lease_start = Some(date(2026, 3, 7));
    p.lease_end = Some(date(2026, 10, 31));
    // 03-07 is still EST (UTC-5), 10-31 still EDT (UTC-4).
    assert_eq!(
        site().window(&p),
        window(Some(MAR_07_1000), Some(OCT_31_1600))
    );
}

#[test]
fn move_dates_take_precedence_over_lease_dates() {
    let mut p = person("p1");
    p.lease_start = Some(date(2026, 3, 7));
    p.lease_end = Some(date(2026, 10, 31));
    assert_eq!(
        site().window(&p),
        window(Some(MAR_08_1000), Some(NOV_01_1600))
    );
}

#[test]
fn configured_access_times_are_honoured() {
    let text = format!("{SITE}\n[access]\nstart_time = \"07:30\"\nend_time = \"22:15\"\n");
    assert_eq!(
        policy(&text).window(&person("p1")),
        window(Some(MAR_08_0730), Some(NOV_01_2215))
    );
}

#[test]
fn window_without_any_dates_is_open_on_both_ends() {
    let mut p = person("p1");
    p.move_in = None;
    p.move_out = None;
    assert_eq!(site().window(&p), window(None, None));
}

#[test]
fn open_ended_lease_has_no_until_and_is_granted_far_ahead() {
    let mut p = person("p1");
    p.move_out = None;
    p.lease_start = Some(date(2026, 3, 7));
    p.lease_end = None;
    let policy = site();
    assert_eq!(policy.window(&p), window(Some(MAR_08_1000), None));
    // Decades later, still granted: nothing ends an open window.
    match policy.access(&p, ts(4_000_000_000)) {
        Access::Granted { window: w, .. } => assert_eq!(w.until, None),
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn resident_gets_every_group_door_as_masks_per_controller() {
    let access = site().access(&person("p1"), ts(NOW));
    let Access::Granted { doors, window: w } = access else {
        panic!("expected a grant, got {access:?}");
    };
    let expected: Vec<(String, u8)> = vec![("garage".into(), 0b1000), ("lobby".into(), 0b11)];
    assert_eq!(doors.into_iter().collect::<Vec<_>>(), expected);
    assert_eq!(w, window(Some(MAR_08_1000), Some(NOV_01_1600)));
}

#[test]
fn an_excluded_person_opens_nothing_and_the_reason_names_the_entry() {
    let mut p = person("p1");
    p.extra.excluded = Some("T-1".into());
    assert_eq!(
        denied_reason(site().access(&p, ts(NOW))),
        "excluded by policy.exclude (`T-1`)"
    );
}

#[test]
fn staff_does_not_match_a_resident_only_group() {
    let mut p = person("s1");
    p.person_type = PersonType::Staff;
    let access = site().access(&p, ts(NOW));
    let Access::Granted { doors, .. } = access else {
        panic!("expected a grant, got {access:?}");
    };
    // Only the staff group's front door; none of the resident group's doors.
    let expected: Vec<(String, u8)> = vec![("lobby".into(), 0b1)];
    assert_eq!(doors.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn group_without_match_applies_to_every_type() {
    let policy = one_controller(
        r#"
[[door]]
name = "d"
controller = "c"
index = 5

[[group]]
name = "all"
doors = ["d"]
"#,
    );
    for ty in [
        PersonType::Resident,
        PersonType::Staff,
        PersonType::Vendor,
        PersonType::Visitor,
    ] {
        let mut p = person("p1");
        p.person_type = ty;
        match policy.access(&p, ts(NOW)) {
            Access::Granted { doors, .. } => {
                assert_eq!(doors.get("c"), Some(&0b10_0000), "{ty:?}");
            }
            other => panic!("{ty:?}: expected a grant, got {other:?}"),
        }
    }
}

#[test]
fn denied_when_no_longer_at_source() {
    let mut p = person("p1");
    assert_granted(&site().access(&p, ts(NOW)));
    p.at_source = false;
    let reason = denied_reason(site().access(&p, ts(NOW)));
    assert!(reason.contains("no longer listed"), "{reason}");
    assert!(reason.contains("`pms`"), "{reason}");
}

#[test]
fn denied_when_disabled_by_an_administrator() {
    let mut p = person("p1");
    p.access_enabled = false;
    let reason = denied_reason(site().access(&p, ts(NOW)));
    assert!(reason.contains("disabled by an administrator"), "{reason}");
}

#[test]
fn denied_when_status_is_not_in_the_configured_list() {
    let mut p = person("p1");
    p.status = "past".to_string();
    let reason = denied_reason(site().access(&p, ts(NOW)));
    assert!(reason.contains("`past`"), "{reason}");

    // The default list carries "notice"; a configured list replaces the default.
    p.status = "notice".to_string();
    assert_granted(&site().access(&p, ts(NOW)));
    let text = format!("{SITE}\n[policy]\nlease_statuses = [\"current\"]\n");
    let reason = denied_reason(policy(&text).access(&p, ts(NOW)));
    assert!(reason.contains("`notice`"), "{reason}");
}

#[test]
fn denied_once_the_window_has_ended_including_the_exact_end() {
    let p = person("p1");
    let policy = site();
    assert_granted(&policy.access(&p, ts(NOV_01_1600 - 1)));
    let reason = denied_reason(policy.access(&p, ts(NOV_01_1600)));
    assert!(reason.contains("window ended"), "{reason}");
    let reason = denied_reason(policy.access(&p, ts(NOV_01_1600 + 1)));
    assert!(reason.contains("window ended"), "{reason}");
}

#[test]
fn not_yet_started_window_is_granted_with_its_start() {
    // The controller enforces valid_from; the grant must carry it.
    let p = person("p1");
    match site().access(&p, ts(MAR_08_1000 - 86_400)) {
        Access::Granted { window: w, .. } => assert_eq!(w.from, Some(ts(MAR_08_1000))),
        other => panic!("expected a grant, got {other:?}"),
    }
}

#[test]
fn denied_when_no_group_matches() {
    let mut p = person("v1");
    p.person_type = PersonType::Vendor;
    let reason = denied_reason(site().access(&p, ts(NOW)));
    assert!(reason.contains("no access group"), "{reason}");
}

#[test]
fn desired_lists_every_card_on_every_reached_controller() {
    let policy = site();
    let people = [person("p1")];
    let credentials = [card(11, "p1"), card(12, "p1")];
    let (desired, next) = policy.desired(&people, &[], &credentials, ts(NOW));

    // Every configured controller has a table, even one nobody reaches.
    assert_eq!(
        desired.keys().map(String::as_str).collect::<Vec<_>>(),
        ["garage", "lobby", "roof"]
    );
    assert!(desired["roof"].is_empty());

    let from = u32::try_from(MAR_08_1000).expect("fits in u32");
    let until = u32::try_from(NOV_01_1600).expect("fits in u32");
    for (controller, mask) in [("lobby", 0b11u8), ("garage", 0b1000)] {
        let table = &desired[controller];
        assert_eq!(table.keys().copied().collect::<Vec<_>>(), [11, 12]);
        for (&number, credential) in table {
            assert_eq!(credential.card, number);
            assert_eq!(credential.doors, mask, "{controller} card {number}");
            assert_eq!(credential.valid_from, from);
            assert_eq!(credential.valid_until, Some(until));
            assert_eq!(credential.pin, None);
        }
    }
    assert_eq!(next, Some(ts(NOV_01_1600)));
}

#[test]
fn desired_skips_people_without_cards_and_denied_people() {
    let policy = site();
    let with_card = person("p1");
    // No card: contributes nothing, not even to `next`, although its window ends soonest.
    let mut no_card = person("p2");
    no_card.move_out = Some(date(2026, 6, 30));
    // Denied (admin-disabled) with a card and an earlier end: ignored entirely.
    let mut disabled = person("p3");
    disabled.access_enabled = false;
    disabled.move_out = Some(date(2026, 6, 20));
    // Window already over: denied, so its past end is not `next` either.
    let mut ended = person("p4");
    ended.move_out = Some(date(2026, 6, 1));

    let people = [with_card, no_card, disabled, ended];
    let credentials = [card(11, "p1"), card(31, "p3"), card(41, "p4")];
    let (desired, next) = policy.desired(&people, &[], &credentials, ts(NOW));

    for table in desired.values() {
        assert!(table.keys().all(|&c| c == 11), "{table:?}");
    }
    assert!(desired["lobby"].contains_key(&11));
    assert_eq!(next, Some(ts(NOV_01_1600)));
}

#[test]
fn desired_next_is_the_earliest_end_still_ahead() {
    let policy = site();
    let late = person("p1");
    let mut early = person("p2");
    early.move_out = Some(date(2026, 6, 30));
    let mut open = person("p3");
    open.move_out = None;
    let people = [late, early, open];
    let credentials = [card(1, "p1"), card(2, "p2"), card(3, "p3")];

    let (desired, next) = policy.desired(&people, &[], &credentials, ts(NOW));
    assert_eq!(next, Some(ts(JUN_30_1600)));
    assert_eq!(desired["lobby"].len(), 3);
    assert_eq!(desired["lobby"][&3].valid_until, None);

    // Once the early window has ended, its card leaves the tables and `next` moves on.
    let (desired, next) = policy.desired(&people, &[], &credentials, ts(JUN_30_1600));
    assert_eq!(next, Some(ts(NOV_01_1600)));
    assert!(!desired["lobby"].contains_key(&2));
    assert!(!desired["garage"].contains_key(&2));

    // Only open windows left: nothing changes without new input.
    let (_, next) = policy.desired(&people[2..], &[], &credentials, ts(NOV_01_1600));
    assert_eq!(next, None);
}

#[test]
fn desired_gives_each_person_their_own_masks() {
    let policy = site();
    let resident = person("p1");
    let mut staff = person("s1");
    staff.person_type = PersonType::Staff;
    staff.move_in = None;
    staff.move_out = None;
    let people = [resident, staff];
    let credentials = [card(11, "p1"), card(21, "s1")];
    let (desired, next) = policy.desired(&people, &[], &credentials, ts(NOW));

    assert_eq!(desired["lobby"][&11].doors, 0b11);
    assert_eq!(desired["lobby"][&21].doors, 0b1);
    assert_eq!(desired["lobby"][&21].valid_from, 0);
    assert_eq!(desired["lobby"][&21].valid_until, None);
    assert!(desired["garage"].contains_key(&11));
    assert!(!desired["garage"].contains_key(&21));
    assert_eq!(next, Some(ts(NOV_01_1600)));
}

fn doors_of(policy: &Policy, p: &Person) -> Option<std::collections::BTreeMap<String, u8>> {
    match policy.access(p, ts(NOW)) {
        Access::Granted { doors, .. } => Some(doors),
        Access::Denied(_) => None,
    }
}

#[test]
fn groups_match_by_floor_unit_and_tags() {
    let text = format!(
        "{SITE}
[[group]]
name = \"twelfth\"
doors = [\"gate\"]
match = {{ person_type = \"staff\", floors = [\"12\"] }}

[[group]]
name = \"penthouse\"
doors = [\"side\"]
match = {{ person_type = \"staff\", units = [\"Apt PH-1\"] }}

[[group]]
name = \"board\"
doors = [\"gate\", \"side\"]
match = {{ person_type = \"vendor\", tags = [\"board\", \"janitor\"] }}
"
    );
    let policy = policy(&text);
    let mut staff = person("s1");
    staff.person_type = PersonType::Staff;
    staff.unit = Some("1203".into());
    assert_eq!(policy.floor_of("1203").as_deref(), Some("12"));
    assert_eq!(policy.floor_of("0901").as_deref(), Some("9"));
    assert_eq!(policy.floor_of("12"), None, "no floor digits left");
    let doors = doors_of(&policy, &staff).expect("granted");
    assert_eq!(doors.get("lobby"), Some(&0b01), "staff group: front");
    assert_eq!(doors.get("garage"), Some(&0b1000), "floor 12: gate");

    staff.unit = Some("PH1".into());
    let doors = doors_of(&policy, &staff).expect("granted");
    assert_eq!(
        doors.get("lobby"),
        Some(&0b11),
        "unit PH1 (canonical of `Apt PH-1`): side too"
    );
    assert_eq!(doors.get("garage"), None);

    let mut vendor = person("v1");
    vendor.person_type = PersonType::Vendor;
    assert!(doors_of(&policy, &vendor).is_none(), "no tag, no group");
    vendor.extra.tags = vec!["janitor".into()];
    let doors = doors_of(&policy, &vendor).expect("tagged");
    assert_eq!(
        (doors.get("lobby"), doors.get("garage")),
        (Some(&0b10), Some(&0b1000))
    );
}

#[test]
fn groups_match_by_building_case_insensitively() {
    // Two buildings share the garage; each opens only its own lobby.
    let policy = one_controller(
        r#"
[[door]]
name = "east-lobby"
controller = "c"
index = 0

[[door]]
name = "west-lobby"
controller = "c"
index = 1

[[door]]
name = "garage"
controller = "c"
index = 2

[[group]]
name = "east"
doors = ["east-lobby", "garage"]
match = { buildings = ["East Tower"] }

[[group]]
name = "west"
doors = ["west-lobby", "garage"]
match = { buildings = ["West", "west annex"], person_type = "resident" }
"#,
    );
    let mut p = person("p1");
    assert!(doors_of(&policy, &p).is_none(), "no building, no group");

    p.building = Some("east tower".into());
    assert_eq!(doors_of(&policy, &p).expect("east").get("c"), Some(&0b101));
    assert_eq!(policy.groups_of(&p), ["east"]);

    p.building = Some("WEST ANNEX".into());
    assert_eq!(doors_of(&policy, &p).expect("west").get("c"), Some(&0b110));
    assert_eq!(
        policy.groups_opening(&p, "c", 1),
        ["group `west` (type `resident`, building `WEST ANNEX`)"]
    );
    assert!(policy.groups_opening(&p, "c", 0).is_empty());

    p.person_type = PersonType::Staff;
    assert!(
        doors_of(&policy, &p).is_none(),
        "building and type must both match"
    );
    p.building = Some("North".into());
    p.person_type = PersonType::Resident;
    assert!(doors_of(&policy, &p).is_none(), "another building");
}

#[test]
fn passes_never_reach_a_controller_without_visitor_passes() {
    let text = SITE.replace(
        "name = \"garage\"\nkind = \"modbus-tcp\"\n",
        "name = \"garage\"\nkind = \"modbus-tcp\"\nvisitor_passes = false\n",
    );
    let policy = policy(&text);
    let host = person("p1");
    let mut pass = VisitorPass {
        id: "v1".into(),
        name: "Gus".into(),
        host: Some("p1".into()),
        unit: None,
        from: ts(NOW),
        to: ts(NOW + 3600),
        doors: Vec::new(),
        origin: crate::store::PassOrigin::Local,
        link: None,
        kept_local: Vec::new(),
        cancelled_at: None,
        removed_at_source: false,
        created_at: ts(NOW),
    };
    // The host opens front, side and gate; the gate's controller takes no visitor passes.
    assert_eq!(
        policy.withheld_doors(&pass, Some(&host), ts(NOW)),
        [("gate".to_string(), "garage".to_string())]
    );
    let Access::Granted { doors, .. } = policy.pass_access(&pass, Some(&host), ts(NOW)) else {
        panic!("granted on the lobby");
    };
    assert_eq!(
        doors.into_iter().collect::<Vec<_>>(),
        [("lobby".to_string(), 0b11)]
    );
    // The host themself keeps the gate.
    assert_eq!(
        doors_of(&policy, &host).expect("host").get("garage"),
        Some(&0b1000)
    );

    pass.doors = vec!["gate".into()];
    assert!(
        denied_reason(policy.pass_access(&pass, Some(&host), ts(NOW)))
            .contains("visitor_passes = false")
    );
    pass.doors = vec!["front".into()];
    assert!(
        policy
            .withheld_doors(&pass, Some(&host), ts(NOW))
            .is_empty()
    );
}

#[test]
fn grants_add_and_denials_remove_doors() {
    let policy = site();
    let mut p = person("p1");
    p.extra.grants = vec!["gate".into()];
    p.extra.denials = vec!["side".into()];
    p.person_type = PersonType::Staff;
    let doors = doors_of(&policy, &p).expect("granted");
    assert_eq!(
        (doors.get("lobby"), doors.get("garage")),
        (Some(&0b01), Some(&0b1000))
    );
    p.extra.denials = vec!["front".into(), "gate".into()];
    p.extra.grants.clear();
    match policy.access(&p, ts(NOW)) {
        Access::Denied(why) => assert!(why.contains("no access group or grant"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn grace_extends_the_end_of_the_window() {
    let text = format!("{SITE}\n[access]\ngrace = \"2h\"\n");
    let policy = policy(&text);
    let p = person("p1");
    assert_eq!(policy.window(&p).until, Some(ts(NOV_01_1600 + 2 * 3600)));
}
