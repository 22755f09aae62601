//! Containers that look after themselves (restart policies, health checks) and what a
//! client sees of them (events, stats), through the docker CLI and berth's own.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `docker events` running beside the test, its lines read as they come; ended (by pid)
/// on drop.
struct EventWatch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl EventWatch {
    fn start(d: &Daemon, args: &[&str]) -> Self {
        // From now, replayed from the journal: nothing is missed however late the CLI
        // connects (the daemon sends each event once, replayed or live).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        let since = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
        let mut child = Command::new(DOCKER)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.join("docker-config"))
            .arg("events")
            .args(["--since", &since])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker events");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// Lines until one contains `until` (included), or panics after `timeout`.
    fn read_until(&self, until: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = vec![];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = l.contains(until);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no event with {until:?} within {timeout:?}; saw {seen:#?}"),
            }
        }
    }
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d.docker(&["inspect", "-f", format, name]))
}

#[test]
fn events_stream_filter_and_replay() {
    let d = Daemon::start();
    d.make_busybox();
    let since = ok(Command::new("date").arg("+%s").output().expect("date"));
    let watch = EventWatch::start(
        &d,
        &[
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    let only_dies = EventWatch::start(&d, &["--filter", "event=die", "--filter", "container=ev1"]);
    // Another client does the work.
    assert_eq!(
        code(&d.berth(&["run", "--name", "ev1", "busybox", "sh", "-c", "exit 4"])),
        4
    );
    ok(d.berth(&[
        "run", "-d", "--name", "ev2", "-l", "tier=web", "busybox", "sleep", "100",
    ]));
    ok(d.berth(&["exec", "ev2", "true"]));
    ok(d.berth(&["rename", "ev2", "ev3"]));
    ok(d.berth(&["stop", "-t", "1", "ev3"]));
    ok(d.berth(&["rm", "ev1", "ev3"]));
    let seen = watch.read_until("destroy ev3", Duration::from_secs(20));
    let actions: Vec<&str> = seen.iter().map(String::as_str).collect();
    let ev1: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| a.ends_with(" ev1"))
        .collect();
    assert_eq!(
        ev1,
        [
            "create ev1",
            "attach ev1",
            "start ev1",
            "die ev1",
            "destroy ev1"
        ],
        "{actions:#?}"
    );
    for expected in [
        "exec_create: true ev2",
        "exec_start: true ev2",
        "exec_die ev2",
        "rename ev3",
        "kill ev3",
        "die ev3",
        "stop ev3",
    ] {
        assert!(actions.contains(&expected), "{expected}: {actions:#?}");
    }
    // The filtered watcher saw ev1's death only, with its exit code.
    let dies = only_dies.read_until("die", Duration::from_secs(5));
    assert_eq!(dies.len(), 1, "{dies:#?}");
    assert!(dies[0].contains("exitCode=4"), "{dies:#?}");
    // The past, replayed from the journal, ends at `until`.
    let now = ok(Command::new("date").arg("+%s").output().expect("date"));
    let until = (now.parse::<i64>().unwrap() + 1).to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let past = ok(d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "label=tier=web",
        "--format",
        "{{.Type}} {{.Action}}",
    ]));
    let past: Vec<&str> = past.lines().collect();
    assert_eq!(past.first(), Some(&"container create"), "{past:#?}");
    assert_eq!(past.last(), Some(&"container destroy"), "{past:#?}");
    assert!(!past.iter().any(|l| l.contains("network")), "{past:#?}");
    // Networks and volumes have their events too; a bad filter is a 400.
    ok(d.berth(&["volume", "create", "evvol"]));
    ok(d.berth(&["volume", "rm", "evvol"]));
    let vol = ok(d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until_now(),
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}}",
    ]));
    assert_eq!(vol, "create evvol\ndestroy evvol", "{vol}");
    let bad = d.docker(&["events", "--filter", "colour=blue", "--until", &until_now()]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("invalid filter 'colour'"),
        "{}",
        stderr(&bad)
    );
    // berth's own CLI prints them as docker does.
    let own = ok(d.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until_now(),
        "-f",
        "event=rename",
    ]));
    assert!(
        own.contains(" container rename ") && own.contains("oldName=/ev2"),
        "{own}"
    );
}

fn until_now() -> String {
    std::thread::sleep(Duration::from_millis(50));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

#[test]
fn restart_policies_and_a_daemon_killed_in_between() {
    let mut d = Daemon::start();
    d.make_busybox();
    // on-failure:2 gives a failing container two more runs, then leaves it.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "fail",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    wait_until("two restarts", Duration::from_secs(20), || {
        inspect(&d, "fail", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "fail", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 3"
    );
    // on-failure does not restart a success.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        inspect(&d, "fine", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );
    // always restarts whatever the exit, until a user stops it.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    wait_until("restarts", Duration::from_secs(20), || {
        inspect(&d, "loop", "{{.RestartCount}}")
            .parse::<i64>()
            .unwrap_or(0)
            >= 3
    });
    ok(d.docker(&["stop", "loop"]));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(inspect(&d, "loop", "{{.State.Status}}"), "exited");
    // unless-stopped: a user's stop is remembered across a daemon restart; always is
    // started again by the daemon.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "us",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]));
    ok(d.docker(&["stop", "-t", "0", "us"]));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "crashy",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]));
    wait_until("crashy running", Duration::from_secs(10), || {
        inspect(&d, "crashy", "{{.State.Running}}") == "true"
    });
    // The daemon dies (kill -9); crashy exits while nobody watches; a new daemon finds
    // it exited and starts it by its policy.
    d.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    d.restart();
    wait_until(
        "crashy restarted by the new daemon",
        Duration::from_secs(20),
        || {
            let s = inspect(&d, "crashy", "{{.State.Status}} {{.RestartCount}}");
            s.starts_with("running") && s != "running 0"
        },
    );
    assert_eq!(inspect(&d, "us", "{{.State.Status}}"), "exited");
    // (It exits at once again, so it is running or waiting for its next restart.)
    let status = inspect(&d, "loop", "{{.State.Status}}");
    assert!(
        matches!(status.as_str(), "running" | "restarting"),
        "{status}"
    );
    ok(d.docker(&["rm", "-f", "crashy", "loop"]));
    // What dockerd refuses.
    let rm = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
    );
    assert_eq!(rm.0, 400, "{rm:?}");
    assert!(rm.1.contains("AutoRemove"), "{rm:?}");
    let max = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#,
    );
    assert_eq!(max.0, 400, "{max:?}");
    let bad = d.docker(&["run", "--restart", "sometimes", "busybox", "true"]);
    assert!(!bad.status.success());
}

