//! Malformed requests get Docker's status codes and clear messages; nothing breaks.

mod common;
use common::*;

#[test]
fn api_rejects_bad_requests_with_docker_errors() {
    let d = Daemon::start();
    d.make_busybox();
    let (s, b) = d.post_json("/v1.45/containers/create", "{not json");
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("\"message\":\"invalid JSON"), "{b}");
    let (s, b) = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#,
    );
    assert_eq!(s, 400);
    assert!(b.contains("invalid type"), "{b}");
    let (s, b) = d.post_json(
        "/containers/create",
        r#"{"Image":"nosuchimage","Cmd":["true"]}"#,
    );
    assert_eq!(s, 404);
    assert!(b.contains("No such image: nosuchimage:latest"), "{b}");
    let (s, b) = d.post_json("/containers/create", r#"{"Image":"Bad Name"}"#);
    assert_eq!(s, 400, "{b}");
    let (s, b) = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","Entrypoint":[],"Cmd":[]}"#,
    );
    // The image has CMD ["sh"]; an explicit empty entrypoint keeps it.
    assert_eq!(s, 201, "{b}");
    let (s, b) = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Memory":1024}}"#,
    );
    assert_eq!(s, 400);
    assert!(b.contains("Minimum memory limit allowed is 6MB"), "{b}");
    let (s, _) = d.post_json("/containers/create?name=dup", r#"{"Image":"busybox"}"#);
    assert_eq!(s, 201);
    let (s, b) = d.post_json("/containers/create?name=dup", r#"{"Image":"busybox"}"#);
    assert_eq!(s, 409);
    assert!(b.contains("is already in use"), "{b}");
    let (s, b) = d.post_json("/containers/create?name=-bad", r#"{"Image":"busybox"}"#);
    assert_eq!(s, 400);
    assert!(b.contains("Invalid container name"), "{b}");
    let (s, _) = d.raw_http(
        "GET /v1.45/containers/nope/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 404);
    let (s, b) = d.raw_http("GET /v9.99/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 400);
    assert!(b.contains("too new"), "{b}");
    let (s, _) = d.raw_http(
        "GET /containers/json?filters=notjson HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(s, 400);
    let (s, _) = d.raw_http("HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(s, 200);
    // The daemon is still fine and nothing stored was damaged.
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "echo", "alive"])),
        "alive"
    );
}

#[test]
fn cli_rejects_bad_flags_and_images() {
    let d = Daemon::start();
    d.make_busybox();
    let m = d.berth(&["run", "-m", "abc", "busybox", "true"]);
    assert_eq!(code(&m), 125);
    assert!(
        stderr(&m).contains("invalid argument \"abc\" for \"-m, --memory\" flag"),
        "{}",
        stderr(&m)
    );
    let img = d.berth(&["run", "--rm", "nosuch"]);
    assert_eq!(code(&img), 125);
    assert!(
        stderr(&img).contains("Unable to find image 'nosuch:latest' locally"),
        "{}",
        stderr(&img)
    );
    let bad_ref = d.berth(&["run", "--rm", "UPPER"]);
    assert_eq!(code(&bad_ref), 125);
    assert!(
        stderr(&bad_ref).contains("invalid reference format"),
        "{}",
        stderr(&bad_ref)
    );
    let user = d.berth(&["run", "--rm", "-u", "ghost", "busybox", "true"]);
    assert_ne!(code(&user), 0);
    assert!(
        stderr(&user).contains("unable to find user ghost"),
        "{}",
        stderr(&user)
    );
    // Garbage archives are refused and leave the store as it was.
    let before = ok(d.berth(&["images", "-q"]));
    let load = d.berth_stdin(&["load"], b"this is not a tarball at all");
    assert_ne!(code(&load), 0);
    let imp = d.berth_stdin(&["import", "-", "junk:1"], &[0x1f, 0x8b, 0, 1, 2, 3]);
    assert_ne!(code(&imp), 0);
    assert_eq!(ok(d.berth(&["images", "-q"])), before);
    // Not connected: a clear message.
    let none = std::process::Command::new(berth_bin())
        .args(["-H", "unix:///tmp/no-such-berth.sock", "ps"])
        .output()
        .unwrap();
    assert!(
        stderr(&none).contains("Cannot connect to the berth daemon"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn unsupported_settings_are_refused_not_ignored() {
    let d = Daemon::start();
    d.make_busybox();
    // Ports cannot be published without a network of the container's own.
    let p = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "8080:80",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&p), 125);
    assert!(
        stderr(&p).contains("HostConfig.PortBindings is not supported")
            && stderr(&p).contains("network mode none"),
        "{}",
        stderr(&p)
    );
    let r = d.berth(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert_eq!(code(&r), 125);
    let (s, b) = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog"}}}"#,
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("json-file") && b.contains("syslog"), "{b}");
    assert_eq!(ok(d.berth(&["ps", "-aq"])), "");
}

/// Endpoints clients call that berth serves as a dockerd outside a swarm does, and names
/// with escapes in URL paths.
#[test]
fn swarm_plugins_and_escaped_names() {
    let d = Daemon::start();
    d.make_busybox();
    let get = |path: &str| {
        d.raw_http(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    };
    let (status, body) = get("/v1.45/images/busybox%3Alatest/json");
    assert!(
        status == 200 && body.contains("\"RepoTags\""),
        "{status} {body}"
    );
    for path in [
        "/swarm",
        "/services",
        "/nodes",
        "/tasks",
        "/secrets",
        "/configs",
        "/v1.45/services/x",
    ] {
        let (status, body) = get(path);
        assert!(
            status == 503 && body.contains("not a swarm manager"),
            "{path}: {status} {body}"
        );
    }
    let (status, body) = get("/plugins");
    assert!(status == 200 && body.contains("[]"), "{status} {body}");
    let (status, _) = get("/plugins/nosuch/json");
    assert_eq!(status, 404);
    let (status, _) = get("/images/bad%zzname/json");
    assert_eq!(status, 400);
    // The docker CLI shows dockerd's message, and lists no plugins.
    let services = d.docker(&["service", "ls"]);
    assert!(
        stderr(&services).contains("not a swarm manager"),
        "{}",
        stderr(&services)
    );
    ok(d.docker(&["plugin", "ls"]));
}
