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
    // Changes are Dockerfile lines, read by the builder's parser.
    let hc = ok(d.docker(&[
        "commit",
        "-c",
        "HEALTHCHECK --interval=3s CMD true",
        "-c",
        "ENTRYPOINT echo from-shell",
        "live",
        "snap:hc",
    ]));
    assert!(hc.starts_with("sha256:"));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.Config.Healthcheck.Interval}} {{json .Config.Entrypoint}}",
            "snap:hc"
        ])),
        r#"3s ["/bin/sh","-c","echo from-shell"]"#
    );
    for (change, says) in [
        ("RUN make", "run is not a valid change command"),
        (
            "STOPSIGNAL SIGINT",
            "stopsignal is not a valid change command",
        ),
    ] {
        let refused = d.docker(&["commit", "-c", change, "live", "snap:bad"]);
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
    }
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
    let (status, body) = d.post_json("/commit?container=src&repo=hc", r#"{"Hostname":"x"}"#);
    assert!(
        status == 400 && body.contains("Config.Hostname"),
        "{status} {body}"
    );
    ok(d.docker(&["rm", "-f", "src", "live"]));
}

fn docker_build(d: &Daemon, args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(args)
        .output()
        .expect("docker")
}

/// The classic builder through the docker CLI: a multi-stage file with the common
/// instructions, the cache, and errors that leave nothing behind.
#[test]
fn docker_build_multi_stage_with_cache() {
    let d = Daemon::start();
    d.make_busybox();
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(ctx.join("conf")).unwrap();
    std::fs::write(ctx.join("conf/app.conf"), "port=8080\n").unwrap();
    std::fs::write(ctx.join("main.sh"), "#!/bin/sh\necho \"main $1\"\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS builder
ARG VERSION=0.1
RUN mkdir /out && echo "built $VERSION" > /out/version \
 && echo "proxy=$no_proxy" && echo done
FROM ${BASE}
LABEL org.example.name="the app"
ENV APP_HOME=/srv/app PATH=/bin:/usr/bin
WORKDIR $APP_HOME
COPY --chmod=0755 main.sh ./bin/
COPY conf/ /etc/app/
COPY --from=builder /out/version .
EXPOSE 8080/tcp 9090
USER nobody
ENTRYPOINT ["/srv/app/bin/main.sh"]
CMD ["default"]
"#,
    )
    .unwrap();
    let ctx_s = ctx.to_str().unwrap();
    let out = docker_build(
        &d,
        &[
            "-t",
            "app:1",
            "--build-arg",
            "VERSION=2.0",
            "--build-arg",
            "no_proxy=internal.example",
            ctx_s,
        ],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let log = stdout(&out);
    assert!(log.contains("Step 1/15 : ARG BASE=busybox"), "{log}");
    assert!(log.contains("Step 2/15 : FROM $BASE AS builder"), "{log}");
    assert!(log.contains("Successfully tagged app:1"), "{log}");
    // A predefined proxy ARG reaches RUN without an ARG line, and no warning is given.
    assert!(log.contains("proxy=internal.example"), "{log}");
    assert!(!log.contains("were not consumed"), "{log}");
    assert_eq!(ok(d.docker(&["run", "--rm", "app:1"])), "main default");
    assert_eq!(ok(d.docker(&["run", "--rm", "app:1", "x"])), "main x");
    let inside = ok(d.docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "app:1",
        "-c",
        "pwd; id -u; cat version /etc/app/app.conf; stat -c %a bin/main.sh",
    ]));
    assert_eq!(inside, "/srv/app\n65534\nbuilt 2.0\nport=8080\n755");
    let meta = ok(d.docker(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"org.example.name\"}}|{{json .Config.ExposedPorts}}|{{.Config.User}}",
        "app:1",
    ]));
    assert_eq!(meta, r#"the app|{"8080/tcp":{},"9090/tcp":{}}|nobody"#);
    // Built again: every step from the cache, the same image.
    let again = docker_build(&d, &["-t", "app:2", "--build-arg", "VERSION=2.0", ctx_s]);
    assert!(again.status.success());
    assert!(!stdout(&again).contains("Running in"), "{}", stdout(&again));
    assert_eq!(
        stdout(&again).matches("Using cache").count(),
        12,
        "{}",
        stdout(&again)
    );
    let id = |t: &str| ok(d.docker(&["inspect", "-f", "{{.Id}}", t]));
    assert_eq!(id("app:1"), id("app:2"));
    // A changed file is copied again, and what follows it runs again.
    std::fs::write(ctx.join("conf/app.conf"), "port=9090\n").unwrap();
    let changed = docker_build(&d, &["-t", "app:3", "--build-arg", "VERSION=2.0", ctx_s]);
    assert!(changed.status.success());
    assert_ne!(id("app:1"), id("app:3"));
    // --target builds the stage it names, and nothing after.
    let first = docker_build(&d, &["-t", "builder:1", "--target", "builder", ctx_s]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        ok(d.docker(&["run", "--rm", "builder:1", "cat", "/out/version"])),
        "built 0.1"
    );
    // Intermediate images are not listed; no build container is left.
    let images = ok(d.docker(&["images", "--format", "{{.Repository}}"]));
    assert!(!images.contains("<none>"), "{images}");
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
    // builder prune: the cache goes (with the layers only it kept), the images stay, and
    // the next build runs its steps again.
    let before = ok(d.docker(&["images", "-aq"])).lines().count();
    let pruned = ok(d.docker(&["builder", "prune", "-af"]));
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert!(ok(d.docker(&["images", "-aq"])).lines().count() < before);
    assert_eq!(ok(d.docker(&["run", "--rm", "app:1", "y"])), "main y");
    let rebuilt = docker_build(&d, &["-t", "app:4", ctx_s]);
    assert!(rebuilt.status.success());
    assert!(
        stdout(&rebuilt).contains("Running in"),
        "{}",
        stdout(&rebuilt)
    );
    let berth_prune = ok(d.berth(&["builder", "prune", "-a", "-f"]));
    assert!(
        berth_prune.contains("Total reclaimed space"),
        "{berth_prune}"
    );
}

