//! The attacks that once got out of a berth container, each run for real against a
//! daemon, each required to fail (issue 7). A test here that passes on the code before
//! its fix is a test that cannot fail: each was run against that code and seen to fail.

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A file on the host that no container may read, holding a token to look for.
fn host_secret(d: &Daemon) -> (PathBuf, String) {
    let dir = d.dir.join("host-secret");
    std::fs::create_dir_all(&dir).expect("secret dir");
    let token = format!("HOST-SECRET-{}", std::process::id());
    std::fs::write(dir.join("secret"), &token).expect("secret");
    (dir, token)
}

/// A relative path from any host dir up to / and down to `target`.
fn climb_to(target: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(24),
        target.display().to_string().trim_start_matches('/')
    )
}

fn workdir_attack(d: &Daemon) {
    d.make_busybox();
    let (dir, token) = host_secret(d);
    let path = climb_to(&dir.join("secret"));
    for fd in 3..=16 {
        // `docker run -w /proc/self/fd/N`.
        let out = d.berth(&[
            "run",
            "--rm",
            "-w",
            &format!("/proc/self/fd/{fd}"),
            "busybox",
            "cat",
            &path,
        ]);
        assert!(
            !stdout(&out).contains(&token),
            "-w /proc/self/fd/{fd} read the host: {}",
            stdout(&out)
        );
    }
    for fd in [3, 4, 5, 6, 7, 8, 10, 12, 14] {
        // An image whose WORKDIR is /proc/self/fd/N: no flag needed.
        let tag = format!("workdir-fd{fd}:1");
        let tar = busybox_rootfs_tar(&[], |_| {});
        d.import_image(&tag, &tar, &[&format!("WORKDIR /proc/self/fd/{fd}")]);
        let out = d.berth(&["run", "--rm", &tag, "cat", &path]);
        assert!(
            !stdout(&out).contains(&token),
            "WORKDIR /proc/self/fd/{fd} read the host: {}",
            stdout(&out)
        );
    }
}

/// The v1 path never held a host dir fd here; this keeps it that way.
#[test]
fn a_leaked_fd_cannot_become_the_working_directory_on_cgroup_v1() {
    workdir_attack(&Daemon::start());
}

#[test]
fn a_leaked_fd_cannot_become_the_working_directory_on_cgroup_v2() {
    if let Some(d) = Daemon::start_v2() {
        workdir_attack(&d);
    }
}

#[test]
fn fds_the_daemon_inherited_never_reach_a_container_or_exec() {
    let secret_dir = std::env::temp_dir().join(format!("berth-fd7-{}", std::process::id()));
    std::fs::create_dir_all(&secret_dir).expect("dir");
    let token = format!("FD7-SECRET-{}", std::process::id());
    std::fs::write(secret_dir.join("secret"), &token).expect("secret");
    let d = Daemon::start_with(DaemonOptions {
        inherited_fd: Some((7, secret_dir.clone())),
        ..Default::default()
    });
    d.make_busybox();
    let read = d.berth(&["run", "--rm", "busybox", "cat", "/proc/self/fd/7/secret"]);
    let via_cwd = d.berth(&[
        "run",
        "--rm",
        "-w",
        "/proc/self/fd/7",
        "busybox",
        "cat",
        "secret",
    ]);
    let write = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo owned > /proc/self/fd/7/planted",
    ]);
    ok(d.berth(&["run", "-d", "--name", "fdc", "busybox", "sleep", "300"]));
    let init_fds = d.berth(&["exec", "fdc", "ls", "/proc/1/fd"]);
    let exec_read = d.berth(&["exec", "fdc", "cat", "/proc/self/fd/7/secret"]);
    let docker_exec = d.docker(&[
        "exec",
        "fdc",
        "sh",
        "-c",
        "ls /proc/$$/fd; cat /proc/self/fd/7/secret",
    ]);
    let _ = std::fs::remove_file(secret_dir.join("secret"));
    let planted = secret_dir.join("planted").exists();
    let _ = std::fs::remove_dir_all(&secret_dir);
    for (what, out) in [
        ("run", &read),
        ("run -w", &via_cwd),
        ("exec", &exec_read),
        ("docker exec", &docker_exec),
    ] {
        assert!(
            !stdout(out).contains(&token),
            "{what} read the host through fd 7"
        );
    }
    assert!(
        !planted,
        "a container wrote into the host dir through fd 7: {}",
        stderr(&write)
    );
    let fds: Vec<String> = stdout(&init_fds)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "the container's init holds more than stdio"
    );
    let sh_out = stdout(&docker_exec);
    let sh_fds: Vec<&str> = sh_out.split_whitespace().collect();
    assert_eq!(
        sh_fds,
        ["0", "1", "2"],
        "an exec'd shell holds more than stdio"
    );
}

