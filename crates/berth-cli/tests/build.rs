//! Images made from containers and Dockerfiles: `commit`, and the builder.

mod common;
use common::*;

#[test]
fn commit_through_the_docker_cli_and_berth() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo hi > /etc/greeting && ln /etc/greeting /etc/hard && rm /etc/group && mkdir -p /opt/d && mkfifo /opt/fifo",
    ]));
    let id = ok(d.docker(&[
        "commit",
        "-c",
        r#"CMD ["cat", "/etc/greeting"]"#,
        "-c",
        "ENV A=b",
        "-m",
        "added greeting",
        "-a",
        "me",
        "src",
        "committed:v1",
    ]));
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(ok(d.docker(&["run", "--rm", "committed:v1"])), "hi");
    // The layer keeps what the container did: a deletion, a hardlink, a FIFO.
    let inside = ok(d.docker(&[
        "run",
        "--rm",
        "committed:v1",
        "sh",
        "-c",
        "test ! -e /etc/group && test -p /opt/fifo && test -d /opt/d && echo $A && stat -c %h /etc/greeting",
    ]));
    assert_eq!(inside, "b\n2");
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}|{{len .RootFS.Layers}}",
            "committed:v1"
        ])),
        "me|added greeting|2"
    );
    let history = ok(d.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}",
        "committed:v1",
    ]));
    assert_eq!(history.lines().next(), Some("added greeting"), "{history}");
    // berth's own commit, of a running container (paused while its layer is read).
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo x > /state; exec sleep 1000",
    ]));
    wait_until("the file", std::time::Duration::from_secs(10), || {
        code(&d.berth(&["exec", "live", "test", "-e", "/state"])) == 0
    });
    let id2 = ok(d.berth(&[
        "commit",
        "-c",
        "WORKDIR /opt",
        "live",
        "localhost:5000/snap/shot:7",
    ]));
    assert!(id2.starts_with("sha256:"));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "localhost:5000/snap/shot:7",
            "sh",
            "-c",
            "pwd; cat /state"
        ])),
        "/opt\nx"
    );
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Status}}", "live"])),
        "running"
    );
    // Bad input: a container that does not exist, a bad name, a setting an image cannot
    // keep.
    let missing = d.docker(&["commit", "nosuch", "x:y"]);
    assert!(
        stderr(&missing).contains("No such container"),
        "{}",
        stderr(&missing)
    );
    let bad = d.docker(&["commit", "src", "Bad:Name:x"]);
    assert_ne!(code(&bad), 0);
    let (status, body) = d.post_json(
        "/commit?container=src&repo=hc",
        r#"{"Healthcheck":{"Test":["CMD","true"]}}"#,
    );
    assert!(
        status == 400 && body.contains("Config.Healthcheck"),
        "{status} {body}"
    );
    ok(d.docker(&["rm", "-f", "src", "live"]));
}