#[test]
fn build_errors_leave_nothing_behind() {
    let d = Daemon::start();
    d.make_busybox();
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let ctx_s = ctx.to_str().unwrap();
    let fails = |dockerfile: &str| {
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        let out = docker_build(&d, &["-t", "broken:1", ctx_s]);
        assert!(!out.status.success(), "{dockerfile}");
        format!("{}{}", stdout(&out), stderr(&out))
    };
    let run = fails("FROM busybox\nRUN echo visible-output && exit 3\n");
    assert!(run.contains("visible-output"), "{run}");
    assert!(
        run.contains(
            "The command '/bin/sh -c echo visible-output && exit 3' returned a non-zero code: 3"
        ),
        "{run}"
    );
    let syntax = fails("FROM busybox\nRUN true\nFROBNICATE x\n");
    assert!(
        syntax.contains("line 3") && syntax.contains("FROBNICATE"),
        "{syntax}"
    );
    let missing = fails("FROM busybox\nCOPY nothere /x\n");
    assert!(missing.contains("nothere"), "{missing}");
    let escape = fails("FROM busybox\nCOPY ../../etc/passwd /x\n");
    assert!(escape.contains("outside the build context"), "{escape}");
    let stage = fails("FROM busybox\nCOPY --from=nosuchstage /a /b\n");
    assert!(stage.contains("nosuchstage"), "{stage}");
    let no_image = fails("FROM localhost:1/none/such:tag\n");
    assert!(!no_image.is_empty());
    // A body that is not a tar.
    let (status, body) = d.post_json("/build", "not a tar at all");
    assert!(
        status >= 400 || body.contains("errorDetail"),
        "{status} {body}"
    );
    assert_eq!(ok(d.docker(&["images", "-q", "broken"])), "");
    assert_eq!(ok(d.docker(&["ps", "-aq"])), "");
}

/// berth's own build: .dockerignore, a Dockerfile outside the context, -q, stdin.
#[test]
fn berth_build_context_and_ignore() {
    let d = Daemon::start();
    d.make_busybox();
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(ctx.join("logs")).unwrap();
    std::fs::write(ctx.join("keep.txt"), "kept\n").unwrap();
    std::fs::write(ctx.join("logs/x.log"), "noise\n").unwrap();
    std::fs::write(ctx.join("secret.key"), "k\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "logs\n*.key\n").unwrap();
    let df = d.dir.join("elsewhere.Dockerfile");
    std::fs::write(
        &df,
        "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx | sort | tr '\\n' ' '\n",
    )
    .unwrap();
    let id = ok(d.berth(&[
        "build",
        "-q",
        "-t",
        "ctx:1",
        "-f",
        df.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]));
    assert!(id.starts_with("sha256:"), "{id}");
    let listing = ok(d.berth(&["run", "--rm", "ctx:1", "ls", "-a", "/ctx"]));
    let names: Vec<&str> = listing.lines().collect();
    assert!(names.contains(&"keep.txt"), "{listing}");
    assert!(
        !names.contains(&"logs") && !names.contains(&"secret.key"),
        "{listing}"
    );
    // A Dockerfile alone on stdin.
    let out = d.berth_stdin(
        &["build", "-t", "stdin:1", "-"],
        b"FROM busybox\nCMD [\"echo\", \"from stdin\"]\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ok(d.berth(&["run", "--rm", "stdin:1"])), "from stdin");
}

/// HEALTHCHECK and ONBUILD are recorded in the image; a build FROM it runs the triggers.
#[test]
fn healthcheck_and_onbuild_triggers() {
    let d = Daemon::start();
    d.make_busybox();
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nONBUILD RUN echo triggered > /trig\nHEALTHCHECK --interval=5s --retries=2 CMD true\n",
    )
    .unwrap();
    let out = docker_build(&d, &["-t", "base:1", ctx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{json .Config.Healthcheck}} {{json .Config.OnBuild}}",
            "base:1"
        ])),
        r#"{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":2} ["RUN echo triggered > /trig"]"#
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base:1\nCMD [\"cat\", \"/trig\"]\n",
    )
    .unwrap();
    let child = docker_build(&d, &["-t", "child:1", ctx.to_str().unwrap()]);
    assert!(child.status.success(), "{}", stderr(&child));
    assert!(
        stdout(&child).contains("Executing 1 build trigger"),
        "{}",
        stdout(&child)
    );
    assert_eq!(ok(d.docker(&["run", "--rm", "child:1"])), "triggered");
    assert_eq!(
        ok(d.docker(&["inspect", "-f", "{{json .Config.OnBuild}}", "child:1"])),
        "null"
    );
}