#[test]
fn a_dev_symlink_in_an_image_makes_berth_write_nothing_on_the_host() {
    let d = Daemon::start();
    let host_dir = d.dir.join("host-dev-target");
    std::fs::create_dir_all(&host_dir).expect("dir");
    let target = host_dir.display().to_string();
    let tar = busybox_rootfs_tar(&["dev"], |b| {
        let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "dev", &target).expect("tar");
    });
    d.import_image("devlink:1", &tar, &[]);
    let plain = d.berth(&["run", "--rm", "devlink:1", "sh", "-c", "ls /dev; echo ok"]);
    // With a terminal, the console and its devpts path too.
    let tty = d.docker(&["run", "--rm", "-t", "devlink:1", "sh", "-c", "tty; echo ok"]);
    let left: Vec<_> = std::fs::read_dir(&host_dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "berth wrote into the host dir that /dev points to: {left:?}"
    );
    assert!(stdout(&plain).contains("ok"), "run: {}", stderr(&plain));
    assert!(
        stdout(&tty).contains("/pts/0"),
        "run -t: {} {}",
        stdout(&tty),
        stderr(&tty)
    );
}

#[test]
fn an_etc_symlink_in_an_image_makes_the_daemon_read_nothing_of_the_host() {
    let d = Daemon::start();
    let host_etc = d.dir.join("host-etc");
    std::fs::create_dir_all(&host_etc).expect("dir");
    std::fs::write(host_etc.join("passwd"), "hostonly:x:4242:4242::/:/bin/sh\n").expect("passwd");
    std::fs::write(host_etc.join("group"), "hostgrp:x:4243:hostonly\n").expect("group");
    let target = host_etc.display().to_string();
    let tar = busybox_rootfs_tar(&["etc"], |b| {
        let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "etc", &target).expect("tar");
    });
    d.import_image("etclink:1", &tar, &[]);
    for user in ["hostonly", "0:hostgrp"] {
        let out = d.berth(&["run", "--rm", "-u", user, "etclink:1", "id"]);
        assert_ne!(
            code(&out),
            0,
            "-u {user} was resolved from the host's files: {}",
            stdout(&out)
        );
        assert!(stderr(&out).contains("unable to find"), "{}", stderr(&out));
    }
    // The container itself still runs, and sees its own (empty) /etc.
    let out = ok(d.berth(&[
        "run",
        "--rm",
        "etclink:1",
        "sh",
        "-c",
        "cat /etc/passwd 2>&1; echo end",
    ]));
    assert!(!out.contains("hostonly"), "{out}");
}