#[test]
fn health_checks_events_and_restart_on_failure() {
    let d = Daemon::start();
    d.make_busybox();
    let watch = EventWatch::start(
        &d,
        &[
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ],
    );
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -e /tmp/ready && echo fine",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]));
    assert!(
        ok(d.docker(&["ps", "--format", "{{.Status}}", "-f", "name=hc"]))
            .contains("(health: starting)")
    );
    watch.read_until("health_status: unhealthy hc", Duration::from_secs(10));
    assert!(
        ok(d.docker(&["ps", "--format", "{{.Status}}", "-f", "name=hc"])).contains("(unhealthy)")
    );
    ok(d.docker(&["exec", "hc", "touch", "/tmp/ready"]));
    watch.read_until("health_status: healthy hc", Duration::from_secs(10));
    let log = inspect(
        &d,
        "hc",
        "{{.State.Health.Status}} {{.State.Health.FailingStreak}}{{range .State.Health.Log}}|{{.ExitCode}}:{{.Output}}{{end}}",
    );
    assert!(log.starts_with("healthy 0|1:|"), "{log}");
    assert!(log.trim_end().ends_with("|0:fine"), "{log}");
    // A probe that outlives its timeout fails with dockerd's message.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 10",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "100ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    watch.read_until("health_status: unhealthy slow", Duration::from_secs(10));
    let out = inspect(
        &d,
        "slow",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
    );
    assert!(out.starts_with("-1 Health check exceeded timeout"), "{out}");
    // The image's HEALTHCHECK is used, and --no-healthcheck turns it off.
    ok(d.docker_stdin(
        &["build", "-q", "-t", "withcheck", "-"],
        b"FROM busybox\nHEALTHCHECK --interval=200ms CMD true\n",
    ));
    // `-t name` is `name:latest` (it was stored without a tag once, and not listed).
    let images = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(images.lines().any(|l| l == "withcheck:latest"), "{images}");
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "fromimage",
        "--pull",
        "never",
        "withcheck",
        "sleep",
        "300",
    ]));
    watch.read_until("health_status: healthy fromimage", Duration::from_secs(10));
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "nocheck",
        "--no-healthcheck",
        "--pull",
        "never",
        "withcheck",
        "sleep",
        "300",
    ]));
    assert_eq!(inspect(&d, "nocheck", "{{.State.Health}}"), "<nil>");
    // Beyond Docker: an unhealthy container restarted (podman's --health-on-failure,
    // here through berth's CLI; any client can set the label).
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "healer",
        "--health-cmd",
        "false",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "--health-on-failure",
        "restart",
        "--stop-timeout",
        "1",
        "busybox",
        "sleep",
        "300",
    ]));
    let first = inspect(&d, "healer", "{{.State.StartedAt}}");
    wait_until(
        "the unhealthy container restarted",
        Duration::from_secs(20),
        || inspect(&d, "healer", "{{.State.StartedAt}}") != first,
    );
    let bad = d.docker(&[
        "run",
        "--label",
        "io.berth.health-on-failure=reboot",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&bad).contains("io.berth.health-on-failure"),
        "{}",
        stderr(&bad)
    );
    let bad = d.docker(&[
        "run",
        "--health-cmd",
        "true",
        "--health-interval",
        "1ns",
        "busybox",
        "true",
    ]);
    assert!(!bad.status.success());
    ok(d.docker(&["rm", "-f", "hc", "slow", "fromimage", "nocheck", "healer"]));
}

/// `memory_and_pids`: whether the hierarchy has those controllers (a hybrid host's v2
/// hierarchy may have none; CPU time is counted on v2 all the same).
/// The first `n` JSON lines of a streamed response (the connection is then dropped).
fn first_lines(d: &Daemon, path: &str, n: usize) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("request");
    let mut data = vec![];
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let lines: Vec<serde_json::Value> = body
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return lines,
            Ok(k) => data.extend_from_slice(&buf[..k]),
        }
    }
}

fn check_stats(d: &Daemon, memory_and_pids: bool) {
    d.make_busybox();
    let limit: &[&str] = if memory_and_pids { &["-m", "64m"] } else { &[] };
    let mut run = vec!["run", "-d", "--name", "busy"];
    run.extend_from_slice(limit);
    run.extend_from_slice(&["busybox", "sh", "-c", "while :; do :; done"]);
    ok(d.docker(&run));
    ok(d.docker(&["run", "-d", "--name", "idle", "busybox", "sleep", "300"]));
    let table = ok(d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}",
    ]));
    let busy = table
        .lines()
        .find(|l| l.starts_with("busy "))
        .expect(&table)
        .to_string();
    let f: Vec<&str> = busy.split_whitespace().collect();
    let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "a spinning container uses CPU: {table}");
    if memory_and_pids {
        assert_eq!(f[4], "64MiB", "{table}");
        assert_eq!(f[5], "1", "{table}");
    }
    // One shot: at once, without the previous sample.
    let (status, body) =
        d.raw_http("GET /containers/idle/stats?stream=0&one-shot=1 HTTP/1.0\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect(&body);
    assert_eq!(v["name"], "/idle");
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    if memory_and_pids {
        assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0, "{v}");
        assert!(v["pids_stats"]["current"].as_u64() == Some(1), "{v}");
    }
    assert!(v["networks"]["eth0"]["rx_bytes"].is_u64(), "{v}");
    // Streaming: a sample a second, each after the one before.
    let samples = first_lines(d, "/containers/busy/stats", 2);
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert_eq!(samples[1]["preread"], samples[0]["read"]);
    // berth's own table.
    let own = ok(d.berth(&["stats", "--no-stream", "idle"]));
    assert!(own.starts_with("CONTAINER ID   NAME"), "{own}");
    assert!(own.contains(" idle "), "{own}");
    ok(d.docker(&["rm", "-f", "busy", "idle"]));
}

