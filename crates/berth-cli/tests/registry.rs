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
    // What the registry holds, without pulling: the manifest's descriptor and platforms.
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let get = |path: &str| {
        d.raw_http(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    };
    let (status, body) = get(&format!("/v1.45/distribution/{name}/json"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest.as_str(), "{body}");
    assert!(v["Descriptor"]["size"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(v["Platforms"][0]["os"], "linux", "{body}");
    assert_eq!(v["Platforms"][0]["architecture"], "amd64", "{body}");
    let (status, body) = get(&format!("/distribution/{}/team/bb:nope/json", reg.addr));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("manifest unknown"), "{body}");
    let (status, _) = get("/distribution/Not_Valid!/json");
    assert_eq!(status, 400);
    // docker-py's get_registry_data reads it.
    let py = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import docker, sys\n\
             c = docker.DockerClient(base_url='unix://' + sys.argv[1])\n\
             r = c.images.get_registry_data(sys.argv[2])\n\
             print(r.id, r.has_platform('linux/amd64'))",
        )
        .arg(&d.socket)
        .arg(&name)
        .output()
        .unwrap();
    if !stderr(&py).contains("No module named 'docker'") {
        assert_eq!(
            stdout(&py).trim(),
            format!("{digest} True"),
            "{}",
            stderr(&py)
        );
    }

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

    // The Engine API's progress stream: Docker's per-layer statuses, in order.
    ok(d.berth(&["rmi", &name]));
    let (status, body) = d.raw_http(&format!(
        "POST /v1.45/images/create?fromImage={}/team/bb&tag=v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        reg.addr
    ));
    assert_eq!(status, 200, "{body}");
    // Only the JSON objects: the chunked body's size lines ("63") parse as numbers.
    let messages: Vec<serde_json::Value> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|m| m["status"].is_string())
        .collect();
    let statuses: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["status"].as_str())
        .collect();
    let first = |s: &str| {
        statuses
            .iter()
            .position(|x| x.starts_with(s))
            .unwrap_or_else(|| panic!("no {s:?} in {statuses:?}"))
    };
    assert!(first("Pulling from") < first("Pulling fs layer"));
    assert!(first("Pulling fs layer") < first("Download complete"));
    assert!(first("Download complete") < first("Extracting"));
    assert!(first("Extracting") < first("Pull complete"));
    assert!(first("Pull complete") < first("Digest: sha256:"));
    assert!(first("Digest: sha256:") < first("Status: Downloaded newer image"));
    let extracting = &messages[first("Extracting")];
    assert!(extracting["id"].as_str().is_some(), "{extracting}");
    assert!(
        extracting["progressDetail"]["total"].as_u64().unwrap() > 0,
        "{extracting}"
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

    // Errors: an unknown repository, a malformed reference, a registry that is not there
    // (a closed loopback port: tests send nothing off the machine, not even DNS queries).
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let absent = d.berth(&["pull", &format!("127.0.0.1:{port}/x")]);
    assert_ne!(code(&absent), 0);
    assert!(
        stderr(&absent).contains(&format!("http://127.0.0.1:{port}/v2/x/manifests/latest"))
            && stderr(&absent)
                .to_lowercase()
                .contains("connection refused"),
        "{}",
        stderr(&absent)
    );
}