#[test]
fn nothing_in_a_container_opens_the_berth_binary_during_exec() {
    let d = Daemon::start();
    d.make_busybox();
    // Watches every other process's exe; logs each that it could open and that is not
    // busybox (the only program in the image): that would be berth.
    let watcher = r#"self=$$
while [ ! -e /tmp/stop ]; do
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$self" ] && continue
    # A copy first: a process that ends between two opens must not look like berth.
    if cat "$p/exe" > /tmp/exe 2>/dev/null && [ -s /tmp/exe ] && ! cmp -s /tmp/exe /bin/busybox; then
      echo "opened $pid ($(wc -c < /tmp/exe) bytes)" >> /tmp/log
    fi
  done
done
touch /tmp/stopped
sleep 1000"#;
    ok(d.berth(&[
        "run", "-d", "--name", "watch", "busybox", "sh", "-c", watcher,
    ]));
    for _ in 0..150 {
        ok(d.berth(&["exec", "watch", "true"]));
    }
    ok(d.berth(&["exec", "watch", "touch", "/tmp/stop"]));
    wait_until("the watcher to stop", Duration::from_secs(30), || {
        code(&d.berth(&["exec", "watch", "test", "-e", "/tmp/stopped"])) == 0
    });
    let log = d.berth(&[
        "exec",
        "watch",
        "sh",
        "-c",
        "cat /tmp/log 2>/dev/null; true",
    ]);
    assert_eq!(
        stdout(&log).trim(),
        "",
        "a container opened berth's binary during exec"
    );
}

/// A PAX extended header record: "<len> <key>=<value>\n", the length counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

#[test]
fn file_capabilities_do_not_reach_a_non_root_user() {
    let d = Daemon::start();
    // cap_dac_override+ei: vfs_cap_data v2, effective flag, inheritable bit 1.
    let mut cap = vec![];
    cap.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes());
    cap.extend_from_slice(&0u32.to_le_bytes()); // permitted, low
    cap.extend_from_slice(&(1u32 << 1).to_le_bytes()); // inheritable, low: CAP_DAC_OVERRIDE (1)
    cap.extend_from_slice(&[0u8; 8]);
    let bb = std::fs::read("/bin/busybox").expect("busybox");
    let tar = busybox_rootfs_tar(&[], |b| {
        let pax = pax_record("SCHILY.xattr.security.capability", &cap);
        let mut h = tar_header(tar::EntryType::XHeader, 0o644, pax.len() as u64);
        b.append_data(&mut h, "PaxHeaders/capbin", &pax[..])
            .expect("tar");
        let mut h = tar_header(tar::EntryType::Regular, 0o755, bb.len() as u64);
        b.append_data(&mut h, "capbin", &bb[..]).expect("tar");
        let secret = b"ROOT-ONLY-SECRET\n";
        let mut h = tar_header(tar::EntryType::Regular, 0o600, secret.len() as u64);
        b.append_data(&mut h, "root/secret", &secret[..])
            .expect("tar");
    });
    d.import_image("filecaps:1", &tar, &[]);
    let out = d.berth(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "filecaps:1",
        "sh",
        "-c",
        "grep -E '^Cap(Inh|Amb)' /proc/self/status; /capbin cat /root/secret",
    ]);
    let text = stdout(&out);
    assert!(
        !text.contains("ROOT-ONLY-SECRET"),
        "file capabilities reached nobody: {text}"
    );
    for line in text.lines().filter(|l| l.starts_with("Cap")) {
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
    // The same as root still has the capability (the file caps were really in the image).
    let root = ok(d.berth(&["run", "--rm", "filecaps:1", "cat", "/root/secret"]));
    assert_eq!(root, "ROOT-ONLY-SECRET");
}

