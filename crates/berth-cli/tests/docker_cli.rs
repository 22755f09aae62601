//! The real docker CLI pointed at berth's socket.

mod common;
use common::*;

fn have_docker() -> bool {
    std::path::Path::new(DOCKER).exists()
}

#[test]
fn docker_run_ps_exec_logs_inspect_rm() {
    if !have_docker() {
        eprintln!("skipping: {DOCKER} not installed");
        return;
    }
    let d = Daemon::start();
    d.make_busybox();
    assert_eq!(
        ok(d.docker(&["run", "--rm", "busybox", "echo", "hello"])),
        "hello"
    );
    assert_eq!(
        code(&d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 7"])),
        7
    );
    let nf = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(code(&nf), 127);
    assert!(
        stderr(&nf).contains("executable file not found"),
        "{}",
        stderr(&nf)
    );
    assert_eq!(
        stdout(&d.docker_stdin(&["run", "--rm", "-i", "busybox", "cat"], b"via docker\n")),
        "via docker\n"
    );

    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sleep",
        "1000",
    ]));
    let ps = ok(d.docker(&["ps"]));
    assert!(ps.starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(ps.contains("\"sleep 1000\"") && ps.contains("web"), "{ps}");
    assert_eq!(
        ok(d.docker(&[
            "ps",
            "--filter",
            "label=tier=front",
            "--format",
            "{{.Names}}"
        ])),
        "web"
    );
    assert_eq!(
        ok(d.docker(&["ps", "-a", "--filter", "status=exited", "-q"])),
        ""
    );
    // Filters on what a container mounts, exposes and publishes.
    ok(d.docker(&[
        "create",
        "--name",
        "mounts",
        "-v",
        "/tmp:/host-tmp",
        "--mount",
        "type=tmpfs,target=/scratch",
        "--expose",
        "8080",
        "busybox",
        "true",
    ]));
    let names =
        |filter: &str| ok(d.docker(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]));
    assert_eq!(names("volume=/host-tmp"), "mounts");
    assert_eq!(names("volume=/tmp"), "mounts");
    assert_eq!(names("volume=/scratch"), "mounts");
    assert_eq!(names("volume=/elsewhere"), "");
    assert_eq!(names("expose=8080"), "mounts");
    assert_eq!(names("expose=8080/udp"), "");
    assert_eq!(names("publish=8080"), "");
    ok(d.docker(&["rm", "mounts"]));
    assert_eq!(ok(d.docker(&["exec", "web", "hostname"])).len(), 12);
    assert_eq!(code(&d.docker(&["exec", "web", "sh", "-c", "exit 5"])), 5);
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Config.Image}} {{.Name}}",
            "web"
        ])),
        "running busybox /web"
    );
    let top = ok(d.docker(&["top", "web"]));
    assert!(top.contains("sleep 1000"), "{top}");
    ok(d.docker(&["pause", "web"]));
    assert!(ok(d.docker(&["ps", "--format", "{{.Status}}"])).ends_with("(Paused)"));
    ok(d.docker(&["unpause", "web"]));
    ok(d.docker(&["rename", "web", "web2"]));
    ok(d.docker(&["stop", "-t", "1", "web2"]));
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.ExitCode}}", "web2"])),
        "137"
    );
    ok(d.docker(&["start", "web2"]));
    ok(d.docker(&["kill", "web2"]));
    ok(d.docker(&["rm", "web2"]));

    ok(d.docker(&[
        "run",
        "--name",
        "logger",
        "busybox",
        "sh",
        "-c",
        "echo a; echo b >&2",
    ]));
    let logs = d.docker(&["logs", "logger"]);
    assert_eq!(
        (stdout(&logs).as_str(), stderr(&logs).as_str()),
        ("a\n", "b\n")
    );
    let pruned = ok(d.docker(&["container", "prune", "-f"]));
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}

#[test]
fn docker_create_start_attach_wait() {
    if !have_docker() {
        return;
    }
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.docker(&[
        "create",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo created-then-started; exit 2",
    ]));
    assert_eq!(id.len(), 64);
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{.State.Status}}", "c1"])),
        "created"
    );
    let started = d.docker(&["start", "-a", "c1"]);
    assert_eq!(stdout(&started), "created-then-started\n");
    assert_eq!(code(&started), 2);
    assert_eq!(ok(d.docker(&["wait", "c1"])), "2");
    assert_eq!(
        ok(d.docker(&["run", "--rm", "-t", "busybox", "tty"])).trim(),
        "/dev/pts/0"
    );
}

#[test]
fn docker_images_save_load_tag_rmi() {
    if !have_docker() {
        return;
    }
    let d = Daemon::start();
    d.make_busybox();
    let images = ok(d.docker(&["images"]));
    assert!(
        images.starts_with("REPOSITORY   TAG       IMAGE ID"),
        "{images}"
    );
    ok(d.docker(&["tag", "busybox", "localhost:5000/team/bb:v1"]));
    assert_eq!(
        ok(d.docker(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "localhost:5000/team/bb"
        ])),
        "localhost:5000/team/bb:v1"
    );
    let archive = d.dir.join("bb.tar");
    ok(d.docker(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    let id = ok(d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    // In use: refused; forced by tag only untags.
    ok(d.docker(&["create", "--name", "user", "busybox", "true"]));
    let refused = d.docker(&["rmi", id.as_str()]);
    assert_ne!(code(&refused), 0);
    assert!(
        stderr(&refused).contains("conflict"),
        "{}",
        stderr(&refused)
    );
    ok(d.docker(&["rm", "user"]));
    ok(d.docker(&["rmi", "localhost:5000/team/bb:v1"]));
    let out = ok(d.docker(&["rmi", "busybox"]));
    assert!(
        out.contains("Untagged: busybox:latest") && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert_eq!(ok(d.docker(&["images", "-q"])), "");
    let loaded = ok(d.docker(&["load", "-i", archive.to_str().unwrap()]));
    assert_eq!(loaded, "Loaded image: busybox:latest");
    assert_eq!(
        ok(d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"])),
        id,
        "save/load keeps the image ID"
    );
    assert_eq!(
        ok(d.docker(&["run", "--rm", "busybox", "echo", "reloaded"])),
        "reloaded"
    );
    let hist = ok(d.docker(&["history", "busybox"]));
    assert!(hist.contains("berth import"), "{hist}");
}