#[test]
fn stats_on_cgroup_v1() {
    let d = Daemon::start();
    check_stats(&d, true);
}

#[test]
fn stats_on_cgroup_v2() {
    let Some(d) = Daemon::start_v2() else { return };
    let controllers = [
        "/sys/fs/cgroup/cgroup.controllers",
        "/sys/fs/cgroup/unified/cgroup.controllers",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    check_stats(&d, has("memory") && has("pids"));
}

#[test]
fn update_resources_and_restart_policy() {
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.docker(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "300",
    ]));
    ok(d.docker(&[
        "update",
        "--memory",
        "32m",
        "--memory-swap",
        "96m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "7",
        "--restart",
        "on-failure:3",
        "upd",
    ]));
    assert_eq!(
        inspect(
            &d,
            "upd",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "33554432 100663296 500000000 7 on-failure:3"
    );
    // The live cgroup has the new limits (v1 paths on this host; v2 on a v2 host).
    let cg = format!("{}/{id}", d.cgroup_parent);
    let read = |v1: &str, v2: &str| -> String {
        let p1 = format!("/sys/fs/cgroup/{v1}");
        let p2 = format!("/sys/fs/cgroup{cg}/{v2}");
        std::fs::read_to_string(p1.replace("{cg}", &cg))
            .or_else(|_| std::fs::read_to_string(p2))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(
        read("memory{cg}/memory.limit_in_bytes", "memory.max"),
        "33554432"
    );
    assert_eq!(read("pids{cg}/pids.max", "pids.max"), "7");
    let quota = read("cpu{cg}/cpu.cfs_quota_us", "cpu.max");
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    // The container feels it: an eighth process cannot start.
    let forks = d.docker(&[
        "exec",
        "upd",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
    ]);
    assert!(
        !forks.status.success() || stderr(&forks).contains("fork"),
        "{}",
        stderr(&forks)
    );
    // A stopped container takes the policy for its next runs.
    ok(d.docker(&["run", "--name", "later", "busybox", "true"]));
    ok(d.docker(&["update", "--restart", "always", "later"]));
    ok(d.docker(&["start", "later"]));
    wait_until(
        "restarted by the updated policy",
        Duration::from_secs(20),
        || {
            inspect(&d, "later", "{{.RestartCount}}")
                .parse::<i64>()
                .unwrap_or(0)
                >= 1
        },
    );
    ok(d.docker(&["stop", "later"]));
    // What berth cannot change is refused by name; so is a limit create refuses.
    let blkio = d.docker(&["update", "--blkio-weight", "300", "upd"]);
    assert!(stderr(&blkio).contains("BlkioWeight"), "{}", stderr(&blkio));
    let tiny = d.docker(&["update", "--memory", "1k", "upd"]);
    assert!(!tiny.status.success());
    // berth's own CLI sends the same.
    assert_eq!(ok(d.berth(&["update", "--pids-limit", "9", "upd"])), "upd");
    assert_eq!(inspect(&d, "upd", "{{.HostConfig.PidsLimit}}"), "9");
    ok(d.docker(&["rm", "-f", "upd", "later"]));
}

#[test]
fn log_drivers_json_file_local_and_none() {
    let d = Daemon::start();
    d.make_busybox();
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "hi"
        ])),
        "hi",
        "attached output still reaches the client"
    );
    let logs = d.docker(&["logs", "quiet"]);
    assert!(!logs.status.success());
    assert!(
        stderr(&logs).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&logs)
    );
    assert_eq!(
        inspect(&d, "quiet", "{{.HostConfig.LogConfig.Type}}[{{.LogPath}}]"),
        "none[]"
    );
    ok(d.docker(&[
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=1m",
        "busybox",
        "echo",
        "kept",
    ]));
    assert_eq!(ok(d.docker(&["logs", "loc"])), "kept");
    assert_eq!(
        inspect(&d, "loc", "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"compress\"}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"),
        "local true 1048576"
    );
    let syslog = d.docker(&["run", "--log-driver", "syslog", "busybox", "true"]);
    assert!(
        stderr(&syslog).contains("LogConfig.Type"),
        "{}",
        stderr(&syslog)
    );
    let opt = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"none","Config":{"max-size":"1m"}}}}"#,
    );
    assert_eq!(opt.0, 400, "{opt:?}");
    ok(d.docker(&["rm", "quiet", "loc"]));
}