#[test]
fn the_data_root_is_closed_to_other_users_also_when_it_existed() {
    let d = Daemon::start_with(DaemonOptions {
        precreate_data_root: true,
        umask: Some(0),
        ..Default::default()
    });
    d.make_busybox();
    ok(d.berth(&["run", "--name", "modes", "busybox", "true"]));
    let id = ok(d.berth(&["inspect", "-f", "{{.Id}}", "modes"]));
    let data = d.dir.join("data");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o710);
    assert_eq!(mode(&data.join("containers")), 0o710);
    assert_eq!(mode(&data.join("layers")), 0o700);
    assert_eq!(mode(&data.join("containers").join(&id)), 0o700);
    assert_eq!(mode(&d.dir.join("run/containers")), 0o700);
    // A running container's shim socket: root's only, under umask 000 too.
    ok(d.berth(&["run", "-d", "--name", "sockmode", "busybox", "sleep", "30"]));
    let running = ok(d.berth(&["inspect", "-f", "{{.Id}}", "sockmode"]));
    assert_eq!(mode(&d.dir.join("run/s")), 0o700);
    assert_eq!(mode(&d.dir.join("run/s").join(&running[..24])), 0o600);
    ok(d.berth(&["rm", "-f", "sockmode"]));
    // Walked as nobody: refused at the data root.
    let walk = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "/bin/busybox",
            "ls",
        ])
        .arg(data.join("layers"))
        .output()
        .expect("setpriv");
    assert!(
        !walk.status.success(),
        "nobody listed the layers: {}",
        stdout(&walk)
    );
    // The API socket: 0660, root and the docker group where it exists, under umask 000.
    let sock = std::fs::metadata(&d.socket).expect("socket");
    assert_eq!(sock.permissions().mode() & 0o777, 0o660);
    assert_eq!(sock.uid(), 0);
    let docker_gid = nix::unistd::Group::from_name("docker")
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    assert_eq!(sock.gid(), docker_gid.unwrap_or(0));
    let ping = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "curl",
            "-sf",
            "--unix-socket",
        ])
        .arg(&d.socket)
        .arg("http://x/_ping")
        .output()
        .expect("setpriv curl");
    assert!(
        !ping.status.success(),
        "nobody reached the API: {}",
        stdout(&ping)
    );
}

