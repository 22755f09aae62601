//! Containers through berth's own CLI, in real namespaces, cgroups and overlay mounts.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn run_output_and_docker_exit_codes() {
    let d = Daemon::start();
    d.make_busybox();
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "echo", "hello"])),
        "hello"
    );
    assert_eq!(
        code(&d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])),
        3
    );
    let nf = d.berth(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&nf), 127);
    assert!(
        stderr(&nf).contains("exec: \"no-such-command\": executable file not found in $PATH"),
        "{}",
        stderr(&nf)
    );
    let ne = d.berth(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(code(&ne), 126, "{}", stderr(&ne));
    // --rm removed every one of them, failed starts included.
    assert_eq!(ok(d.berth(&["ps", "-aq"])), "");
}

#[test]
fn namespaces_user_env_and_filesystem() {
    let d = Daemon::start();
    d.make_busybox();
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "-h",
        "myhost",
        "-e",
        "FOO=bar",
        "-w",
        "/work/dir",
        "-u",
        "nobody",
        "busybox",
        "sh",
        "-c",
        "hostname; echo $FOO; pwd; id -u; id -g; echo $$; ls /proc | grep -c '^[0-9]'",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..6],
        &["myhost", "bar", "/work/dir", "65534", "65534", "1"],
        "{out}"
    );
    // Only the container's own processes are visible.
    assert!(lines[6].parse::<i32>().unwrap() <= 3, "{out}");
    // Read-only root, but /tmp-like mounts still writable.
    let ro = d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(code(&ro), 0);
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "touch /dev/shm/x && echo ok"
        ])),
        "ok"
    );
    // A container gets its own network namespace: with eth0 on the default bridge, with
    // only lo on none.
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net"])),
        "eth0\nlo"
    );
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net"
        ])),
        "lo"
    );
    // Masked paths.
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "wc -c < /proc/timer_list"
        ])),
        "0"
    );
    // Writes go to the container's own layer, not the image.
    ok(d.berth(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "echo data > /etc/newfile",
    ]));
    assert_eq!(
        code(&d.berth(&["run", "--rm", "busybox", "cat", "/etc/newfile"])),
        1
    );
    ok(d.berth(&["rm", "writer"]));
}

#[test]
fn capabilities_binds_and_ulimits() {
    let d = Daemon::start();
    d.make_busybox();
    let caps = ok(d.berth(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert!(
        caps.ends_with("00000000a80425fb"),
        "Docker's default set: {caps}"
    );
    let dropped = ok(d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert!(dropped.ends_with("0000000000000000"), "{dropped}");
    // Privileged: every capability this host grants, and a writable /sys.
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("CapBnd"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let privileged = ok(d.berth(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; grep -c ' /sys sysfs rw' /proc/self/mounts",
    ]));
    assert_eq!(
        privileged,
        format!("CapEff:\t{host_bnd}\n1"),
        "{privileged}"
    );
    let chown = d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "nobody",
        "/tmp",
    ]);
    assert_ne!(code(&chown), 0);
    let host_dir = d.dir.join("bind");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("in.txt"), "from host").unwrap();
    let spec = format!("{}:/data", host_dir.display());
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "cat /data/in.txt; echo out > /data/out.txt"
        ])),
        "from host"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("out.txt")).unwrap(),
        "out\n"
    );
    let ro_spec = format!("{}:/data:ro", host_dir.display());
    assert_ne!(
        code(&d.berth(&["run", "--rm", "-v", &ro_spec, "busybox", "touch", "/data/x"])),
        0
    );
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--ulimit",
            "nofile=123:456",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn"
        ])),
        "123\n456"
    );
}

#[test]
fn docker_default_seccomp_profile() {
    let d = Daemon::start();
    d.make_busybox();
    // unshare(CLONE_NEWUSER) needs no capability; only the seccomp profile refuses it.
    let script = "grep '^Seccomp:' /proc/self/status; unshare -U true 2>/dev/null && echo allowed || echo refused";
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "sh", "-c", script])),
        "Seccomp:\t2\nrefused"
    );
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            script
        ])),
        "Seccomp:\t0\nallowed"
    );
    ok(d.berth(&["run", "-d", "--name", "sc", "busybox", "sleep", "100"]));
    assert_eq!(
        ok(d.berth(&["exec", "sc", "sh", "-c", script])),
        "Seccomp:\t2\nrefused"
    );
    let bad = d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/nope.json",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&bad), 125);
}

