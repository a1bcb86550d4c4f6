//! A source pass plans the controllers only when it changes what access is planned from
//! (people, credentials, visitor passes), or when no plan has succeeded yet: a pass that finds
//! no change is bookkeeping, and window ends are the scheduler's to plan.

mod common;

use std::path::Path;
use std::sync::Arc;

use lintel::credentials::Credential;
use lintel::daemon::engine::{Engine, PassReport, SourceRunner};
use lintel::sources::PullKind;
use lintel::store::{Commit, CredentialRecord, Store};

const ROSTER: &str = "external_id,unit,first_name,last_name,email,status\n\
                      T-1,101,Ada,Lovelace,ada@example.com,current\n";

fn config(dir: &Path) -> lintel::Config {
    let mut text = common::base_text(dir);
    text.push_str(&format!(
        r#"
[[source]]
name = "roster"
kind = "csv"
path = "{roster}"

[[controller]]
name = "lobby-panel"
kind = "modbus-tcp"
address = "127.0.0.1:9"

[[door]]
name = "lobby"
controller = "lobby-panel"
index = 0

[[group]]
name = "residents"
match = {{ person_type = "resident" }}
doors = ["lobby"]
"#,
        roster = dir.join("roster.csv").display(),
    ));
    lintel::Config::parse(&text, "pass_planning").expect("config")
}

fn engine(store: Store, config: &lintel::Config) -> Engine {
    let sources = vec![SourceRunner {
        name: "roster".into(),
        kind: "csv",
        enabled: true,
        adapter: config.sources[0].build().expect("adapter"),
    }];
    Engine::new(
        store,
        Arc::new(config.clone()),
        sources,
        Arc::new(lintel::clock::SystemClock),
    )
}

/// A card written straight to the store, as no engine path does: only a plan can queue it.
async fn card_behind_the_engines_back(store: &Store, person_id: &str, card: u64) {
    store
        .commit(Commit {
            credentials_put: vec![CredentialRecord {
                card,
                credential: Credential::raw(card).expect("card"),
                person_id: person_id.to_string(),
                added_at: jiff::Timestamp::now(),
            }],
            ..Commit::default()
        })
        .await
        .expect("commit");
}

fn queued_cards(store: &Store) -> Vec<u64> {
    let mut cards: Vec<u64> = store
        .outbox("lobby-panel")
        .expect("outbox")
        .iter()
        .map(|e| e.op.change.card())
        .collect();
    cards.sort_unstable();
    cards
}

async fn pass(engine: &Engine) -> PassReport {
    let report = engine
        .run_pass(&engine.sources[0], PullKind::Full, false)
        .await;
    assert!(report.ok, "{report:?}");
    report
}

#[tokio::test]
async fn a_pass_plans_when_it_changes_access_inputs_or_no_plan_has_succeeded() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("roster.csv"), ROSTER).expect("roster");
    let config = config(dir.path());
    std::fs::create_dir_all(&config.store.path).expect("store dir");
    let store = Store::open(&config.store.path).expect("store");

    let first = engine(store.clone(), &config);
    assert_eq!(pass(&first).await.added, 1);
    let person = store.people().expect("people").remove(0).id;
    card_behind_the_engines_back(&store, &person, 7001).await;
    drop(first);

    // A new engine (a restart) has planned nothing yet: its first pass plans, change or not.
    let engine = engine(store.clone(), &config);
    let report = pass(&engine).await;
    assert_eq!(report.added + report.updated + report.disabled, 0);
    assert_eq!(queued_cards(&store), vec![7001]);

    // With a plan in place, a pass that changes nothing does not plan again...
    card_behind_the_engines_back(&store, &person, 7002).await;
    pass(&engine).await;
    assert_eq!(queued_cards(&store), vec![7001]);
    // ...and the next plan (here the scheduler's) picks up what the store holds.
    engine
        .apply(Commit::default(), jiff::Timestamp::now())
        .await
        .expect("plan");
    assert_eq!(queued_cards(&store), vec![7001, 7002]);

    // A pass that changes a person plans again.
    std::fs::write(
        dir.path().join("roster.csv"),
        ROSTER.replace("Lovelace", "King"),
    )
    .expect("roster");
    card_behind_the_engines_back(&store, &person, 7003).await;
    assert_eq!(pass(&engine).await.updated, 1);
    assert_eq!(queued_cards(&store), vec![7001, 7002, 7003]);
}

/// A pass adding thousands of people (a first import) writes them in several transactions,
/// each with the activity that logs them, and then as one pass: everyone added once, logged
/// once, and the next pass finds nothing to do.
#[tokio::test]
async fn a_first_import_of_thousands_is_written_in_parts_and_logs_everyone_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut roster = String::from("external_id,unit,first_name,last_name,email,status\n");
    for i in 0..2_500 {
        roster.push_str(&format!(
            "T-{i},{i},Ada,Lovelace{i},ada{i}@example.com,current\n"
        ));
    }
    std::fs::write(dir.path().join("roster.csv"), roster).expect("roster");
    let config = config(dir.path());
    std::fs::create_dir_all(&config.store.path).expect("store dir");
    let store = Store::open(&config.store.path).expect("store");
    let engine = engine(store.clone(), &config);

    let before = store.people_generation();
    assert_eq!(pass(&engine).await.added, 2_500);
    assert!(
        store.people_generation() - before > 1,
        "written in one transaction"
    );
    let people = store.people().expect("people");
    assert_eq!(people.len(), 2_500);
    let activity = store.activity(10_000).expect("activity");
    let mut added: Vec<&str> = (activity.iter())
        .filter(|a| a.outcome == lintel::store::Outcome::Added)
        .map(|a| a.subject.as_str())
        .collect();
    added.sort_unstable();
    let mut ids: Vec<&str> = people.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(added, ids);
    let summary = &activity[0];
    assert!(
        summary
            .reason
            .starts_with("pass ok: 2500 listed, 2500 added"),
        "{summary:?}"
    );

    let again = pass(&engine).await;
    assert_eq!((again.added, again.updated, again.disabled), (0, 0, 0));
}
