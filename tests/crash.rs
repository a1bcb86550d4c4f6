//! `kill -9` between enqueue and acknowledgement loses nothing: the daemon runs as a child
//! process, is killed while a write is in flight, and after a restart the controller converges.

mod common;

use common::*;
use lintel::demo::pms::PmsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_write_then_restart_converges_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(8)).expect("pms");
    let door = sim(32).await;
    let config_path = dir.path().join("lintel.toml");
    let controllers = [("door", door.local_addr().to_string())];
    std::fs::write(
        &config_path,
        config_text(dir.path(), &pms.url(), &controllers),
    )
    .expect("write config");

    let mut daemon = start_lintel(dir.path(), &config_path).await;
    sync_now(dir.path()).await;
    add_card(dir.path(), "R-1", 9001).await;
    wait_for_cards(&door, &[9001]).await;

    // The controller takes the next writes but does not answer: they are in flight.
    door.hold_writes();
    let mut arrivals = door.arrivals();
    let before = *arrivals.borrow_and_update();
    for i in 2..=8 {
        add_card(dir.path(), &format!("R-{i}"), 9000 + i).await;
    }
    // Dropping R-1 at the source queues a revocation behind those grants' acknowledgements.
    assert!(pms.remove("R-1"));
    sync_now(dir.path()).await;
    tokio::time::timeout(PATIENCE, arrivals.wait_for(|n| *n > before))
        .await
        .expect("a write in flight")
        .expect("sim alive");

    daemon.kill().await.expect("SIGKILL");
    door.release_writes();

    let mut daemon = start_lintel(dir.path(), &config_path).await;
    let want: Vec<u64> = (9002..=9008).collect();
    wait_for_cards(&door, &want).await;

    // Once the outbox drained the store agrees with the controller: the seven grants, and not
    // R-1's revoked card.
    let status = || call(dir.path(), lintel::control::Request::Status);
    eventually("the outbox to drain after the restart", || async {
        status().await["controllers"][0]["pending_ops"] == 0
    })
    .await;
    let status = status().await;
    assert_eq!(status["controllers"][0]["credentials"], 7, "{status}");
    assert_eq!(status["controllers"][0]["pending_ops"], 0, "{status}");
    daemon.kill().await.expect("kill");
}
