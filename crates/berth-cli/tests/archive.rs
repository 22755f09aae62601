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

/// berth's own `cp`, both ways, with dockerd's rules for names and owners.
#[test]
fn berth_cp_both_ways() {
    use std::os::unix::fs::MetadataExt;
    let d = Daemon::start();
    d.make_busybox();
    ok(d.berth(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]));
    let src = d.dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "one\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "two\n").unwrap();
    std::os::unix::fs::chown(src.join("a.txt"), Some(1234), Some(1234)).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // In: a dir into a dir, a file under a new name, contents with owners kept (-a).
    ok(d.berth(&["cp", &s(&src), "box:/tmp/"]));
    ok(d.berth(&["cp", &s(&src.join("a.txt")), "box:/tmp/renamed.txt"]));
    ok(d.berth(&["exec", "box", "mkdir", "/kept"]));
    ok(d.berth(&["cp", "-a", &format!("{}/.", s(&src)), "box:/kept"]));
    let listing = ok(d.berth(&[
        "exec",
        "box",
        "sh",
        "-c",
        "stat -c '%n %u' /tmp/src/a.txt /kept/a.txt /kept/sub/b.txt; cat /tmp/renamed.txt",
    ]));
    assert_eq!(
        listing, "/tmp/src/a.txt 0\n/kept/a.txt 1234\n/kept/sub/b.txt 0\none",
        "without -a the files are the container root's, as with dockerd"
    );
    // Out: a file into a dir, under a new name, a dir's contents, a tar on stdout.
    let out = d.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    ok(d.berth(&["cp", "box:/tmp/renamed.txt", &format!("{}/", s(&out))]));
    ok(d.berth(&["cp", "box:/tmp/renamed.txt", &s(&out.join("again.txt"))]));
    ok(d.berth(&["cp", "box:/kept/.", &s(&out.join("flat"))]));
    ok(d.berth(&["cp", "-a", "box:/kept/.", &s(&out.join("kept"))]));
    assert_eq!(
        std::fs::read_to_string(out.join("renamed.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("again.txt")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("flat/sub/b.txt")).unwrap(),
        "two\n"
    );
    // Owned by who copies, unless -a keeps the container's owners.
    assert_eq!(std::fs::metadata(out.join("flat/a.txt")).unwrap().uid(), 0);
    assert_eq!(
        std::fs::metadata(out.join("kept/a.txt")).unwrap().uid(),
        1234
    );
    let tar = d.berth(&["cp", "box:/tmp/renamed.txt", "-"]);
    assert!(tar.status.success());
    let names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["renamed.txt"]);
    // Errors name what is wrong.
    let missing = d.berth(&["cp", "box:/nope", &s(&out)]);
    assert!(
        stderr(&missing).contains("Could not find the file /nope"),
        "{}",
        stderr(&missing)
    );
    let nobody = d.berth(&["cp", &s(&src), "nosuch:/tmp"]);
    assert!(
        stderr(&nobody).contains("No such container: nosuch"),
        "{}",
        stderr(&nobody)
    );
    ok(d.berth(&["rm", "-f", "box"]));
}

/// `export` and `diff` through the docker CLI and berth's: the filesystem without the
/// container's mounts, with dockerd's init files, and only what the container changed.
#[test]
fn export_and_diff() {
    let d = Daemon::start();
    d.make_busybox();
    let data = d.dir.join("bound");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("host-only"), "x").unwrap();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "box",
        "-v",
        &format!("{}:/mnt/bound", data.display()),
        "busybox",
        "sh",
        "-c",
        "echo hi > /etc/new && rm /etc/group && mkdir -p /data/x && exec sleep 1000",
    ]));
    wait_until("the changes", std::time::Duration::from_secs(10), || {
        code(&d.berth(&["exec", "box", "test", "-d", "/data/x"])) == 0
    });
    let want = "A /data\nA /data/x\nC /etc\nD /etc/group\nA /etc/new\nA /mnt\nA /mnt/bound";
    assert_eq!(ok(d.docker(&["diff", "box"])), want);
    assert_eq!(ok(d.berth(&["diff", "box"])), want);
    // A fresh container changed nothing: the runtime's mount points are in its init
    // layer, as dockerd's are.
    ok(d.docker(&["create", "--name", "fresh", "busybox", "true"]));
    ok(d.docker(&["start", "-a", "fresh"]));
    assert_eq!(ok(d.docker(&["diff", "fresh"])), "");
    for (how, file) in [("docker", "d.tar"), ("berth", "b.tar")] {
        let path = d.dir.join(file);
        let p = path.to_str().unwrap();
        if how == "docker" {
            ok(d.docker(&["export", "-o", p, "box"]));
        } else {
            ok(d.berth(&["export", "-o", p, "box"]));
        }
        let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
        let mut names = std::collections::BTreeMap::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            let mut body = vec![];
            if e.header().entry_type().is_file() {
                std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            }
            names.insert(name, (link, String::from_utf8_lossy(&body).into_owned()));
        }
        assert_eq!(names["etc/new"].1, "hi\n", "{how}");
        assert!(
            !names.contains_key("etc/group"),
            "{how}: deleted files stay deleted"
        );
        assert!(names.contains_key(".dockerenv"), "{how}");
        assert_eq!(
            names["etc/mtab"].0.as_deref(),
            Some("/proc/mounts"),
            "{how}"
        );
        assert!(names.contains_key("bin/busybox"), "{how}");
        assert!(
            !names.keys().any(|n| n.contains("host-only")),
            "{how}: a bind mount is not the container's filesystem"
        );
    }
    // A stopped container exports too; nothing stays mounted.
    ok(d.docker(&["stop", "-t", "0", "box"]));
    let stopped = d.docker(&["export", "box"]);
    assert!(stopped.status.success() && stopped.stdout.len() > 100_000);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(d.dir.join("run/export").to_str().unwrap()),
        "an export mount was left"
    );
    let missing = d.docker(&["export", "nosuch"]);
    assert!(
        stderr(&missing).contains("No such container"),
        "{}",
        stderr(&missing)
    );
    ok(d.docker(&["rm", "-f", "box", "fresh"]));
}
