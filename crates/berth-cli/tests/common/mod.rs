//! A private berth daemon per test: its own root, socket and cgroup parent, all of it
//! removed on drop (containers, shims, cgroups, dirs), also when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub const DOCKER: &str = "/usr/local/bin/docker";

pub fn berth_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Daemon {
    pub dir: PathBuf,
    /// The default bridge's device and `--bip`.
    pub bridge: String,
    pub bip: String,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    pub opts: DaemonOptions,
    child: Option<Child>,
}

/// How a test's daemon is started, beyond its own dirs.
#[derive(Default, Clone)]
pub struct DaemonOptions {
    /// The cgroup v2 code path on a v1 host: the daemon runs in a private mount namespace
    /// with /sys/fs/cgroup/unified bound on /sys/fs/cgroup.
    pub cgroup_v2: bool,
    /// A descriptor (not close-on-exec) the daemon inherits: (fd number, path opened).
    pub inherited_fd: Option<(i32, PathBuf)>,
    /// The umask the daemon starts under.
    pub umask: Option<u32>,
    pub extra_args: Vec<String>,
    /// Made before the daemon starts, with mode 0755 (a data root from an older berth).
    pub precreate_data_root: bool,
}

/// Whether the v2 path can be exercised here: a v2 hierarchy is either /sys/fs/cgroup
/// itself or the hybrid host's /sys/fs/cgroup/unified.
pub fn cgroup_v2_available() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        || Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists()
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_with(DaemonOptions::default())
    }

    /// A daemon on the cgroup v2 code path, or None (said on stderr) where this machine
    /// has no v2 hierarchy.
    pub fn start_v2() -> Option<Self> {
        if !cgroup_v2_available() {
            eprintln!("skipping: no cgroup v2 hierarchy on this machine");
            return None;
        }
        Some(Self::start_with(DaemonOptions {
            cgroup_v2: true,
            ..Default::default()
        }))
    }

    pub fn start_with(opts: DaemonOptions) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("bt{}-{n}", std::process::id());
        // Short: unix socket paths are limited to 108 bytes.
        let dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        // Its own default bridge and subnet, so that daemons of parallel tests never share
        // addresses: 10.100-149.n.0/24 (nothing else on a test machine); `user_subnet`
        // gives its tests' own networks addresses from 10.150-199.n.0/24.
        let bridge = format!("bt{}x{n}", std::process::id() % 10_000_000);
        let bip = format!("10.{}.{}.1/24", 100 + std::process::id() % 50, n % 256);
        let mut d = Daemon {
            bridge,
            bip,
            socket: dir.join("run/berth.sock"),
            cgroup_parent: format!("/berth-test-{tag}"),
            dir,
            opts,
            child: None,
        };
        if d.opts.precreate_data_root {
            for sub in ["data", "data/layers", "data/containers"] {
                std::fs::create_dir_all(d.dir.join(sub)).expect("data root");
                std::fs::set_permissions(
                    d.dir.join(sub),
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .expect("chmod");
            }
        }
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))
            .expect("log");
        // On a hybrid host, v2 is reached through a private mount namespace; on a pure v2
        // host the daemon is on it anyway.
        let wrap_v2 =
            self.opts.cgroup_v2 && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let mut cmd = if wrap_v2 {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec \"$0\" \"$@\"",
                berth_bin(),
            ]);
            c
        } else {
            Command::new(berth_bin())
        };
        cmd.args(["daemon", "--data-root"])
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("run"))
            .args(["--cgroup-parent", &self.cgroup_parent])
            .args(["--bridge", &self.bridge, "--bip", &self.bip])
            // Tests never turn on forwarding to the outside.
            .arg("--ip-forward=false")
            // Its own certs.d: nothing from the machine's /etc/docker/certs.d.
            .arg("--registry-certs-dir")
            .arg(self.dir.join("certs.d"))
            .args(&self.opts.extra_args);
        // Other hosts asked for: the test's own socket is one of them.
        if self.opts.extra_args.iter().any(|a| a == "-H") {
            cmd.arg("-H").arg(self.host());
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let inherited = self.opts.inherited_fd.as_ref().map(|(n, path)| {
            let f = std::fs::File::open(path).expect("inherited fd");
            (*n, f)
        });
        let umask = self.opts.umask;
        if inherited.is_some() || umask.is_some() {
            use std::os::fd::AsRawFd;
            use std::os::unix::process::CommandExt;
            let fds = inherited.as_ref().map(|(n, f)| (*n, f.as_raw_fd()));
            // SAFETY: only async-signal-safe calls (dup2, umask) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if let Some((to, from)) = fds {
                        if libc::dup2(from, to) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    if let Some(m) = umask {
                        libc::umask(m);
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("start daemon");
        drop(inherited);
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not start: {}", self.log());
    }

    /// The `k`th /28 of this daemon's range for user networks (k < 16).
    pub fn user_subnet(&self, k: u32) -> String {
        let third = self.bip.split('.').nth(2).unwrap_or("0");
        format!("10.{}.{third}.{}/28", 150 + std::process::id() % 50, k * 16)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::SIGTERM,
            );
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.spawn();
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(berth_bin())
            .env("BERTH_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .args(args)
            .output()
            .expect("run berth")
    }

    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_stdin(
            Command::new(berth_bin())
                .env("BERTH_HOST", self.host())
                .env("DOCKER_CONFIG", self.dir.join("docker-config"))
                .args(args),
            input,
        )
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .args(args)
            .output()
            .expect("run docker")
    }

    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with_stdin(
            Command::new(DOCKER)
                .env("DOCKER_HOST", self.host())
                .env("DOCKER_CONFIG", self.dir.join("docker-config"))
                .args(args),
            input,
        )
    }

    /// Makes `busybox:latest` with the repo's fixture script.
    pub fn make_busybox(&self) {
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/make-busybox-image.sh"))
            .env("BERTH", berth_bin())
            .env("BERTH_HOST", self.host())
            .output()
            .expect("fixture script");
        assert!(
            out.status.success(),
            "busybox fixture failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends raw bytes as an HTTP request and returns (status, body).
    pub fn raw_http(&self, request: &str) -> (u16, String) {
        self.raw_http_timeout(request, None)
    }

    /// As `raw_http`, waiting at most `timeout` for the reply; status 0 when the daemon
    /// cannot be reached or does not answer.
    pub fn raw_http_timeout(&self, request: &str, timeout: Option<Duration>) -> (u16, String) {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return (0, String::new());
        };
        let _ = s.set_read_timeout(timeout);
        let _ = s.write_all(request.as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    pub fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        self.raw_http(&format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    }
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            self.spawn();
        }
        // Remove every container (which ends its shim and processes) through the daemon.
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
        // The user networks a test made, and their bridges.
        let _ = self.post_json("/networks/prune", "");
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log ({}) ---\n{}",
                self.dir.display(),
                self.log()
            );
        }
        self.terminate();
        // The cgroup parent dirs this daemon's containers lived under.
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let p = e.path().join(self.cgroup_parent.trim_start_matches('/'));
                let _ = std::fs::remove_dir(&p);
            }
        }
        let _ = std::fs::remove_dir(
            Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/')),
        );
        let _ = std::fs::remove_dir_all(&self.dir);
        // The default bridge and berth's nftables table stay after their daemon (as
        // docker0 does, and so that published ports outlive a daemon restart): this
        // test's go.
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let table = format!("berth_{}", self.bridge);
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts success and returns trimmed stdout.
#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({}): stdout={} stderr={}",
        code(&o),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o).trim().to_string()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Debian's docker-registry on a free loopback port, with its own storage dir; killed
