//! Volumes: named and anonymous, filled from the image, shared, in use, the local
//! driver's options, and what `rm -v` and prune take away.

mod common;
use common::*;

fn inspect(d: &Daemon, what: &str, format: &str) -> String {
    ok(d.docker(&["inspect", "-f", format, what]))
}

#[test]
fn named_volumes_outlive_their_containers() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&["volume", "create", "--label", "team=a", "data"]));
    let mountpoint = ok(d.docker(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}} {{.Driver}} {{.Labels}}",
        "data",
    ]));
    assert!(
        mountpoint.ends_with("/volumes/data/_data local map[team:a]"),
        "{mountpoint}"
    );
    ok(d.berth(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ]));
    assert_eq!(
        ok(d.docker(&["run", "--rm", "-v", "data:/d:ro", "busybox", "cat", "/d/f"])),
        "kept"
    );
    let ro = d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "touch",
        "/d/g",
    ]);
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );
    // In use: refused; then removed with its directory.
    ok(d.docker(&[
        "run", "-d", "--name", "user", "-v", "data:/d", "busybox", "sleep", "1000",
    ]));
    let mounts = inspect(
        &d,
        "user",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}",
    );
    assert_eq!(mounts, "volume data /d true");
    let busy = d.docker(&["volume", "rm", "data"]);
    assert!(
        stderr(&busy).contains("volume is in use"),
        "{}",
        stderr(&busy)
    );
    ok(d.docker(&["rm", "-f", "user"]));
    ok(d.docker(&["volume", "rm", "data"]));
    assert!(!std::path::Path::new(&mountpoint.split(' ').next().unwrap()).exists());
    // A name a volume cannot have, and an unknown driver.
    let bad = d.docker(&["run", "--rm", "-v", "no/good:/d", "busybox", "true"]);
    assert_ne!(code(&bad), 0);
    let driver = d.docker(&["volume", "create", "--driver", "nfs-plugin", "x1"]);
    assert!(stderr(&driver).contains("not found"), "{}", stderr(&driver));
}

#[test]
fn anonymous_volumes_image_content_and_removal() {
    let d = Daemon::start();
    d.make_busybox();
    let tar = busybox_rootfs_tar(&[], |b| {
        let mut h = tar_header(tar::EntryType::Directory, 0o750, 0);
        h.set_uid(1234);
        b.append_data(&mut h, "seed", std::io::empty()).unwrap();
        let content = b"from the image\n";
        let mut h = tar_header(tar::EntryType::Regular, 0o640, content.len() as u64);
        h.set_uid(1234);
        b.append_data(&mut h, "seed/file", &content[..]).unwrap();
    });
    d.import_image(
        "seeded",
        &tar,
        &["VOLUME /seed", "CMD [\"sleep\", \"1000\"]"],
    );
    // The image's VOLUME gets an anonymous volume, filled from the image.
    ok(d.docker(&["run", "-d", "--name", "one", "seeded"]));
    let name = inspect(&d, "one", "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(name.len(), 64, "{name}");
    assert_eq!(
        ok(d.berth(&["exec", "one", "cat", "/seed/file"])),
        "from the image"
    );
    assert_eq!(
        ok(d.berth(&["exec", "one", "stat", "-c", "%u %a", "/seed", "/seed/file"])),
        "1234 750\n1234 640"
    );
    // A new named volume is filled too; volume-nocopy leaves it empty.
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "fresh:/seed",
            "seeded",
            "cat",
            "/seed/file"
        ])),
        "from the image"
    );
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=bare,dst=/seed,volume-nocopy",
            "seeded",
            "ls",
            "-A",
            "/seed"
        ])),
        ""
    );
    // -v /path alone, through berth's CLI too.
    ok(d.berth(&[
        "run", "-d", "--name", "two", "-v", "/scratch", "busybox", "sleep", "1000",
    ]));
    let two = inspect(&d, "two", "{{range .Mounts}}{{.Name}}{{end}}");
    assert!(stdout(&d.docker(&["volume", "ls", "-q"])).contains(&two));
    // rm -v takes a container's anonymous volumes, and only those.
    ok(d.docker(&["rm", "-f", "-v", "one", "two"]));
    let left = stdout(&d.docker(&["volume", "ls", "-q"]));
    assert!(!left.contains(&name) && !left.contains(&two), "{left}");
    assert!(left.contains("fresh") && left.contains("bare"), "{left}");
    // --rm too.
    ok(d.docker(&["run", "--rm", "-v", "/gone", "busybox", "true"]));
    assert_eq!(
        stdout(&d.docker(&["volume", "ls", "-q"])).lines().count(),
        2
    );
    // Prune: anonymous only by default, named with --all.
    ok(d.docker(&["volume", "prune", "-f", "--all"]));
    assert_eq!(stdout(&d.docker(&["volume", "ls", "-q"])), "");
}

#[test]
fn volumes_from_and_the_local_drivers_options() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(d.berth(&["exec", "src", "sh", "-c", "echo hello > /s/x"]));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "cat",
            "/s/x"
        ])),
        "hello"
    );
    let ro = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/s/y",
    ]);
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );
    // type=tmpfs: a filesystem of its own while in use, unmounted after.
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=1m",
        "tmpv",
    ]));
    let inside = ok(d.docker(&[
        "run",
        "--rm",
        "-v",
        "tmpv:/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]));
    assert!(inside.starts_with("tmpfs /t tmpfs"), "{inside}");
    let mp = ok(d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "tmpv"]));
    let host_mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!host_mounts.contains(&mp), "still mounted: {mp}");
    let bad = d.docker(&["volume", "create", "--opt", "nope=1", "badopts"]);
    assert!(
        stderr(&bad).contains("invalid option key"),
        "{}",
        stderr(&bad)
    );
    ok(d.docker(&["rm", "-f", "src"]));
}