#[test]
fn signals_are_reset_before_the_users_program_in_run_and_exec() {
    let d = Daemon::start();
    d.make_busybox();
    let script =
        "grep -E '^Sig(Ign|Blk)' /proc/self/status; yes | head -c 10 >/dev/null; echo finished";
    let run = std::process::Command::new("timeout")
        .args([
            "60",
            berth_bin(),
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .env("BERTH_HOST", d.host())
        .output()
        .expect("run");
    ok(d.berth(&["run", "-d", "--name", "sig", "busybox", "sleep", "300"]));
    let exec = std::process::Command::new("timeout")
        .args(["60", berth_bin(), "exec", "sig", "sh", "-c", script])
        .env("BERTH_HOST", d.host())
        .output()
        .expect("exec");
    for (what, out) in [("run", run), ("exec", exec)] {
        let text = stdout(&out);
        assert!(
            text.contains("finished"),
            "{what}: `yes | head` did not end: {text}"
        );
        for line in text.lines().filter(|l| l.starts_with("Sig")) {
            assert!(line.ends_with("0000000000000000"), "{what}: {line}");
        }
    }
}

#[test]
fn no_new_privileges_and_security_options_are_honoured_or_refused() {
    let d = Daemon::start();
    d.make_busybox();
    let nnp = |args: &[&str]| -> String {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend(["busybox", "grep", "NoNewPrivs", "/proc/self/status"]);
        ok(d.berth(&a))
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(nnp(&[]), "0");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges"]), "1");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges=true"]), "1");
    let docker = ok(d.docker(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    assert!(docker.ends_with('1'), "{docker}");
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "nnp",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "300",
    ]));
    let exec = ok(d.berth(&["exec", "nnp", "grep", "NoNewPrivs", "/proc/self/status"]));
    assert!(exec.ends_with('1'), "exec: {exec}");
    for bad in [
        "apparmor=docker-default",
        "label=type:svirt_apache_t",
        "frobnicate=1",
        "no-new-privileges=maybe",
    ] {
        let out = d.berth(&["run", "--rm", "--security-opt", bad, "busybox", "true"]);
        assert_eq!(code(&out), 125, "{bad} was accepted");
        assert!(
            stderr(&out).to_lowercase().contains("security-opt")
                || stderr(&out).contains("AppArmor")
                || stderr(&out).contains("SELinux"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    // A custom seccomp profile, as a file path: the client sends its JSON.
    let profile = d.dir.join("no-mkdir.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#).expect("profile");
    let opt = format!("seccomp={}", profile.display());
    for out in [
        d.berth(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
        d.docker(&[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/x",
        ]),
    ] {
        assert_ne!(code(&out), 0, "mkdir passed the profile");
        assert!(
            stderr(&out).contains("Operation not permitted"),
            "{}",
            stderr(&out)
        );
    }
    ok(d.berth(&["run", "--rm", "busybox", "mkdir", "/x"]));
}

#[test]
fn the_daemon_wide_no_new_privileges_default() {
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec!["--no-new-privileges".into()],
        ..Default::default()
    });
    d.make_busybox();
    let on = ok(d.berth(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    assert!(on.ends_with('1'), "{on}");
    let off = ok(d.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges=false",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    assert!(off.ends_with('0'), "{off}");
}

#[test]
fn a_user_and_group_get_exactly_the_groups_asked_for() {
    let d = Daemon::start();
    d.import_image("groups:1", &busybox_rootfs_tar(&[], |_| {}), &[]);
    let groups = |args: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend(["groups:1", "id", "-G"]);
        ok(d.berth(&a))
    };
    assert_eq!(groups(&["-u", "100:102"]), "102");
    assert_eq!(groups(&["-u", "www"]), "101 102 103");
    assert_eq!(groups(&["-u", "100:102", "--group-add", "103"]), "102 103");
}

#[test]
fn parallel_clients_never_stall_the_daemon() {
    let d = std::sync::Arc::new(Daemon::start());
    d.make_busybox();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The watchdog: /_ping must answer within 5 s all through the run.
    let watchdog = {
        let (d, stop) = (d.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                let (status, _) = ping_with_timeout(&d, Duration::from_secs(5));
                worst = worst.max(t.elapsed());
                assert_eq!(status, 200, "/_ping went unanswered for 5 s");
                std::thread::sleep(Duration::from_millis(100));
            }
            worst
        })
    };
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || {
                // Bounded: a stalled daemon fails the test instead of hanging it.
                let berth = |args: &[&str]| {
                    std::process::Command::new("timeout")
                        .arg("60")
                        .arg(berth_bin())
                        .args(args)
                        .env("BERTH_HOST", d.host())
                        .output()
                        .expect("berth")
                };
                let mut names = vec![];
                for j in 0..6 {
                    let out = berth(&["run", "--rm", "busybox", "sh", "-c", "echo hi"]);
                    assert_eq!(ok(out), "hi", "client {i} run {j}");
                    let id = ok(berth(&["create", "busybox", "true"]));
                    ok(berth(&["start", &id]));
                    // Kept until the end: names must differ among containers that
                    // exist at the same time (a removed one's name may come again).
                    names.push(ok(berth(&["inspect", "-f", "{{.Name}}", &id])));
                    ok(berth(&["ps", "-a", "-q"]));
                }
                names
            })
        })
        .collect();
    // Every thread is joined before anything is asserted, so the daemon is always dropped
    // (and cleaned up) by this thread.
    let results: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let worst = watchdog.join();
    let mut names = vec![];
    for r in results {
        names.extend(r.expect("a client failed"));
    }
    let worst = worst.expect("the watchdog saw a stall");
    eprintln!("worst /_ping during the run: {worst:?}");
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "a generated name was given twice"
    );
    let all = ok(d.berth(&["ps", "-aq"]));
    assert_eq!(all.lines().count(), names.len(), "containers missing");
    for id in all.lines() {
        ok(d.berth(&["rm", "-f", id]));
    }
}