/// An attach through a raw hijacked connection: sends each of `inputs` half a second
/// apart, then reads until the daemon closes the connection (or 10 s pass); returns what
/// came back after the 101.
fn hijacked_attach(d: &Daemon, query: &str, inputs: &[&[u8]]) -> (String, bool) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "POST /containers/{query} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("request");
    for input in inputs {
        std::thread::sleep(Duration::from_millis(500));
        s.write_all(input).expect("input");
    }
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[test]
fn detach_keys_and_attach_replays() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&["run", "-d", "-it", "--name", "tt", "busybox", "sh"]));
    // ctrl-p ctrl-q after a command: the command ran, the client is let go, the shell
    // lives on with its stdin open.
    let (out, closed) = hijacked_attach(
        &d,
        "tt/attach?stream=1&stdin=1&stdout=1&stderr=1",
        &[b"echo first-$((40+2))\n", b"\x10\x11"],
    );
    assert!(
        closed,
        "the daemon ends the attach on the detach keys: {out}"
    );
    assert!(out.contains("first-42"), "{out}");
    assert_eq!(inspect(&d, "tt", "{{.State.Running}}"), "true");
    // Custom keys, and a false start that passes through.
    let (out, closed) = hijacked_attach(
        &d,
        "tt/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x",
        &[b"echo \x01y-second\n", b"\x01x"],
    );
    assert!(closed && out.contains("second"), "{out}");
    assert_eq!(inspect(&d, "tt", "{{.State.Running}}"), "true");
    let bad = d.raw_http(
        "POST /containers/tt/attach?stream=1&stdin=1&detachKeys=ctrl-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(bad.0, 400, "{bad:?}");
    // berth's own CLI sends the keys: its --detach-keys, else config.json's detachKeys.
    ok(d.docker(&["run", "-d", "-i", "--name", "ti", "busybox", "sh"]));
    let flag = d.berth_stdin(
        &["attach", "--detach-keys", "ctrl-x", "ti"],
        b"echo via-flag
",
    );
    assert_eq!(code(&flag), 0, "{}", stderr(&flag));
    assert_eq!(inspect(&d, "ti", "{{.State.Running}}"), "true");
    std::fs::create_dir_all(d.dir.join("docker-config")).expect("dir");
    std::fs::write(
        d.dir.join("docker-config/config.json"),
        r#"{"detachKeys": "ctrl-y"}"#,
    )
    .expect("config");
    let config = d.berth_stdin(
        &["attach", "ti"],
        b"echo via-config
",
    );
    assert_eq!(code(&config), 0, "{}", stderr(&config));
    assert_eq!(inspect(&d, "ti", "{{.State.Running}}"), "true");
    let logs = ok(d.docker(&["logs", "ti"]));
    assert!(
        logs.contains("via-flag") && logs.contains("via-config"),
        "{logs}"
    );
    std::fs::remove_file(d.dir.join("docker-config/config.json")).expect("rm");
    ok(d.docker(&["rm", "-f", "ti"]));
    // logs=1&stream=0: the log so far, then the end (it never ended once).
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo said; sleep 300",
    ]));
    wait_until("the output logged", Duration::from_secs(5), || {
        ok(d.docker(&["logs", "talker"])) == "said"
    });
    let (status, body) = d.raw_http_timeout(
        "POST /containers/talker/attach?logs=1&stream=0&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Some(Duration::from_secs(10)),
    );
    assert_eq!(status, 200);
    assert!(body.contains("said"), "{body:?}");
    // Exec framing follows the start request's Tty: raw here, though the process has
    // no terminal.
    let (status, reply) = d.post_json(
        "/containers/talker/exec",
        r#"{"Cmd":["echo","raw"],"AttachStdout":true}"#,
    );
    assert_eq!(status, 201, "{reply}");
    let exec_id = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, out) = d.post_json(&format!("/exec/{exec_id}/start"), r#"{"Tty":true}"#);
    // (The body is chunked: its one chunk is the raw bytes, with no 8-byte frame header.)
    assert!(out.contains("raw\n") && !out.contains('\u{1}'), "{out:?}");
    ok(d.docker(&["rm", "-f", "tt", "talker"]));
}

