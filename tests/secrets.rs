//! Secrets given as `{ env = "VAR" }` and `{ credential = "NAME" }` (read from
//! `$CREDENTIALS_DIRECTORY/NAME`), through the real binary because a test cannot safely change its
//! own environment: each resolves, a missing one fails naming the variable or credential, and the
//! value shows in no output (check-config, errors, `status --json`, the config's `Debug`).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use lintel::control::Request;
use lintel::demo::pms::PmsServer;

const TOKEN: &str = "tok-7f3a-not-a-real-secret";

/// A building whose JSON source sends `Authorization: Bearer <secret>` with the secret at `secret`.
fn write_config(dir: &Path, pms: &PmsServer, door: &str, secret: &str) -> PathBuf {
    let text = config_text(dir, &pms.url(), &[("door", door.to_string())]).replacen(
        "timeout = \"5s\"\n",
        &format!("timeout = \"5s\"\nauth = \"bearer\"\nsecret = {secret}\n"),
        1,
    );
    let path = dir.join("lintel.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn check_config(config: &Path, env: &[(&str, &OsStr)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["check-config", "--config"])
        .arg(config)
        .env_remove("PMS_TOKEN")
        .env_remove("CREDENTIALS_DIRECTORY")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run lintel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_secret_resolves_and_a_missing_one_names_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(2)).expect("pms");
    let door = sim(16).await;
    let config = write_config(
        dir.path(),
        &pms,
        &door.local_addr().to_string(),
        r#"{ env = "PMS_TOKEN" }"#,
    );

    let out = check_config(&config, &[("PMS_TOKEN", OsStr::new(TOKEN))]).await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!output_text(&out).contains(TOKEN), "{}", output_text(&out));

    let out = check_config(&config, &[]).await;
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("environment variable PMS_TOKEN is not set"),
        "{}",
        output_text(&out)
    );

    // The running daemon sends it (the PMS refuses anything else) and status never shows it.
    pms.require_header("Authorization", &format!("Bearer {TOKEN}"));
    let mut child =
        start_lintel_with_env(dir.path(), &config, &[("PMS_TOKEN", OsStr::new(TOKEN))]).await;
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let status = call(dir.path(), Request::Status).await;
    assert_eq!(status["sources"][0]["last_error"], serde_json::Value::Null);
    assert!(!status.to_string().contains(TOKEN), "{status}");
    let loaded = lintel::config::Config::load(&config).expect("config");
    assert!(format!("{loaded:?}").contains("PMS_TOKEN"));
    assert!(!format!("{loaded:?}").contains(TOKEN));
    child.kill().await.expect("stop lintel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_systemd_credential_resolves_and_a_missing_one_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pms = PmsServer::start(residents(2)).expect("pms");
    let door = sim(16).await;
    let config = write_config(
        dir.path(),
        &pms,
        &door.local_addr().to_string(),
        r#"{ credential = "pms-token" }"#,
    );
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).expect("mkdir");
    let creds_env = [("CREDENTIALS_DIRECTORY", creds.as_os_str())];

    let out = check_config(&config, &[]).await;
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(
            "systemd credential pms-token requested but $CREDENTIALS_DIRECTORY is not set"
        ),
        "{}",
        output_text(&out)
    );

    let out = check_config(&config, &creds_env).await;
    assert!(!out.status.success(), "{}", output_text(&out));
    let missing = creds.join("pms-token");
    assert!(
        output_text(&out).contains(&format!("cannot read secret file {}", missing.display())),
        "{}",
        output_text(&out)
    );

    std::fs::write(&missing, format!("{TOKEN}\n")).expect("write credential");
    let out = check_config(&config, &creds_env).await;
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!output_text(&out).contains(TOKEN), "{}", output_text(&out));

    pms.require_header("Authorization", &format!("Bearer {TOKEN}"));
    let mut child = start_lintel_with_env(dir.path(), &config, &creds_env).await;
    let passes = sync_now(dir.path()).await;
    assert_eq!(passes[0]["ok"], true, "{passes}");
    let status = call(dir.path(), Request::Status).await;
    assert!(!status.to_string().contains(TOKEN), "{status}");
    child.kill().await.expect("stop lintel");
}