fn ping_with_timeout(d: &Daemon, timeout: Duration) -> (u16, String) {
    d.raw_http_timeout(
        "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Some(timeout),
    )
}

#[test]
fn half_sent_requests_time_out_and_a_client_cannot_hold_every_connection() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let d = Daemon::start_with(DaemonOptions {
        extra_args: [
            "--api-header-timeout",
            "1",
            "--api-max-connections-per-client",
            "4",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    // Headers that never end: closed after the timeout.
    let mut slow = UnixStream::connect(&d.socket).expect("connect");
    slow.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "a half-sent request stayed open for {waited:?}"
    );
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || reply.contains("408"), "{reply}");
    drop(slow);
    // Four open connections are this client's share; a fifth is closed at once.
    let held: Vec<UnixStream> = (0..4)
        .map(|_| {
            let mut s = UnixStream::connect(&d.socket).expect("connect");
            s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            let mut b = [0u8; 256];
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let n = s.read(&mut b).expect("reply");
            assert!(String::from_utf8_lossy(&b[..n]).starts_with("HTTP/1.1 200"));
            s
        })
        .collect();
    let mut fifth = UnixStream::connect(&d.socket).expect("connect");
    let _ = fifth.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
    fifth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut b = [0u8; 256];
    let n = fifth.read(&mut b).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "a fifth connection was served: {}",
        String::from_utf8_lossy(&b[..n])
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let (status, _) = ping_with_timeout(&d, Duration::from_secs(10));
    assert_eq!(
        status, 200,
        "the client's share came back once it closed its connections"
    );
}

/// Container ids under `dir` (64 hex chars).
fn ids_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_during_create_start_and_rm_leaves_no_orphans() {
    let mut d = Daemon::start();
    d.make_busybox();
    let mut seed: u64 = std::process::id() as u64 * 2_654_435_761 + 1;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _round in 0..15 {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (host, stop) = (d.host(), stop.clone());
                std::thread::spawn(move || {
                    let berth = |args: &[&str]| {
                        std::process::Command::new("timeout")
                            .arg("30")
                            .arg(berth_bin())
                            .args(args)
                            .env("BERTH_HOST", &host)
                            .output()
                            .expect("berth")
                    };
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let id = stdout(&berth(&["create", "busybox", "sleep", "300"]));
                        let id = id.trim();
                        if id.is_empty() {
                            continue;
                        }
                        berth(&["start", id]);
                        berth(&["rm", "-f", id]);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + random(600)));
        d.kill9();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in workers {
            let _ = w.join();
        }
        d.restart();
    }
    // What the daemon knows after the last restart.
    let listed = ok(d.berth(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"]));
    let known: std::collections::HashMap<String, String> = listed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, st)| (id.to_string(), st.to_string()))
        .collect();
    let running = |id: &String| known.get(id).is_some_and(|s| s == "running");
    let mut orphans = vec![];
    for id in ids_in(&d.dir.join("data/containers")) {
        if !known.contains_key(&id) {
            orphans.push(format!("container dir {id}"));
        }
    }
    for id in ids_in(&d.dir.join("run/containers")) {
        if !running(&id) {
            orphans.push(format!("runtime state {id}"));
        }
    }
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let parent = hierarchy
            .path()
            .join(d.cgroup_parent.trim_start_matches('/'));
        for id in ids_in(&parent) {
            if !running(&id) {
                orphans.push(format!("cgroup {}", parent.join(&id).display()));
            }
        }
    }
    // Processes: any in a cgroup of this daemon's, or a shim holding files of it, must
    // belong to a running container.
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let mut ids: Vec<String> = vec![];
        if let Some(rest) = cgroup.split(&d.cgroup_parent).nth(1) {
            ids.push(rest.trim_start_matches('/').chars().take(64).collect());
        }
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            if let Ok(rest) = target.strip_prefix(d.dir.join("data/containers")) {
                if let Some(id) = rest.components().next() {
                    ids.push(id.as_os_str().to_string_lossy().into_owned());
                }
            }
        }
        for id in ids {
            if !running(&id) {
                orphans.push(format!("process {pid} of container {id}"));
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "left behind after kill -9 rounds: {orphans:#?}"
    );
    // And the daemon works.
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "echo", "alive"])),
        "alive"
    );
}