/// A base image in a registry that wants a login: the build pulls it with the client's
/// stored credentials (X-Registry-Config), through the docker CLI and berth's.
#[test]
fn build_pulls_its_base_with_the_clients_credentials() {
    let reg = Registry::start_with(Some(("alice", "s3cret"))).expect("docker-registry");
    let d = Daemon::start();
    d.make_busybox();
    let archive = d.dir.join("bb.tar");
    ok(d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    reg.push_archive_as(&archive, "private/bb:1", Some("alice:s3cret"));
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}/private/bb:1\nRUN echo pulled > /p\n", reg.addr),
    )
    .unwrap();
    let ctx_s = ctx.to_str().unwrap();
    let denied = docker_build(&d, &["-t", "fromprivate:1", ctx_s]);
    assert!(!denied.status.success());
    let login = d.docker_stdin(
        &["login", "-u", "alice", "--password-stdin", &reg.addr],
        b"s3cret\n",
    );
    assert!(
        stdout(&login).contains("Login Succeeded"),
        "{}",
        stderr(&login)
    );
    let built = docker_build(&d, &["-t", "fromprivate:1", ctx_s]);
    assert!(
        built.status.success(),
        "{}{}",
        stdout(&built),
        stderr(&built)
    );
    // berth's own build sends the same stored login.
    ok(d.berth(&["rmi", "-f", &format!("{}/private/bb:1", reg.addr)]));
    ok(d.berth(&["builder", "prune", "-af"]));
    ok(d.berth(&["build", "-q", "-t", "fromprivate:2", ctx_s]));
    assert_eq!(
        ok(d.berth(&["run", "--rm", "fromprivate:2", "cat", "/p"])),
        "pulled"
    );
}

/// `--cache-from`: with the local cache gone, an image built before stands for the steps
/// its history shows; the rebuild runs nothing and is the same image.
#[test]
fn cache_from_an_image() {
    let d = Daemon::start();
    d.make_busybox();
    let ctx = d.dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f.txt"), "file\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nENV A=1\nCOPY f.txt /f.txt\nRUN cat /f.txt > /g.txt\nCMD [\"cat\", \"/g.txt\"]\n",
    )
    .unwrap();
    let ctx_s = ctx.to_str().unwrap();
    let first = docker_build(&d, &["-t", "cf:1", ctx_s]);
    assert!(first.status.success(), "{}", stderr(&first));
    // system df: the images, and the build cache with the space its layers take.
    let df = ok(d.docker(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Size}}",
    ]));
    let cache_line = df
        .lines()
        .find(|l| l.starts_with("Build Cache"))
        .unwrap_or("");
    assert!(cache_line.starts_with("Build Cache 4 "), "{df}");
    assert!(
        !cache_line.ends_with(" 0B"),
        "the COPY and RUN layers take space: {df}"
    );
    assert!(
        df.lines().any(|l| l.starts_with("Images 2 ")),
        "busybox and cf:1: {df}"
    );
    ok(d.docker(&["builder", "prune", "-af"]));
    let id = |t: &str| ok(d.docker(&["inspect", "-f", "{{.Id}}", t]));
    let again = docker_build(&d, &["-t", "cf:2", "--cache-from", "cf:1", ctx_s]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!stdout(&again).contains("Running in"), "{}", stdout(&again));
    assert_eq!(
        stdout(&again).matches("Using cache").count(),
        4,
        "{}",
        stdout(&again)
    );
    assert_eq!(id("cf:1"), id("cf:2"));
    assert_eq!(ok(d.docker(&["run", "--rm", "cf:2"])), "file");
    // A changed file breaks the chain from that step on.
    std::fs::write(ctx.join("f.txt"), "changed\n").unwrap();
    ok(d.berth(&["builder", "prune", "-af"]));
    let out = d.berth(&["build", "--cache-from", "cf:1", "-t", "cf:3", ctx_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).matches("Using cache").count(),
        1,
        "{}",
        stdout(&out)
    );
    assert_eq!(ok(d.berth(&["run", "--rm", "cf:3"])), "changed");
    let missing = docker_build(&d, &["--cache-from", "nosuch:1", ctx_s]);
    assert!(
        stdout(&missing).contains("nosuch:1 is not here"),
        "{}",
        stdout(&missing)
    );
}

