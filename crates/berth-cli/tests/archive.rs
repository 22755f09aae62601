//! `docker cp` both ways, on running and stopped containers, and the symlink-swap race
//! of CVE-2018-15664, which must never reach the host.

mod common;
use common::*;
use std::path::Path;

#[test]
fn copy_out_and_in() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.berth(&[
        "run", "-d", "--name", "box", "busybox", "sh", "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -sf a /data/link && exec sleep 1000",
    ]));
    wait_until("the files", std::time::Duration::from_secs(10), || {
        code(&d.berth(&["exec", "box", "test", "-L", "/data/link"])) == 0
    });
    let out = d.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A directory, out.
    ok(d.docker(&["cp", "box:/data", out.to_str().unwrap()]));
    assert_eq!(
        std::fs::read_to_string(out.join("data/a")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/b")).unwrap(),
        "two\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("data/link")).unwrap(),
        Path::new("a")
    );
    // A file, out.
    let file = out.join("a.txt");
    ok(d.docker(&["cp", "box:/data/a", file.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\n");
    // A file and a directory, in.
    let input = d.dir.join("in");
    std::fs::create_dir_all(input.join("dir")).unwrap();
    std::fs::write(input.join("three.txt"), "three\n").unwrap();
    std::fs::write(input.join("dir/four.txt"), "four\n").unwrap();
    ok(d.docker(&[
        "cp",
        input.join("three.txt").to_str().unwrap(),
        "box:/data/",
    ]));
    ok(d.docker(&["cp", input.join("dir").to_str().unwrap(), "box:/data/"]));
    assert_eq!(
        ok(d.berth(&[
            "exec",
            "box",
            "cat",
            "/data/three.txt",
            "/data/dir/four.txt"
        ])),
        "three\nfour"
    );
    // Missing: Docker's message.
    let missing = d.docker(&["cp", "box:/nope", out.to_str().unwrap()]);
    assert!(
        stderr(&missing).contains("Could not find the file /nope"),
        "{}",
        stderr(&missing)
    );
    // A stopped container, both ways; what was copied in is there at the next start.
    ok(d.berth(&["stop", "-t", "1", "box"]));
    let stopped = d.dir.join("stopped.txt");
    ok(d.docker(&["cp", "box:/data/sub/b", stopped.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&stopped).unwrap(), "two\n");
    std::fs::write(input.join("five.txt"), "five\n").unwrap();
    ok(d.docker(&["cp", input.join("five.txt").to_str().unwrap(), "box:/data/"]));
    ok(d.berth(&["start", "box"]));
    assert_eq!(
        ok(d.berth(&["exec", "box", "cat", "/data/five.txt"])),
        "five"
    );
}

/// CVE-2018-15664: while `docker cp` runs, the container swaps a directory for a
/// symlink to a host path. The copy must only ever see the container's own files.
#[test]
fn cp_symlink_swap_race_never_reaches_the_host() {
    let d = Daemon::start();
    d.make_busybox();
    // On the host only: what an escape would copy.
    let secret_dir = d.dir.join("host-secret");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("secret"), "host data\n").unwrap();
    let script = format!(
        "mkdir -p /w/sub && echo inner > /w/sub/f && \
         while true; do mv /w/sub /w/real; ln -s {} /w/sub; rm /w/sub; mv /w/real /w/sub; done",
        secret_dir.display()
    );
    ok(d.berth(&[
        "run", "-d", "--name", "racer", "busybox", "sh", "-c", &script,
    ]));
    for i in 0..25 {
        let out = d.dir.join(format!("out{i}"));
        std::fs::create_dir_all(&out).unwrap();
        let _ = d.docker(&["cp", "racer:/w/sub/", out.to_str().unwrap()]);
        let _ = d.docker(&["cp", "racer:/w/sub/f", out.join("f").to_str().unwrap()]);
        let found = std::process::Command::new("grep")
            .args(["-r", "host data", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            found.stdout.is_empty(),
            "the host's file came out of the container: {}",
            stdout(&found)
        );
    }
    // And into the container: the copy lands inside it, never in the host dir.
    let input = d.dir.join("payload.txt");
    std::fs::write(&input, "payload\n").unwrap();
    for _ in 0..15 {
        let _ = d.docker(&["cp", input.to_str().unwrap(), "racer:/w/sub/"]);
    }
    assert!(
        !secret_dir.join("payload.txt").exists(),
        "written into the host"
    );
}