/// A container with the default CAP_MKNOD makes nodes for host devices outside Docker's
/// allow list and tries to open them: refused by the devices cgroup on v1 and by the
/// eBPF device filter on v2 (without one, v2 let it open the host's disks).
fn device_attack(d: &Daemon) {
    d.make_busybox();
    // Devices this host itself can open (a sandbox may refuse some), never on the list.
    let candidates = [("b", 7u32, 0u32, "/dev/loop0"), ("c", 1, 11, "/dev/kmsg")];
    let mut tried = 0;
    for (kind, major, minor, host_path) in candidates {
        if std::fs::File::open(host_path).is_err() {
            continue;
        }
        tried += 1;
        let script = format!(
            "mknod /tmp/dev {kind} {major} {minor} || exit 9; if (exec 3</tmp/dev); then echo OPENED; else echo DENIED; fi"
        );
        let out = ok(d.berth(&["run", "--rm", "busybox", "sh", "-c", &script]));
        assert_eq!(
            out, "DENIED",
            "{kind} {major}:{minor} ({host_path}) was opened"
        );
        // Docker's list still works.
        assert_eq!(
            ok(d.berth(&[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "echo x > /dev/null && head -c 1 /dev/urandom | wc -c"
            ])),
            "1"
        );
    }
    if tried == 0 {
        eprintln!("skipping: this host opens none of the candidate devices");
    }
}

#[test]
fn devices_outside_the_allow_list_cannot_be_opened_on_cgroup_v1() {
    device_attack(&Daemon::start());
}

#[test]
fn devices_outside_the_allow_list_cannot_be_opened_on_cgroup_v2() {
    if let Some(d) = Daemon::start_v2() {
        device_attack(&d);
    }
}

/// `--device` and `--device-cgroup-rule` open exactly what they name.
fn device_grants(d: &Daemon) {
    d.make_busybox();
    let Some((host, kind, major, minor)) =
        [("/dev/loop0", "b", 7u32, 0u32), ("/dev/kmsg", "c", 1, 11)]
            .into_iter()
            .find(|(p, ..)| std::fs::File::open(p).is_ok())
    else {
        eprintln!("skipping: this host opens none of the candidate devices");
        return;
    };
    let mapped = format!("{host}:/dev/granted");
    let open = "if (exec 3</dev/granted); then echo OPENED; else echo DENIED; fi";
    assert_eq!(
        ok(d.berth(&["run", "--rm", "--device", &mapped, "busybox", "sh", "-c", open])),
        "OPENED"
    );
    assert_eq!(
        ok(d.docker(&["run", "--rm", "--device", &mapped, "busybox", "sh", "-c", open])),
        "OPENED"
    );
    let rule = format!("{kind} {major}:* rwm");
    let script = format!("mknod /tmp/dev {kind} {major} {minor} && if (exec 3</tmp/dev); then echo OPENED; else echo DENIED; fi");
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--device-cgroup-rule",
            &rule,
            "busybox",
            "sh",
            "-c",
            &script
        ])),
        "OPENED"
    );
    let bad = d.berth(&["run", "--rm", "--device", "/etc/passwd", "busybox", "true"]);
    assert!(
        stderr(&bad).contains("not a device node"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn devices_asked_for_are_granted_on_cgroup_v1() {
    device_grants(&Daemon::start());
}

#[test]
fn devices_asked_for_are_granted_on_cgroup_v2() {
    if let Some(d) = Daemon::start_v2() {
        device_grants(&d);
    }
}