#[test]
fn daemon_json_configures_the_daemon_and_bad_keys_stop_it() {
    let conf = std::env::temp_dir().join(format!("berth-daemon-json-{}", std::process::id()));
    std::fs::create_dir_all(&conf).expect("dir");
    let good = conf.join("good.json");
    std::fs::write(
        &good,
        r#"{"log-opts": {"max-size": "1m", "max-file": "2"}, "live-restore": true, "no-new-privileges": true}"#,
    )
    .expect("write");
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec!["--config-file".into(), good.display().to_string()],
        ..Default::default()
    });
    d.make_busybox();
    ok(d.docker(&["create", "--name", "cfg", "busybox", "true"]));
    assert_eq!(
        inspect(&d, "cfg", "{{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}"),
        "1048576 2"
    );
    let info = ok(d.docker(&["info", "--format", "{{json .SecurityOptions}}"]));
    assert!(info.contains("no-new-privileges"), "{info}");
    // Each way a file can be wrong stops the daemon with what is wrong.
    for (body, says) in [
        (
            r#"{"colour": "blue"}"#,
            "don't match any configuration option: colour",
        ),
        (r#"{"userns-remap": "default"}"#, "userns-remap"),
        (r#"{"mtu": "big"}"#, "mtu"),
        (r#"{"live-restore": false}"#, "live-restore"),
        (
            r#"{"data-root": "/tmp/x"}"#,
            "both as a flag and in the configuration file",
        ),
        ("{not json", "not valid JSON"),
    ] {
        let bad = conf.join("bad.json");
        std::fs::write(&bad, body).expect("write");
        let out = Command::new(berth_bin())
            .args(["daemon", "--config-file"])
            .arg(&bad)
            .args(["--data-root"])
            .arg(conf.join("never"))
            .args(["-H"])
            .arg(format!("unix://{}", conf.join("never.sock").display()))
            .output()
            .expect("berth daemon");
        assert_eq!(code(&out), 1, "{body}");
        assert!(stderr(&out).contains(says), "{body}: {}", stderr(&out));
        assert!(!conf.join("never").exists(), "{body}: the daemon started");
    }
    let missing = Command::new(berth_bin())
        .args(["daemon", "--config-file", "/nonexistent/daemon.json"])
        .output()
        .expect("berth daemon");
    assert_eq!(code(&missing), 1);
    ok(d.docker(&["rm", "cfg"]));
    let _ = std::fs::remove_dir_all(&conf);
}

fn get_json(d: &Daemon, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = d.raw_http(&format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ));
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn api_versions_answer_as_dockerd_answers_each() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&[
        "run",
        "-d",
        "--pull",
        "never",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "sleep 100",
    ]));
    // ps writes an argument with a space in quotes, as dockerd does.
    let command = ok(d.docker(&["ps", "--no-trunc", "--format", "{{.Command}}"]));
    assert_eq!(command.trim(), "\"sh -c 'sleep 100'\"");

    // Too new and too old are refused; the newest is served.
    let (s, b) = get_json(&d, "/v1.56/info");
    assert_eq!(s, 400, "{b}");
    assert!(b["message"].as_str().unwrap().contains("too new"), "{b}");
    let (s, info) = get_json(&d, "/v1.55/info");
    assert_eq!(s, 200);
    assert_eq!(info["FirewallBackend"]["Driver"], "nftables");
    assert!(info.get("BridgeNfIptables").is_none());
    let (_, old) = get_json(&d, "/v1.48/info");
    assert!(old.get("FirewallBackend").is_none() && old["BridgeNfIptables"] == false);

    // NetworkSettings' top-level copy of the bridge endpoint: until 1.51.
    let (_, c51) = get_json(&d, "/v1.51/containers/web/json");
    let ip = c51["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].clone();
    assert!(ip.as_str().is_some_and(|s| !s.is_empty()), "{c51}");
    assert_eq!(c51["NetworkSettings"]["IPAddress"], ip);
    let (_, c52) = get_json(&d, "/v1.52/containers/web/json");
    assert!(c52["NetworkSettings"].get("IPAddress").is_none(), "{c52}");
    assert!(c52["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ip);
    let lower = c52["GraphDriver"]["Data"]["LowerDir"]
        .as_str()
        .unwrap_or("");
    assert!(
        lower.split(':').count() >= 2,
        "init layer and the image's: {lower}"
    );

    // Image Config: container fields until 1.49, empty fields omitted from 1.52.
    let (_, i49) = get_json(&d, "/v1.49/images/busybox/json");
    assert_eq!(i49["Config"]["Hostname"], "");
    assert!(i49["Config"]["Env"].is_null() && i49["Config"].get("Env").is_some());
    let (_, i55) = get_json(&d, "/v1.55/images/busybox/json");
    assert!(i55["Config"].get("Hostname").is_none(), "{i55}");
    assert!(i55["Config"].get("Env").is_none(), "{i55}");
    assert_eq!(i55["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(i55.get("Parent").is_none() && i55.get("VirtualSize").is_none());
    let (_, i43) = get_json(&d, "/v1.43/images/busybox/json");
    assert_eq!(i43["VirtualSize"], i43["Size"]);
    // Unpacked size: busybox-static's bytes, not a tar's padded blocks.
    let busybox = std::fs::metadata("/bin/busybox")
        .map(|m| m.len())
        .unwrap_or(0);
    let size = i55["Size"].as_u64().unwrap_or(0);
    assert!(
        size >= busybox && size < busybox + 64 * 1024,
        "{size} vs {busybox}"
    );

    // images/json counted containers from 1.51 only.
    let (_, l50) = get_json(&d, "/v1.50/images/json");
    assert_eq!(l50[0]["Containers"], -1);
    let (_, l51) = get_json(&d, "/v1.51/images/json");
    assert_eq!(l51[0]["Containers"], 1);

    // system df: the lists until 1.51, both in 1.52, the summaries from 1.53.
    let (_, df51) = get_json(&d, "/v1.51/system/df");
    assert!(df51.get("Images").is_some() && df51.get("ImageUsage").is_none());
    let (_, df52) = get_json(&d, "/v1.52/system/df");
    assert!(df52.get("Images").is_some() && df52.get("ImageUsage").is_some());
    let (_, df53) = get_json(&d, "/v1.53/system/df?verbose=1");
    assert!(df53.get("Images").is_none(), "{df53}");
    assert_eq!(df53["ContainerUsage"]["ActiveCount"], 1);
    assert_eq!(
        df53["ImageUsage"]["Items"].as_array().map(Vec::len),
        Some(1)
    );

    // Network Status from 1.52: the bridge's subnet with the container's address taken.
    let (_, n) = get_json(&d, "/v1.52/networks/bridge");
    let subnets = n["Status"]["IPAM"]["Subnets"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subnets.len(), 1, "{n}");
    assert!(
        subnets.values().all(|s| s["IPsInUse"].as_u64() >= Some(4)),
        "{n}"
    );
    let (_, n51) = get_json(&d, "/v1.51/networks/bridge");
    assert!(n51.get("Status").is_none());

    // Events framed by the Accept header (RFC 7464 from 1.52).
    let until = until_now();
    let (_, seq) = d.raw_http(&format!(
        "GET /v1.52/events?until={until} HTTP/1.1\r\nHost: x\r\nAccept: application/json-seq\r\nConnection: close\r\n\r\n"
    ));
    assert!(seq.contains("\u{1e}{"), "{seq:?}");
    let (_, plain) = d.raw_http(&format!(
        "GET /v1.51/events?until={until} HTTP/1.1\r\nHost: x\r\nAccept: application/json-seq\r\nConnection: close\r\n\r\n"
    ));
    assert!(
        !plain.contains('\u{1e}') && plain.contains("\"status\""),
        "{plain:?}"
    );

    // Container-wide MAC address: refused from 1.52, by name.
    let body = r#"{"Image":"busybox","Cmd":["true"],"MacAddress":"92:d0:c6:0a:29:34"}"#;
    let (s, b) = d.post_json("/v1.52/containers/create?name=mac52", body);
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("MacAddress"), "{b}");
    let (s, b) = d.post_json("/v1.51/containers/create?name=mac51", body);
    assert_eq!(s, 201, "{b}");
    // An empty PortBindings list publishes an ephemeral port, with 1.52's warning.
    let (s, b) = d.post_json(
        "/v1.52/containers/create?name=eph",
        r#"{"Image":"busybox","Cmd":["sleep","100"],"ExposedPorts":{"80/tcp":{}},"HostConfig":{"PortBindings":{"80/tcp":[]}}}"#,
    );
    assert_eq!(s, 201, "{b}");
    assert!(b.contains("Empty PortBindings list for port 80/tcp"), "{b}");
    ok(d.docker(&["start", "eph"]));
    let port = ok(d.docker(&["port", "eph", "80/tcp"]));
    assert!(port.contains("0.0.0.0:"), "{port}");

    // Attestations (1.55): none in berth's single-platform store; absent before 1.55.
    let (s, a) = get_json(&d, "/v1.55/images/busybox/attestations");
    assert_eq!((s, a), (200, serde_json::json!([])));
    assert_eq!(get_json(&d, "/v1.54/images/busybox/attestations").0, 404);
    assert_eq!(get_json(&d, "/v1.55/images/nosuch/attestations").0, 404);

    // `platform` parameters: berth's single-platform images answer only for their own.
    let arm = "%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22arm64%22%7D";
    let amd = "%7B%22os%22%3A%22linux%22%2C%22architecture%22%3A%22amd64%22%7D";
    let (s, b) = get_json(&d, &format!("/v1.49/images/busybox/json?platform={arm}"));
    assert_eq!(s, 404, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or("")
            .contains("no variant for linux/arm64"),
        "{b}"
    );
    assert_eq!(
        get_json(&d, &format!("/v1.49/images/busybox/json?platform={amd}")).0,
        200
    );
    assert_eq!(
        get_json(&d, &format!("/v1.48/images/busybox/history?platform={arm}")).0,
        404
    );
    assert_eq!(
        get_json(
            &d,
            &format!("/v1.48/images/get?names=busybox&platform={arm}")
        )
        .0,
        404
    );
    let (s, b) = d.post_json(&format!("/v1.48/images/load?platform={amd}"), "");
    assert_eq!(s, 400, "{b}");
    // TmpfsOptions.Options (1.46): flags for the tmpfs, checked.
    let (s, b) = d.post_json(
        "/v1.46/containers/create?name=tmpx",
        r#"{"Image":"busybox","Cmd":["grep","/scratch","/proc/mounts"],"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/scratch","TmpfsOptions":{"Options":[["exec"],["nr_inodes","500"]]}}]}}"#,
    );
    assert_eq!(s, 201, "{b}");
    let mounts = ok(d.docker(&["start", "-a", "tmpx"]));
    assert!(
        !mounts.contains("noexec") && mounts.contains("nr_inodes=500"),
        "{mounts}"
    );
    let (s, b) = d.post_json(
        "/v1.46/containers/create?name=tmpdev",
        r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/d","TmpfsOptions":{"Options":[["dev"]]}}]}}"#,
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("TmpfsOptions.Options"), "{b}");
    ok(d.docker(&["rm", "tmpx"]));
    // Image mounts (1.48): the image's files, read-only; checked at create.
    let img = ok(d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--mount",
        "type=image,source=busybox,target=/img",
        "busybox",
        "sh",
        "-c",
        "test -x /img/bin/busybox && echo has; touch /img/x || echo ro",
    ]));
    assert!(img.contains("has") && img.ends_with("ro"), "{img}");
    // Inspect lists every --mount, as dockerd does.
    ok(d.docker(&[
        "create",
        "--name",
        "mnts",
        "--pull",
        "never",
        "--mount",
        "type=image,source=busybox,target=/img",
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "true",
    ]));
    let (_, m) = get_json(&d, "/containers/mnts/json");
    let kinds: Vec<(&str, &str, bool)> = m["Mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["Type"].as_str().unwrap_or(""),
                        x["Destination"].as_str().unwrap_or(""),
                        x["RW"].as_bool().unwrap_or(true),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        kinds,
        [("image", "/img", false), ("tmpfs", "/t", true)],
        "{m}"
    );
    ok(d.docker(&["rm", "mnts"]));
    let missing = d.docker(&[
        "create",
        "--pull",
        "never",
        "--mount",
        "type=image,source=nosuch,target=/img",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&missing).contains("No such image: nosuch"),
        "{}",
        stderr(&missing)
    );
    let (s, b) = d.post_json(
        "/v1.49/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"image","Source":"busybox","Target":"/i","ImageOptions":{"Subpath":"bin"}}]}}"#,
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) = d.post_json(
        "/v1.49/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"image","Source":"busybox","Target":"/i","ImageOptions":{"Subpath":"/bin"}}]}}"#,
    );
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("ImageOptions.Subpath"), "{b}");
    // The debug endpoints, also under a version prefix (1.48): berth's own figures, and
    // a clear 501 for Go's profiles.
    let (s, vars) = get_json(&d, "/v1.48/debug/vars");
    assert_eq!(s, 200);
    assert!(vars["cmdline"][0].is_string() && vars["process"]["rss_bytes"].as_u64() > Some(0));
    let (s, b) = get_json(&d, "/debug/pprof/heap");
    assert_eq!(s, 501, "{b}");
    // Stats carry os_type from 1.52.
    let (_, st) = get_json(&d, "/v1.52/containers/web/stats?stream=0&one-shot=1");
    assert_eq!(st["os_type"], "linux");
    let (_, st) = get_json(&d, "/v1.51/containers/web/stats?stream=0&one-shot=1");
    assert!(st.get("os_type").is_none());

    // An exec whose command cannot start: dockerd's 126, with why.
    for cli in ["docker", "berth"] {
        let missing = if cli == "docker" {
            d.docker(&["exec", "web", "nosuchcmd"])
        } else {
            d.berth(&["exec", "web", "nosuchcmd"])
        };
        assert_eq!(code(&missing), 126, "{cli}: {}", stderr(&missing));
        let said = format!("{}{}", stdout(&missing), stderr(&missing));
        assert!(said.contains("executable file not found"), "{cli}: {said}");
    }
    // A tag and a commit are recorded as dockerd records them.
    ok(d.docker(&["tag", "busybox", "retagged:two"]));
    let (_, t) = get_json(&d, "/v1.55/images/retagged:two/json");
    let tagged = t["Metadata"]["LastTagTime"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(tagged.starts_with("20"), "{t}");
    ok(d.docker(&["commit", "web", "committed:one"]));
    let (_, c) = get_json(&d, "/v1.55/images/committed:one/json");
    assert_eq!(c["DockerVersion"], env!("CARGO_PKG_VERSION"), "{c}");

    ok(d.docker(&["rm", "-f", "web", "eph", "mac51"]));
}

/// What one external runtime must do for a user, as the built-in does it: output and exit
/// codes, a terminal, stdin, exec, stats, pause, stop, a memory limit in force, an
/// unknown runtime refused by name.
/// `memory_limit_file`: where the container reads its memory limit, None where the
/// hierarchy has no memory controller (this host's v2 one).
fn check_external_runtime(d: &Daemon, rt: &str, memory_limit_file: Option<&str>) {
    let mut args = vec!["run", "--rm", "--pull", "never", "--runtime", rt];
    if memory_limit_file.is_some() {
        args.extend(["-m", "64m"]);
    }
    let script = format!(
        "cat {}; ls /proc/self/fd | wc -l; echo on-{rt}",
        memory_limit_file.unwrap_or("/dev/null")
    );
    args.extend(["busybox", "sh", "-c", &script]);
    let out = ok(d.docker(&args));
    let mut lines: Vec<&str> = out.lines().collect();
    if memory_limit_file.is_some() {
        assert_eq!(lines.remove(0), "67108864", "{rt}: {out}");
    }
    // 0, 1, 2 and the one ls opened for reading the directory.
    assert_eq!(lines[0].trim(), "4", "{rt}: fds {out}");
    assert_eq!(lines[1], format!("on-{rt}"));
    let r = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--runtime",
        rt,
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code(&r), 3, "{rt}: {}", stderr(&r));
    let tty = ok(d.docker(&[
        "run",
        "--rm",
        "-t",
        "--pull",
        "never",
        "--runtime",
        rt,
        "busybox",
        "tty",
    ]));
    assert_eq!(tty.trim(), "/dev/pts/0", "{rt}");
    let r = d.docker_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "--pull",
            "never",
            "--runtime",
            rt,
            "busybox",
            "sh",
        ],
        b"echo from-stdin; exit 4\n",
    );
    assert_eq!(
        (code(&r), stdout(&r).trim()),
        (4, "from-stdin"),
        "{rt}: {}",
        stderr(&r)
    );

    let name = format!("long-{rt}");
    ok(d.docker(&[
        "run",
        "-d",
        "--pull",
        "never",
        "--runtime",
        rt,
        "--name",
        &name,
        "busybox",
        "sleep",
        "100",
    ]));
    assert_eq!(inspect(d, &name, "{{.HostConfig.Runtime}}"), rt);
    assert_eq!(
        ok(d.docker(&["exec", &name, "echo", "exec-ok"])).trim(),
        "exec-ok"
    );
    ok(d.docker(&["pause", &name]));
    assert_eq!(inspect(d, &name, "{{.State.Status}}"), "paused");
    ok(d.docker(&["unpause", &name]));
    let stats = ok(d.docker(&["stats", "--no-stream", "--format", "{{.PIDs}}", &name]));
    // (The pids controller comes with the memory one on the hierarchies seen so far.)
    if memory_limit_file.is_some() {
        assert_eq!(stats.trim(), "1", "{rt}");
    }
    ok(d.docker(&["stop", "-t", "1", &name]));
    assert_eq!(inspect(d, &name, "{{.State.ExitCode}}"), "137");
    // Started again, by the same runtime.
    ok(d.docker(&["start", &name]));
    assert_eq!(inspect(d, &name, "{{.State.Running}}"), "true");
    ok(d.docker(&["rm", "-f", &name]));
    // Every container gone, so is every cgroup dir a runtime made for it, in every
    // hierarchy (runc also makes them in the named and unified ones).
    let leftovers = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|h| h.path().join(d.cgroup_parent.trim_start_matches('/')))
            .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
            .filter(|e| e.path().is_dir())
            .map(|e| e.path())
            .collect()
    };
    wait_until(
        "the containers' cgroups to go",
        Duration::from_secs(10),
        || leftovers().is_empty(),
    );
}