#[test]
fn cgroup_limits_are_visible_inside() {
    let d = Daemon::start();
    d.make_busybox();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let script = if v2 {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max"
    } else {
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares"
    };
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "-c",
        "512",
        "busybox",
        "sh",
        "-c",
        script,
    ]));
    if v2 {
        assert_eq!(out, "67108864\n50000 100000\n50");
    } else {
        assert_eq!(out, "67108864\n50000\n100000\n50\n512");
    }
    // The pids limit is enforced.
    let fork = d.berth(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait",
    ]);
    assert!(
        stderr(&fork).contains("can't fork")
            || stderr(&fork).contains("Resource temporarily unavailable"),
        "{}",
        stderr(&fork)
    );
    // Memory limit: the kernel OOM-kills a process that exceeds it.
    let oom = d.berth(&[
        "run",
        "--name",
        "oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(code(&oom), 137, "{}", stderr(&oom));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.OOMKilled}}", "oom"])),
        "true"
    );
}

#[test]
fn lifecycle_stop_kill_restart_pause_rename_wait() {
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.berth(&["run", "-d", "--name", "svc", "busybox", "sleep", "1000"]));
    assert_eq!(id.len(), 64);
    assert_eq!(
        ok(d.berth(&["ps", "--format", "{{.Names}} {{.State}}"])),
        "svc running"
    );
    ok(d.berth(&["pause", "svc"]));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Status}}", "svc"])),
        "paused"
    );
    ok(d.berth(&["unpause", "svc"]));
    ok(d.berth(&["rename", "svc", "svc2"]));
    let top = ok(d.berth(&["top", "svc2"]));
    assert!(top.contains("sleep 1000"), "{top}");
    // sleep as pid 1 ignores SIGTERM: stop falls back to SIGKILL after the timeout.
    ok(d.berth(&["stop", "-t", "1", "svc2"]));
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Running}}",
            "svc2"
        ])),
        "137 false"
    );
    ok(d.berth(&["start", "svc2"]));
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.RestartCount}}",
            "svc2"
        ])),
        "true 0"
    );
    ok(d.berth(&["restart", "-t", "0", "svc2"]));
    // A user's restart is no restart by policy: the count stays, as dockerd's.
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.RestartCount}}",
            "svc2"
        ])),
        "true 0"
    );
    let rm = d.berth(&["rm", "svc2"]);
    assert_ne!(code(&rm), 0);
    assert!(
        stderr(&rm).contains("container is running"),
        "{}",
        stderr(&rm)
    );
    ok(d.berth(&["kill", "svc2"]));
    assert_eq!(ok(d.berth(&["wait", "svc2"])), "137");
    ok(d.berth(&["rm", "svc2"]));
    let gone = d.berth(&["inspect", "svc2"]);
    assert_ne!(code(&gone), 0);
    // Graceful stop with the container's own stop signal.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "trap",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 9' TERM; while true; do sleep 0.1; done",
    ]));
    std::thread::sleep(Duration::from_millis(200));
    ok(d.berth(&["stop", "trap"]));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.ExitCode}}", "trap"])),
        "9"
    );
}

#[test]
fn stdin_logs_and_exec() {
    let d = Daemon::start();
    d.make_busybox();
    let o = d.berth_stdin(
        &["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"],
        b"line one\nline two\n",
    );
    assert_eq!(stdout(&o), "line one\nline two\ndone\n");
    ok(d.berth(&[
        "run",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2",
    ]));
    let logs = d.berth(&["logs", "talk"]);
    assert_eq!(stdout(&logs), "out1\nout2\n");
    assert_eq!(stderr(&logs), "err1\n");
    // stdout and stderr are separate pipes, so the last line may be either stream's.
    let tail = d.berth(&["logs", "--tail", "1", "talk"]);
    let last = format!("{}{}", stdout(&tail), stderr(&tail));
    assert!(last == "out2\n" || last == "err1\n", "{last}");
    let ts = stdout(&d.berth(&["logs", "-t", "talk"]));
    assert!(
        ts.lines().all(|l| l.contains('T') && l.contains("Z out")),
        "{ts}"
    );
    // exec: output, exit code, user, env, stdin.
    ok(d.berth(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]));
    assert_eq!(ok(d.berth(&["exec", "box", "echo", "inside"])), "inside");
    assert_eq!(code(&d.berth(&["exec", "box", "sh", "-c", "exit 4"])), 4);
    assert_eq!(
        ok(d.berth(&[
            "exec",
            "-u",
            "nobody",
            "-e",
            "X=1",
            "box",
            "sh",
            "-c",
            "id -u; echo $X"
        ])),
        "65534\n1"
    );
    assert_eq!(
        stdout(&d.berth_stdin(&["exec", "-i", "box", "cat"], b"piped")),
        "piped"
    );
    // A command that cannot start: 126, as dockerd's exec reports it.
    let missing = d.berth(&["exec", "box", "nope"]);
    assert_eq!(code(&missing), 126, "{}", stderr(&missing));
    // exec'd processes are in the container's pid namespace.
    assert_eq!(
        ok(d.berth(&[
            "exec",
            "box",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '"
        ])),
        "sleep 1000"
    );
    // Follow ends when the container exits.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo t$i; sleep 0.2; done",
    ]));
    assert_eq!(stdout(&d.berth(&["logs", "-f", "ticker"])), "t1\nt2\nt3\n");
}

