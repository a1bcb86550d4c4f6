//! Issuing credentials on site: card formats through the CLI, fob inventory import with a dry
//! run (all rows or none), and keypad PINs that are never shared.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_in_every_format_reach_the_controller_as_the_reader_reports_them() {
    let b = Building::start(residents(3), 16).await;
    for (person, spec) in [
        ("R-1", "w26:128:3655"),
        ("R-2", "uid:04A1B2C3"),
        ("R-3", "8392264"),
    ] {
        let (code, out) = b.cli(&["credentials", "add", person, "--card", spec]).await;
        assert_eq!(code, Some(0), "{spec}: {out}");
    }
    // W26 128:3655 is what a reader reports as 8392263 (FC << 16 | CN).
    wait_for_cards(&b.door, &[8_392_263, 8_392_264, 0x04A1_B2C3]).await;
    let (code, out) = b
        .cli(&["credentials", "add", "R-1", "--card", "w26:300:1"])
        .await;
    assert_eq!(code, Some(1));
    assert!(out.contains("facility code 300"), "{out}");
    let (code, out) = b
        .cli(&["credentials", "add", "R-1", "--card", "W26 128:3655"])
        .await;
    assert_eq!(code, Some(1));
    assert!(out.contains("already belongs"), "{out}");
    let (_, out) = b.cli(&["credentials", "list"]).await;
    assert!(
        out.contains("W26 128:3655") && out.contains("UID 04A1B2C3"),
        "{out}"
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fob_inventory_imports_all_rows_or_none() {
    let b = Building::start(residents(3), 16).await;
    let file = b.path().join("fobs.csv");
    std::fs::write(
        &file,
        "person,card\nR-1,1001\nr-2@example.com,w26:1:2\nR-9,1003\nR-3,1001\n",
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");

    let (code, out) = b.cli(&["credentials", "import", file, "--dry-run"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("would issue 2 card(s)"), "{out}");
    assert!(out.contains("row 4: no person matches `R-9`"), "{out}");
    assert!(out.contains("row 5: card 1001 appears twice"), "{out}");
    let (code, out) = b.cli(&["credentials", "import", file]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("nothing imported"), "{out}");
    assert!(
        b.store().credentials().expect("creds").is_empty(),
        "nothing half-applied"
    );

    std::fs::write(
        b.path().join("fobs.csv"),
        "person,card\nR-1,1001\nr-2@example.com,w26:1:2\n",
    )
    .expect("write");
    let (code, out) = b.cli(&["credentials", "import", file]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for_cards(&b.door, &[1001, (1 << 16) | 2]).await;
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_are_unique_checked_and_sent_with_the_card() {
    let b = Building::start(residents(2), 16).await;
    b.issue(&[("R-1", 11), ("R-2", 12)]).await;
    let (code, out) = b.cli(&["credentials", "pin", "R-1", "--set", "4821"]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for(&b.door, "the PIN on R-1's card", |t| {
        t.get(&11).is_some_and(|c| c.pin == Some(4821))
    })
    .await;
    let (code, out) = b.cli(&["credentials", "pin", "R-2", "--set", "4821"]).await;
    assert_eq!(code, Some(1));
    assert!(out.contains("belongs to someone else"), "{out}");
    let (code, out) = b.cli(&["credentials", "pin", "R-2", "--set", "1234"]).await;
    assert_eq!(code, Some(1), "weak PINs are refused: {out}");
    let (code, out) = b.cli(&["credentials", "pin", "R-2", "--generate"]).await;
    assert_eq!(code, Some(0), "{out}");
    let pin: u16 = out
        .split_whitespace()
        .nth(4)
        .and_then(|p| p.trim_end_matches(';').parse().ok())
        .expect("pin printed");
    assert_ne!(pin, 4821);
    wait_for(&b.door, "the generated PIN", |t| {
        t.get(&12).is_some_and(|c| c.pin == Some(pin))
    })
    .await;
    let activity = call(
        b.path(),
        lintel::control::Request::Activity {
            limit: 100,
            search: None,
        },
    )
    .await;
    assert!(
        !activity.to_string().contains("4821"),
        "a PIN never lands in the activity log"
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_impact_lists_who_loses_and_gains_doors_before_a_reload() {
    let b = Building::start(residents(2), 16).await;
    b.issue(&[("R-1", 11)]).await;
    let controllers = [
        ("door", b.door.local_addr().to_string()),
        ("side", "127.0.0.1:9".to_string()),
    ];
    let mut proposed = config_text(b.path(), &b.pms.url(), &controllers);
    // Residents keep the side door only; R-2 is given the old door personally.
    proposed = proposed.replace(
        "doors = [\"door-door\", \"side-door\"]",
        "doors = [\"side-door\"]",
    );
    let file = b.path().join("proposed.toml");
    std::fs::write(&file, &proposed).expect("write");
    b.cli(&["people", "grant", "R-2", "door-door"]).await;

    let (code, out) = b
        .cli(&[
            "check-config",
            "--config",
            file.to_str().expect("utf-8"),
            "--impact",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2 people would gain doors and 1 would lose doors"),
        "{out}"
    );
    assert!(
        out.contains("Resident R-1): -door-door, +side-door"),
        "{out}"
    );
    assert!(out.contains("Resident R-2): +side-door"), "{out}");
    assert!(
        held(&b.door).contains_key(&11),
        "nothing changed on the controller"
    );
    b.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_tags_and_grants_change_exactly_that_persons_doors() {
    let b = Building::start(residents(2), 16).await;
    b.issue(&[("R-1", 21), ("R-2", 22)]).await;
    let (code, out) = b.cli(&["people", "deny", "R-1", "door-door"]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for_cards(&b.door, &[22]).await;
    let (_, out) = b.cli(&["explain", "R-1"]).await;
    assert!(
        out.contains("no access group or grant gives this person a door"),
        "{out}"
    );
    let (code, out) = b.cli(&["people", "reset-door", "R-1", "door-door"]).await;
    assert_eq!(code, Some(0), "{out}");
    wait_for_cards(&b.door, &[21, 22]).await;
    let (code, out) = b.cli(&["people", "tag", "R-2", "board"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[\"board\"]"), "{out}");
    let (code, out) = b.cli(&["people", "grant", "R-2", "nowhere"]).await;
    assert_eq!(code, Some(1));
    assert!(out.contains("no door is named `nowhere`"), "{out}");
    b.daemon.stop().await;
}