#[test]
fn push_then_pull_back() {
    let Some(reg) = Registry::start() else { return };
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"]));
    let name = format!("{}/pushed/bb:2", reg.addr);
    ok(d.berth(&["tag", "busybox", &name]));
    let out = ok(d.berth(&["push", &name]));
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/pushed/bb]",
            reg.addr
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("2: digest: sha256:"),
        "{out}"
    );
    // Again: the registry has every blob.
    let again = ok(d.berth(&["push", &name]));
    assert!(again.contains(": Layer already exists"), "{again}");
    // Gone locally, back from the registry, the same image.
    ok(d.berth(&["rmi", "-f", &name, "busybox"]));
    assert_eq!(ok(d.berth(&["images", "-q"])), "");
    ok(d.berth(&["pull", &name]));
    assert_eq!(
        ok(d.berth(&["image", "inspect", "-f", "{{.Id}}", &name])),
        id
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", &name, "echo", "round trip"])),
        "round trip"
    );
    // The docker CLI pushes through berthd too.
    if std::path::Path::new(DOCKER).exists() {
        let via = format!("{}/via/docker:1", reg.addr);
        ok(d.docker(&["tag", &name, &via]));
        let pushed = ok(d.docker(&["push", &via]));
        assert!(pushed.contains("digest: sha256:"), "{pushed}");
    }
    let missing = d.berth(&["push", &format!("{}/no/such:1", reg.addr)]);
    assert!(
        stderr(&missing).contains("does not exist locally"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn login_and_pull_from_a_registry_that_requires_auth() {
    let Some(reg) = Registry::start_with(Some(("alice", "s3cret"))) else {
        return;
    };
    let d = Daemon::start();
    d.make_busybox();
    let archive = d.dir.join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    reg.push_archive_as(&archive, "private/bb:1", Some("alice:s3cret"));
    let name = format!("{}/private/bb:1", reg.addr);

    // Push needs the login too.
    let tagged = format!("{}/private/mine:1", reg.addr);
    ok(d.berth(&["tag", "busybox", &tagged]));
    assert_ne!(code(&d.berth(&["push", &tagged])), 0);
    let denied = d.berth(&["pull", &name]);
    assert_ne!(code(&denied), 0);
    assert!(
        stderr(&denied).contains("pull access denied"),
        "{}",
        stderr(&denied)
    );
    let wrong = d.berth(&["login", "-u", "alice", "-p", "nope", &reg.addr]);
    assert_ne!(code(&wrong), 0);
    assert!(stderr(&wrong).contains("401"), "{}", stderr(&wrong));
    assert_eq!(
        ok(d.berth(&["login", "-u", "alice", "-p", "s3cret", &reg.addr])),
        "Login Succeeded"
    );
    let config = std::fs::read_to_string(d.dir.join("docker-config/config.json")).unwrap();
    assert!(
        config.contains(&reg.addr) && config.contains("\"auth\""),
        "{config}"
    );
    ok(d.berth(&["pull", &name]));
    assert_eq!(
        ok(d.berth(&["run", "--rm", &name, "echo", "private"])),
        "private"
    );
    assert!(ok(d.berth(&["logout", &reg.addr])).starts_with("Removing login credentials"));
    ok(d.berth(&["rmi", &name]));
    assert_ne!(code(&d.berth(&["pull", &name])), 0);

    // The docker CLI: its own login goes through POST /auth, its pull sends X-Registry-Auth.
    if std::path::Path::new(DOCKER).exists() {
        let login = d.docker_stdin(
            &["login", "-u", "alice", "--password-stdin", &reg.addr],
            b"s3cret\n",
        );
        assert!(
            stdout(&login).contains("Login Succeeded"),
            "{} {}",
            stdout(&login),
            stderr(&login)
        );
        ok(d.docker(&["pull", &name]));
    }
}

/// A pull that fails before any progress answers with an HTTP error status, as dockerd:
/// clients show "Error response from daemon" and their exit code says it.
#[test]
fn failed_pull_is_an_http_error() {
    let reg = Registry::start().expect("docker-registry");
    let d = Daemon::start();
    let (status, body) = d.raw_http(&format!(
        "POST /v1.45/images/create?fromImage={}/nosuch/image&tag=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        reg.addr
    ));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let out = d.docker(&["pull", &format!("{}/nosuch/image:1", reg.addr)]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Error response from daemon"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mirrors_for_any_registry_are_tried_in_order_before_it() {
    let Some(origin) = Registry::start() else {
        return;
    };
    let Some(mirror) = Registry::start() else {
        return;
    };
    // A mirror that is down: nothing listens on this port once it is released.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec![
            "--registry-mirror".into(),
            format!("{}=http://127.0.0.1:{dead}", origin.addr),
            "--registry-mirror".into(),
            format!("{}=http://{}/", origin.addr, mirror.addr),
        ],
        ..Default::default()
    });
    d.make_busybox();
    let archive = d.dir.join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    // Only the mirror has this one; only the registry the other.
    mirror.push_archive(&archive, "team/bb:v1");
    origin.push_archive(&archive, "team/only-origin:v1");
    ok(d.berth(&["rmi", "busybox"]));

    let info = ok(d.docker(&["info", "--format", "{{json .RegistryConfig.IndexConfigs}}"]));
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(
        info[origin.addr.as_str()]["Mirrors"],
        serde_json::json!([
            format!("http://127.0.0.1:{dead}"),
            format!("http://{}", mirror.addr)
        ]),
        "{info}"
    );
    let from_mirror = format!("{}/team/bb:v1", origin.addr);
    let out = ok(d.docker(&["pull", &from_mirror]));
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "--pull",
            "never",
            &from_mirror,
            "echo",
            "mirrored"
        ])),
        "mirrored"
    );
    let from_origin = format!("{}/team/only-origin:v1", origin.addr);
    ok(d.docker(&["pull", &from_origin]));
    // Neither has it: the registry's own answer.
    let missing = d.docker(&["pull", &format!("{}/team/nowhere:v1", origin.addr)]);
    assert_ne!(code(&missing), 0);
    assert!(
        stderr(&missing).contains("manifest unknown"),
        "{}",
        stderr(&missing)
    );
    // A mirror URL that is not one stops the daemon at start.
    let bad = std::process::Command::new(berth_bin())
        .args(["daemon", "--registry-mirror", "ftp://x", "--data-root"])
        .arg(d.dir.join("never"))
        .arg("--exec-root")
        .arg(d.dir.join("never-run"))
        .arg("-H")
        .arg(format!("unix://{}", d.dir.join("never.sock").display()))
        .output()
        .expect("berth");
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("http:// or https://"),
        "{}",
        stderr(&bad)
    );
}
