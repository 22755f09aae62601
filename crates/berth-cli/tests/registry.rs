//! Pulls from Debian's docker-registry on loopback, by berth and by the docker CLI.

mod common;
use common::*;

#[test]
fn pull_from_a_loopback_registry() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::start();
    d.make_busybox();
    let archive = d.dir.join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    reg.push_archive(&archive, "team/bb:v1");
    ok(d.berth(&["rmi", "busybox"]));
    assert_eq!(ok(d.berth(&["images", "-q"])), "");

    let name = format!("{}/team/bb:v1", reg.addr);
    let out = ok(d.berth(&["pull", &name]));
    assert!(out.starts_with("v1: Pulling from"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains("Digest: sha256:"), "{out}");
    assert!(
        out.ends_with(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", &name, "echo", "pulled"])),
        "pulled"
    );
    // Again: every layer is there already.
    let again = ok(d.berth(&["pull", &name]));
    assert!(
        again.contains(": Already exists") && again.contains("Image is up to date"),
        "{again}"
    );

    // run pulls a missing image by itself.
    ok(d.berth(&["rmi", &name]));
    let run = d.berth(&["run", "--rm", &name, "echo", "auto-pulled"]);
    assert_eq!(
        stdout(&run).lines().last(),
        Some("auto-pulled"),
        "{}",
        stderr(&run)
    );
    assert!(
        stderr(&run).contains("Unable to find image"),
        "{}",
        stderr(&run)
    );

    // The docker CLI through berthd.
    if std::path::Path::new(DOCKER).exists() {
        ok(d.docker(&["rmi", &name]));
        let pulled = ok(d.docker(&["pull", &name]));
        assert!(pulled.contains("Downloaded newer image"), "{pulled}");
        assert_eq!(
            ok(d.docker(&["run", "--rm", &name, "echo", "via-docker"])),
            "via-docker"
        );
    }

    // Errors: an unknown repository, a malformed reference, HTTPS-only registries.
    let missing = d.berth(&["pull", &format!("{}/no/such:tag", reg.addr)]);
    assert_ne!(code(&missing), 0);
    assert!(
        stderr(&missing).contains("manifest unknown"),
        "{}",
        stderr(&missing)
    );
    let bad = d.berth(&["pull", "Not_Valid!"]);
    assert_ne!(code(&bad), 0);
    assert!(
        stderr(&bad).contains("invalid reference format"),
        "{}",
        stderr(&bad)
    );
    let remote = d.berth(&["pull", "registry.example:5000/x"]);
    assert!(stderr(&remote).contains("HTTPS"), "{}", stderr(&remote));
}