#[test]
fn external_oci_runtimes_run_berths_bundles() {
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(runc) = runc else {
        eprintln!("skipping: runc is not installed (apt install runc)");
        return;
    };
    let conf = std::env::temp_dir().join(format!("berth-runtimes-{}.json", std::process::id()));
    std::fs::write(
        &conf,
        format!(r#"{{"runtimes": {{"runc-systemd-off": {{"path": "{runc}", "runtimeArgs": ["--systemd-cgroup=false"]}}}}}}"#),
    )
    .expect("write");
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec!["--config-file".into(), conf.display().to_string()],
        ..Default::default()
    });
    let _ = std::fs::remove_file(&conf);
    d.make_busybox();
    let runtimes = ok(d.docker(&["info", "--format", "{{json .Runtimes}}"]));
    let runtimes: serde_json::Value = serde_json::from_str(&runtimes).expect("json");
    assert_eq!(runtimes["runc"]["path"], runc);
    assert_eq!(
        runtimes["runc-systemd-off"]["runtimeArgs"][0],
        "--systemd-cgroup=false"
    );
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let limit = if v1 {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    } else {
        "/sys/fs/cgroup/memory.max"
    };
    check_external_runtime(&d, "runc", Some(limit));
    check_external_runtime(&d, "runc-systemd-off", Some(limit));
    // The default stays the built-in runtime; an unknown one is refused by name.
    ok(d.docker(&["create", "--name", "plain", "busybox", "true"]));
    assert_eq!(inspect(&d, "plain", "{{.HostConfig.Runtime}}"), "berth");
    let r = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--runtime",
        "nosuch",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&r).contains("unknown or invalid runtime name: nosuch"),
        "{}",
        stderr(&r)
    );
    ok(d.docker(&["rm", "plain"]));

    // crun refuses hybrid cgroup hosts; on the v2 path it runs the same bundles, and
    // `--default-runtime` makes it what containers get when they do not choose. It
    // raises RLIMIT_MEMLOCK to load its device filter, which needs CAP_SYS_RESOURCE.
    let sys_resource = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s
                .lines()
                .find(|l| l.starts_with("CapEff:"))?
                .split_whitespace()
                .nth(1)?
                .to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << 24) != 0);
    if !cgroup_v2_available() {
        eprintln!("skipping the cgroup v2 path: no v2 hierarchy here");
        return;
    }
    let crun = sys_resource && std::path::Path::new("/usr/bin/crun").exists();
    let mut args = vec![];
    if crun {
        args = vec!["--default-runtime".to_string(), "crun".to_string()];
    }
    let d2 = Daemon::start_with(DaemonOptions {
        cgroup_v2: true,
        extra_args: args,
        ..Default::default()
    });
    d2.make_busybox();
    let v2_memory = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"));
    let v2_limit = v2_memory.then_some("/sys/fs/cgroup/memory.max");
    check_external_runtime(&d2, "runc", v2_limit);
    if !crun {
        eprintln!("skipping crun: not installed, or this machine withholds CAP_SYS_RESOURCE, which crun needs");
        return;
    }
    check_external_runtime(&d2, "crun", v2_limit);
    ok(d2.docker(&["create", "--name", "dflt", "busybox", "true"]));
    assert_eq!(inspect(&d2, "dflt", "{{.HostConfig.Runtime}}"), "crun");
    ok(d2.docker(&["rm", "dflt"]));
}