/// Serves `files` (path → body) over HTTP on loopback, one connection at a time, for
/// as long as the test runs; the address.
fn serve_http(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(body);
                }
                None => {
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    addr
}

/// A context by URL: a tarball or a lone Dockerfile that the daemon fetches (berth
/// build URL, docker-py's remote=), and one the docker CLI fetches itself.
#[test]
fn build_from_a_url() {
    let d = Daemon::start();
    d.make_busybox();
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [
        (
            "Dockerfile",
            &b"FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n"[..],
        ),
        ("msg", &b"from a tarball\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        tar.append_data(&mut h, name, body).unwrap();
    }
    let tarball = tar.into_inner().unwrap();
    let addr = serve_http(vec![
        ("/ctx.tar", tarball),
        (
            "/Dockerfile",
            b"FROM busybox\nCMD [\"echo\", \"lone dockerfile\"]\n".to_vec(),
        ),
    ]);
    ok(d.berth(&[
        "build",
        "-q",
        "-t",
        "url:1",
        &format!("http://{addr}/ctx.tar"),
    ]));
    assert_eq!(ok(d.berth(&["run", "--rm", "url:1"])), "from a tarball");
    ok(d.berth(&[
        "build",
        "-q",
        "-t",
        "url:2",
        &format!("http://{addr}/Dockerfile"),
    ]));
    assert_eq!(ok(d.berth(&["run", "--rm", "url:2"])), "lone dockerfile");
    let cli = docker_build(&d, &["-t", "url:3", &format!("http://{addr}/Dockerfile")]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    assert_eq!(ok(d.docker(&["run", "--rm", "url:3"])), "lone dockerfile");
    let missing = d.berth(&["build", &format!("http://{addr}/nope.tar")]);
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
    // ADD of a URL: downloaded as it is (an archive is not unpacked), mode 0600.
    let payload = serve_http(vec![("/files/data.tar", b"not really a tar".to_vec())]);
    let ctx = d.dir.join("addctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nADD http://{payload}/files/data.tar /dl/\n"),
    )
    .unwrap();
    ok(d.berth(&["build", "-q", "-t", "url:4", ctx.to_str().unwrap()]));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "url:4",
            "sh",
            "-c",
            "stat -c %a /dl/data.tar; cat /dl/data.tar"
        ])),
        "600\nnot really a tar"
    );
    let git = d.berth(&["build", "git@example.invalid:x/y.git"]);
    assert!(stderr(&git).contains("git"), "{}", stderr(&git));
}

/// The attack: a context whose first COPY source lays down a symlink to a host directory,
/// and whose second writes through that name; and a context holding the name berth gives
/// an ADD <URL> download as such a symlink. Every write stays in the layer or the context.
#[test]
fn copy_and_add_never_write_through_a_symlink_to_the_host() {
    let d = Daemon::start();
    d.make_busybox();
    let host = d.dir.join("host-target");
    std::fs::create_dir_all(&host).unwrap();
    let ctx = d.dir.join("evil");
    std::fs::create_dir_all(ctx.join("one")).unwrap();
    std::fs::create_dir_all(ctx.join("two/x")).unwrap();
    std::os::unix::fs::symlink(&host, ctx.join("one/x")).unwrap();
    std::fs::write(ctx.join("two/x/planted"), "from the build\n").unwrap();
    let payload = serve_http(vec![("/f", b"downloaded\n".to_vec())]);
    for n in 1..=6 {
        std::os::unix::fs::symlink(&host, ctx.join(format!(".berth-add-{n}"))).unwrap();
    }
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nCOPY one two /dst/\nADD http://{payload}/f /dl\n"),
    )
    .unwrap();
    let out = d.berth(&["build", "-t", "evil:1", ctx.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries: Vec<_> = std::fs::read_dir(&host).unwrap().flatten().collect();
    assert!(
        entries.is_empty(),
        "the build wrote on the host: {entries:?}"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", "evil:1", "cat", "/dl"])),
        "downloaded"
    );
}
