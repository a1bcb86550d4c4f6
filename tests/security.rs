//! The control socket refuses a real other user (uid/gid 65534 through `setpriv`): first by
//! the socket's file mode, and, with the mode opened up, by the daemon's own peer-credential
//! check. Needs root and setpriv (CI has both); otherwise the test says why it skipped.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const NOBODY: &str = "65534";

/// Why this test cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not running as root: cannot switch to another user".into());
    }
    let found = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (!found).then(|| "setpriv (util-linux) is not installed".into())
}

async fn as_nobody(args: &[&str], socket: &Path) -> (Option<i32>, String) {
    let out = tokio::process::Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            env!("CARGO_BIN_EXE_lintel"),
        ])
        .args(args)
        .arg("--socket")
        .arg(socket)
        .env_remove("LINTEL_SOCKET")
        .output()
        .await
        .expect("run setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_is_refused_by_the_control_socket() {
    if let Some(why) = cannot_run() {
        println!("skipped: {why}");
        return;
    }
    let b = Building::start(residents(2), 16).await;
    let socket = socket(b.path());
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "the socket is created 0660");

    // As created: the file mode (and the private directory) keep uid 65534 out.
    let (code, out) = as_nobody(&["status"], &socket).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("permission denied on the control socket")
            && out.contains("run as root or the lintel service user"),
        "{out}"
    );

    // Opened up, the daemon's peer check still refuses, for reads and for changes.
    std::fs::set_permissions(b.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    for args in [
        &["status"][..],
        &["credentials", "add", "R-1", "--card", "77"],
    ] {
        let (code, out) = as_nobody(args, &socket).await;
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(
            out.contains(
                "permission denied: not root, the lintel service user, or in its read group"
            ),
            "{args:?}: {out}"
        );
    }
    assert!(
        b.store().credentials().expect("store").is_empty(),
        "nothing was issued"
    );
    // Root still gets in.
    let (code, out) = b.cli(&["status"]).await;
    assert_eq!(code, Some(0), "{out}");
    b.daemon.stop().await;
}