/// A WebSocket to `path` on the daemon, as a browser or docker-py opens one.
fn websocket(d: &Daemon, path: &str) -> tungstenite::WebSocket<std::os::unix::net::UnixStream> {
    use tungstenite::client::IntoClientRequest;
    let sock = d.host().trim_start_matches("unix://").to_string();
    let stream = std::os::unix::net::UnixStream::connect(sock).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!("ws://localhost{path}")
        .into_client_request()
        .expect("request");
    let (ws, resp) = tungstenite::client(req, stream).expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// Messages until they hold all of `want` (stdout and stderr may come in either
/// order); each with whether it was binary.
fn read_ws_until(
    ws: &mut tungstenite::WebSocket<std::os::unix::net::UnixStream>,
    want: &[&str],
) -> (String, Vec<bool>) {
    let mut text = String::new();
    let mut kinds = vec![];
    while !want.iter().all(|w| text.contains(w)) {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => {
                kinds.push(true);
                text.push_str(&String::from_utf8_lossy(&b));
            }
            Ok(tungstenite::Message::Text(t)) => {
                kinds.push(false);
                text.push_str(t.as_str());
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (text, kinds)
}

#[test]
fn attach_over_a_websocket() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&[
        "run", "-d", "-i", "--pull", "never", "--name", "wsc", "busybox", "sh",
    ]));
    let mut ws = websocket(
        &d,
        "/v1.55/containers/wsc/attach/ws?stream=1&stdin=1&stdout=1&stderr=1",
    );
    ws.send(tungstenite::Message::binary(
        b"echo hello-ws; echo oops >&2\n".to_vec(),
    ))
    .expect("send");
    let (out, kinds) = read_ws_until(&mut ws, &["hello-ws\n", "oops\n"]);
    // Raw output, no stream headers; binary messages from API 1.42.
    assert!(
        out.contains("hello-ws\n") && out.contains("oops\n"),
        "{out:?}"
    );
    assert!(!out.contains('\u{1}'), "{out:?}");
    assert!(kinds.iter().all(|b| *b), "{kinds:?}");
    drop(ws);
    // Before 1.42, text messages; `logs` replays what the container printed, and
    // without `stream` the socket closes after it.
    let mut old = websocket(&d, "/v1.41/containers/wsc/attach/ws?logs=1&stdout=1");
    let (replayed, kinds) = read_ws_until(&mut old, &["never-printed"]);
    assert!(replayed.contains("hello-ws"), "{replayed:?}");
    assert!(
        !replayed.contains("oops"),
        "stderr was not asked for: {replayed:?}"
    );
    assert!(kinds.iter().all(|b| !*b), "{kinds:?}");
    // Not a WebSocket: refused with what is missing.
    let (status, body) = d.raw_http(
        "GET /containers/wsc/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("WebSocket"), "{body}");
    ok(d.docker(&["rm", "-f", "wsc"]));
}

#[test]
fn prune_filters_until_and_labels() {
    let d = Daemon::start();
    d.make_busybox();
    // Containers: label and label! choose; until keeps what is newer.
    for (name, label) in [
        ("old-a", "tier=a"),
        ("old-b", "tier=b"),
        ("keepme", "keep=yes"),
    ] {
        ok(d.docker(&[
            "create", "--name", name, "--label", label, "--label", "tier2=x", "busybox", "true",
        ]));
    }
    let out = ok(d.docker(&["container", "prune", "-f", "--filter", "label=tier=a"]));
    assert!(out.contains("Deleted Containers"), "{out}");
    let left = ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"]));
    assert!(!left.contains("old-a") && left.contains("old-b"), "{left}");
    ok(d.docker(&["container", "prune", "-f", "--filter", "until=1h"]));
    assert!(ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"])).contains("old-b"));
    ok(d.docker(&["container", "prune", "-f", "--filter", "label!=keep"]));
    assert_eq!(
        ok(d.docker(&["ps", "-a", "--format", "{{.Names}}"])),
        "keepme"
    );
    let bad = d.docker(&["container", "prune", "-f", "--filter", "dangling=true"]);
    assert!(
        stderr(&bad).contains("invalid filter 'dangling'"),
        "{}",
        stderr(&bad)
    );
    ok(d.docker(&["rm", "keepme"]));

    // Images: unused ones with dangling=false, narrowed by label and until.
    let ctx = d.dir.join("prune-ctx");
    std::fs::create_dir_all(&ctx).expect("dir");
    for (tag, label) in [("lab:a", "a"), ("lab:b", "b")] {
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM busybox\nLABEL which={label}\nRUN echo {label} > /which\n"),
        )
        .expect("dockerfile");
        ok(d.berth(&["build", "-q", "-t", tag, ctx.to_str().expect("utf-8")]));
    }
    ok(d.docker(&["image", "prune", "-af", "--filter", "label=which=a"]));
    let images = ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(
        !images.contains("lab:a") && images.contains("lab:b"),
        "{images}"
    );
    // Built seconds ago: not older than an hour.
    ok(d.docker(&[
        "image",
        "prune",
        "-af",
        "--filter",
        "until=1h",
        "--filter",
        "label=which",
    ]));
    assert!(ok(d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])).contains("lab:b"));

    // Networks: until and label.
    ok(d.docker(&[
        "network",
        "create",
        "--subnet",
        &d.user_subnet(7),
        "--label",
        "gone=1",
        "pn1",
    ]));
    ok(d.docker(&["network", "create", "--subnet", &d.user_subnet(8), "pn2"]));
    ok(d.docker(&["network", "prune", "-f", "--filter", "label=gone"]));
    let nets = ok(d.docker(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(!nets.contains("pn1") && nets.contains("pn2"), "{nets}");
    ok(d.docker(&["network", "rm", "pn2"]));
}