#[test]
fn tty_is_the_containers_own_pty() {
    let d = Daemon::start();
    d.make_busybox();
    assert_eq!(
        ok(d.berth(&["run", "--rm", "-t", "busybox", "tty"])).trim(),
        "/dev/pts/0"
    );
    ok(d.berth(&["run", "-d", "--name", "tt", "busybox", "sleep", "100"]));
    assert_eq!(
        ok(d.berth(&["exec", "-t", "tt", "tty"])).trim(),
        "/dev/pts/0"
    );
}

#[test]
fn survives_daemon_kill9_and_restart() {
    let mut d = Daemon::start();
    d.make_busybox();
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]));
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; exit 42",
    ]));
    let pid = ok(d.berth(&["inspect", "-f", "{{.State.Pid}}", "long"]));
    d.kill9();
    std::thread::sleep(Duration::from_millis(1000));
    // The container's processes live on without the daemon.
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    d.restart();
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "long"])),
        format!("true {pid}")
    );
    wait_until("short to be seen exited", Duration::from_secs(5), || {
        stdout(&d.berth(&["inspect", "-f", "{{.State.ExitCode}}", "short"])).trim() == "42"
    });
    assert_eq!(
        ok(d.berth(&["exec", "long", "echo", "still here"])),
        "still here"
    );
    assert!(stdout(&d.berth(&["logs", "--tail", "1", "long"])).contains("tick"));
    ok(d.berth(&["stop", "-t", "1", "long"]));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Running}}", "long"])),
        "false"
    );
    // A second daemon on the same root refuses to start.
    let second = std::process::Command::new(berth_bin())
        .args(["daemon", "--data-root"])
        .arg(d.dir.join("data"))
        .arg("--exec-root")
        .arg(d.dir.join("run2"))
        .output()
        .unwrap();
    assert_ne!(code(&second), 0);
    assert!(
        stderr(&second).contains("already running"),
        "{}",
        stderr(&second)
    );
}

/// An exec's exit code comes from its task, not from the client that started it: a client
/// that leaves early, or one that detaches, still finds the true code in inspect
/// (before the task API, a client that left got 126 recorded).
#[test]
fn exec_exit_code_survives_the_client_leaving() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.berth(&["run", "-d", "--name", "host", "busybox", "sleep", "1000"]));
    let exec_create = |cmd: &str| -> String {
        let (status, body) = d.post_json(
            "/containers/host/exec",
            &format!(r#"{{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","{cmd}"]}}"#),
        );
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["Id"].as_str().unwrap().to_string()
    };
    let exit_code = |id: &str| -> Option<i64> {
        let (_, body) = d.raw_http(&format!(
            "GET /exec/{id}/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        (v["Running"] == false && v["ExitCode"].is_i64()).then(|| v["ExitCode"].as_i64().unwrap())
    };
    // The client reads the first output, then hangs up while the exec still runs and
    // writes more: once as the docker CLI connects (upgraded), once as a plain stream.
    let chatty = "echo started; sleep 1; i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done; exit 7";
    let start = r#"{"Detach":false,"Tty":false}"#;
    let mut left = vec![];
    for upgrade in ["Connection: Upgrade\r\nUpgrade: tcp\r\n", ""] {
        let id = exec_create(chatty);
        let (status, _) = d.raw_http_timeout(
            &format!(
                "POST /exec/{id}/start HTTP/1.1\r\nHost: x\r\n{upgrade}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{start}",
                start.len()
            ),
            Some(Duration::from_millis(300)),
        );
        assert!(status == 101 || status == 200, "{status}");
        left.push(id);
    }
    // Detached: nobody reads the output at all.
    let detached = exec_create("sleep 0.5; exit 3");
    let (status, body) = d.post_json(
        &format!("/exec/{detached}/start"),
        r#"{"Detach":true,"Tty":false}"#,
    );
    assert_eq!(status, 200, "{body}");
    let mut codes = vec![];
    wait_until("the execs to be recorded", Duration::from_secs(15), || {
        codes = [&left[0], &left[1], &detached]
            .iter()
            .map(|id| exit_code(id))
            .collect();
        codes.iter().all(Option::is_some)
    });
    assert_eq!(codes, [Some(7), Some(7), Some(3)]);
    ok(d.berth(&["rm", "-f", "host"]));
}
