//! docker-py (the Python SDK) against berthd.

mod common;
use common::*;

#[test]
fn docker_py_sdk_works() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import docker"])
        .output();
    if !have.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("skipping: python3 module `docker` not installed (pip install docker)");
        return;
    }
    let d = Daemon::start();
    d.make_busybox();
    let out = std::process::Command::new("python3")
        .arg(repo_root().join("tests/compat/docker_py_check.py"))
        .arg(d.host())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "docker-py check failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), "docker-py: ok");
}
