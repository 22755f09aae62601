//! Layers as Docker makes and reads them, tested the way the gap was found: an image
//! built by a real dockerd (Debian's docker.io, on its own root and socket, no network)
//! pushed through a loopback registry and pulled by berth, and berth's image pulled by
//! dockerd; every path of both stat'ed in a container of each engine, and compared.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A dockerd of the test's own: its own data and exec roots, socket and containerd
/// namespace; no bridge, no iptables, no forwarding. Stopped (by pid) and removed on drop.
struct Dockerd {
    dir: PathBuf,
    child: Child,
}

impl Dockerd {
    fn start() -> Self {
        assert!(
            Command::new("dockerd").arg("--version").output().is_ok(),
            "dockerd is not installed (Debian's docker.io)"
        );
        let dir = PathBuf::from(format!("/tmp/bdk{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ns = format!("bdk{}", std::process::id());
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("d.sock").display()))
            .arg("--pidfile")
            .arg(dir.join("d.pid"))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args(["--ip-forward=false", "--ip-masq=false"])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}p")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("dockerd");
        let d = Dockerd { dir, child };
        wait_until("dockerd to answer", Duration::from_secs(60), || {
            d.docker(&["version"]).status.success()
        });
        d
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.join("config"))
            .env("DOCKER_BUILDKIT", "0")
            .args(args)
            .output()
            .expect("docker")
    }

    fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.join("config"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.join("root"))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every entry type a layer can hold, and a second layer with whiteouts and an opaque
/// directory.
const DOCKERFILE: &str = r#"FROM busybox
RUN mkdir -p /x/d /x/opq /x/gone && echo a > /x/opq/old && echo data > /x/f \
 && ln /x/f /x/hard && ln -s f /x/link && mkfifo /x/fifo && mknod /x/null c 1 3 \
 && mknod /x/blk b 7 9 && chmod 4755 /x/f && chown 12:34 /x/d \
 && touch -d '2001-02-03 04:05:06' /x/d /x/fifo && echo long > "/x/$(printf 'n%.0s' $(seq 150))"
RUN rm -rf /x/opq && mkdir /x/opq && echo new > /x/opq/new && rm /x/link && rm -r /x/gone && rm /etc/group
"#;

const LIST: &str = "find /x | sort | while read p; do stat -c '%n|%F|%a|%u|%g|%s|%t,%T|%h|%Y' \"$p\"; done; test -e /etc/group && echo HAS-GROUP; true";

#[test]
fn layers_round_trip_with_dockerd() {
    let d = Daemon::start();
    d.make_busybox();
    let registry = Registry::start().expect("docker-registry (apt: docker-registry)");
    let dockerd = Dockerd::start();
    // busybox into dockerd, from berth.
    let saved = d.berth(&["save", "busybox"]);
    assert!(saved.status.success());
    let loaded = dockerd.docker_stdin(&["load"], &saved.stdout);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let ctx = d.dir.join("layers-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    let ctx_s = ctx.to_str().unwrap();

    // dockerd's image, pulled by berth.
    let from_dockerd = format!("{}/layers/dockerd:1", registry.addr);
    let built = dockerd.docker(&["build", "--network", "none", "-t", &from_dockerd, ctx_s]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let pushed = dockerd.docker(&["push", &from_dockerd]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    ok(d.berth(&["pull", &from_dockerd]));
    let in_dockerd = dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &from_dockerd,
        "sh",
        "-c",
        LIST,
    ]);
    assert!(
        in_dockerd.status.success(),
        "{}",
        String::from_utf8_lossy(&in_dockerd.stderr)
    );
    let in_berth = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        &from_dockerd,
        "sh",
        "-c",
        LIST,
    ]));
    let expected = String::from_utf8_lossy(&in_dockerd.stdout)
        .trim()
        .to_string();
    assert!(
        expected.contains("/x/fifo|fifo|") && expected.contains("/x/null|character special file|"),
        "{expected}"
    );
    assert!(
        !expected.contains("HAS-GROUP")
            && !expected.contains("/x/link")
            && !expected.contains("/x/opq/old")
    );
    assert_eq!(in_berth, expected, "dockerd's image as berth unpacks it");

    // berth's image, pulled by dockerd.
    let from_berth = format!("{}/layers/berth:1", registry.addr);
    let out = d.berth(&["build", "--network", "none", "-t", &from_berth, ctx_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    ok(d.berth(&["push", &from_berth]));
    let pulled = dockerd.docker(&["pull", &from_berth]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let berth_view = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        &from_berth,
        "sh",
        "-c",
        LIST,
    ]));
    let dockerd_view = dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &from_berth,
        "sh",
        "-c",
        LIST,
    ]);
    assert!(dockerd_view.status.success());
    assert_eq!(
        String::from_utf8_lossy(&dockerd_view.stdout).trim(),
        berth_view,
        "berth's image as dockerd unpacks it"
    );
    // The same entries either way, times aside (each build ran at its own time).
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                l.rsplit_once('|')
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default()
            })
            .collect()
    };
    let mut a = strip(&expected);
    let mut b = strip(&berth_view);
    // Directory sizes depend on the filesystem that made them.
    for v in [&mut a, &mut b] {
        for l in v.iter_mut() {
            if l.contains("|directory|") {
                let mut parts: Vec<&str> = l.split('|').collect();
                parts[5] = "-";
                *l = parts.join("|");
            }
        }
    }
    assert_eq!(a, b, "berth's builder and dockerd's make the same files");
}