/// (by pid) and removed on drop.
pub struct Registry {
    pub addr: String,
    dir: PathBuf,
    child: Child,
}

impl Registry {
    pub fn start() -> Option<Self> {
        Self::start_with(None)
    }

    /// With `Some((user, password))`, the registry requires htpasswd basic auth.
    pub fn start_with(auth: Option<(&str, &str)>) -> Option<Self> {
        if Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipping: docker-registry not installed");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from("/tmp").join(format!("breg{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("registry dir");
        // A free port: bind, read it, release it for the registry.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("data").display()
        );
        let mut config = config;
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils)");
            std::fs::write(dir.join("htpasswd"), &out.stdout).expect("htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        let reg = Registry { addr, dir, child };
        wait_until("the registry to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(&reg.addr).is_ok()
        });
        Some(reg)
    }

    /// Copies a docker-archive into the registry with skopeo.
    pub fn push_archive(&self, archive: &Path, name: &str) {
        self.push_archive_as(archive, name, None)
    }

    pub fn push_archive_as(&self, archive: &Path, name: &str, creds: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            cmd.arg(format!("--dest-creds={c}"));
        }
        let out = cmd
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A rootfs tarball holding one file of `size` incompressible bytes (xorshift), for
/// pushes big enough to go up in chunks.
pub fn random_rootfs_tar(size: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "big.bin", &data[..]).expect("tar");
    b.into_inner().expect("tar")
}

/// A tar header owned by root, of `kind`, `mode` and `size`.
pub fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// A rootfs tarball like the busybox fixture's (busybox-static, a link per applet,
/// passwd and group), without the top-level entries named in `skip`, with whatever
/// `extra` appends: the raw material of hostile images.
pub fn busybox_rootfs_tar(
    skip: &[&str],
    extra: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let header = tar_header;
    for dir in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        if !skip.contains(&dir) {
            let mode = if dir == "tmp" { 0o1777 } else { 0o755 };
            let mut h = header(tar::EntryType::Directory, mode, 0);
            b.append_data(&mut h, dir, std::io::empty()).expect("tar");
        }
    }
    let bb = std::fs::read("/bin/busybox").expect("busybox-static");
    let mut h = header(tar::EntryType::Regular, 0o755, bb.len() as u64);
    b.append_data(&mut h, "bin/busybox", &bb[..]).expect("tar");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    for app in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if app != "busybox" {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            b.append_link(&mut h, format!("bin/{app}"), "busybox")
                .expect("tar");
        }
    }
    if !skip.contains(&"etc") {
        for (name, data) in [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nwww:x:100:101:www:/:/bin/sh\n"),
            ("etc/group", "root:x:0:\nwww:x:101:\nstaff:x:102:www\nextra:x:103:www\nnogroup:x:65534:\n"),
        ] {
            let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
            b.append_data(&mut h, name, data.as_bytes()).expect("tar");
        }
    }
    extra(&mut b);
    b.into_inner().expect("tar")
}

impl Daemon {
    /// Imports a rootfs tarball as `tag`, with Dockerfile-style `--change`s.
    pub fn import_image(&self, tag: &str, tar: &[u8], changes: &[&str]) {
        let mut args = vec!["import"];
        for c in changes {
            args.push("--change");
            args.push(c);
        }
        args.extend(["-", tag]);
        ok(self.berth_stdin(&args, tar));
    }
}
