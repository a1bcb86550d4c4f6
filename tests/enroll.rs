//! Enrollment by swipe end to end: an operator opens enrollment for a resident at a reader,
//! an unknown card is presented at an esp-rfid board (through a real broker), and that card
//! becomes the resident's and is pushed to the board.

mod common;
mod controllers_common;

use std::time::Duration;

use common::*;
use controllers_common::*;
use lintel::Daemon;
use lintel::control::Request;
use lintel_hal::mqtt::UidFormat;
use lintel_hal::sim::{EspRfidSimConfig, spawn_esp_rfid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_unknown_card_at_the_reader_is_enrolled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = lintel::demo::pms::PmsServer::start(residents(1)).expect("pms");
    let topic = format!("lintel-enroll-{}/front", std::process::id());
    let board = spawn_esp_rfid(
        &sim_broker(),
        &format!("enroll-board-{}", std::process::id()),
        EspRfidSimConfig {
            topic: topic.clone(),
            ip: "10.20.0.45".into(),
            hostname: "front".into(),
            legacy: false,
            heartbeat_s: Some(1),
        },
    )
    .expect("board");
    let controllers = format!(
        "{}\n[[controller]]\nname = \"front\"\nkind = \"esp-rfid\"\nbroker = \"local\"\ntopic = \"{topic}\"\nhostname = \"front\"\nuid_format = \"hex\"\nack_timeout = \"2s\"\nlist_quiet = \"300ms\"\nverify_every = \"0s\"\n",
        broker_toml("local")
    );
    let daemon = Daemon::start(building_config(
        dir.path(),
        &pms.url(),
        &controllers,
        &["front"],
    ))
    .await
    .expect("daemon starts");
    sync_now(dir.path()).await;

    let path = dir.path().to_path_buf();
    let mut enrolling = tokio::spawn(async move {
        lintel::control::client::request(
            &socket(&path),
            &Request::CredentialsEnroll {
                person: "R-1".into(),
                door: "front-door".into(),
                within_s: 30,
            },
        )
        .await
    });
    // The swipe may reach the gateway before the enrollment is registered; present the card
    // again until the enrollment takes it (each swipe is a real device event).
    let enrolled = tokio::time::timeout(PATIENCE, async {
        loop {
            board.swipe("c0ffee42").await;
            if let Ok(done) = tokio::time::timeout(Duration::from_millis(250), &mut enrolling).await
            {
                return done;
            }
        }
    })
    .await
    .expect("enrolled within the patience bound")
    .expect("task")
    .expect("enrollment succeeds");
    assert_eq!(enrolled["card"], 0xc0ff_ee42_u64, "{enrolled}");
    assert_eq!(
        enrolled["person_id"],
        daemon
            .engine()
            .resolve_person("R-1")
            .expect("R-1")
            .id
            .as_str()
    );
    wait_on(
        board.commands(),
        "the enrolled card on the board",
        || {
            board
                .credentials(UidFormat::Hex)
                .into_keys()
                .collect::<Vec<_>>()
        },
        |c| *c == vec![0xc0ff_ee42],
    )
    .await;

    // Nobody swipes: the enrollment ends with a clear refusal.
    let refused = lintel::control::client::request(
        &socket(dir.path()),
        &Request::CredentialsEnroll {
            person: "R-1".into(),
            door: "front-door".into(),
            within_s: 1,
        },
    )
    .await
    .expect_err("times out");
    assert!(
        refused
            .to_string()
            .contains("no unknown card was presented at front-door within 1s"),
        "{refused}"
    );
    daemon.stop().await;
    board.shutdown();
}
