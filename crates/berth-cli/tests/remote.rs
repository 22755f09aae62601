//! The API over TCP, as dockerd serves it: mutual TLS with the docker CLI, berth and
//! docker-py on 127.0.0.1; clients without a certificate of the CA refused; plain TCP
//! refused unless asked for with --tls=false; several -H at once; fd:// activation.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// `dir/{ca,cert,key}.pem`, as DOCKER_CERT_PATH holds them.
fn issue(ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose, dir: &Path) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

struct Pki {
    dir: PathBuf,
    server: PathBuf,
    client: PathBuf,
    stranger: PathBuf,
    no_cert: PathBuf,
}

fn pki() -> Pki {
    let dir =
        std::env::temp_dir().join(format!("berth-pki-{}-{}", std::process::id(), free_port()));
    let good = ca("berth test CA");
    let other = ca("someone else's CA");
    let pki = Pki {
        server: dir.join("server"),
        client: dir.join("client"),
        stranger: dir.join("stranger"),
        no_cert: dir.join("no-cert"),
        dir,
    };
    issue(
        &good,
        "127.0.0.1",
        ExtendedKeyUsagePurpose::ServerAuth,
        &pki.server,
    );
    issue(
        &good,
        "client",
        ExtendedKeyUsagePurpose::ClientAuth,
        &pki.client,
    );
    issue(
        &other,
        "stranger",
        ExtendedKeyUsagePurpose::ClientAuth,
        &pki.stranger,
    );
    std::fs::create_dir_all(&pki.no_cert).unwrap();
    std::fs::write(pki.no_cert.join("ca.pem"), good.cert.pem()).unwrap();
    pki
}

impl Drop for Pki {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_PKI").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn docker_tls(d: &Daemon, cert_path: &Path, tcp: &str, args: &[&str]) -> std::process::Output {
    Command::new(DOCKER)
        .env("DOCKER_CONFIG", d.dir.join("docker-config"))
        .env("DOCKER_CERT_PATH", cert_path)
        .env("DOCKER_TLS_VERIFY", "1")
        .args(["-H", tcp])
        .args(args)
        .output()
        .expect("docker")
}

#[test]
fn mutual_tls_for_docker_berth_and_docker_py_and_nobody_else() {
    let pki = pki();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tcp = format!("tcp://{addr}");
    let s = |p: &Path| p.display().to_string();
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec![
            "-H".into(),
            tcp.clone(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            s(&pki.server.join("ca.pem")),
            "--tlscert".into(),
            s(&pki.server.join("cert.pem")),
            "--tlskey".into(),
            s(&pki.server.join("key.pem")),
        ],
        ..Default::default()
    });
    d.make_busybox(); // over the unix socket, the other -H
    let hi = ok(docker_tls(
        &d,
        &pki.client,
        &tcp,
        &["run", "--rm", "busybox", "echo", "over mTLS"],
    ));
    assert_eq!(hi, "over mTLS");
    let berth = Command::new(berth_bin())
        .args(["--tlsverify", "--tlscacert"])
        .arg(pki.client.join("ca.pem"))
        .arg("--tlscert")
        .arg(pki.client.join("cert.pem"))
        .arg("--tlskey")
        .arg(pki.client.join("key.pem"))
        .args(["-H", &tcp, "run", "--rm", "busybox", "echo", "berth too"])
        .output()
        .unwrap();
    assert_eq!(ok(berth), "berth too");
    // requests would check the server against these bundles instead of the given CA.
    let py = Command::new("python3")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .arg("-c")
        .arg(
            "import docker, sys\n\
             d = sys.argv[1]\n\
             tls = docker.tls.TLSConfig(client_cert=(d + '/cert.pem', d + '/key.pem'), ca_cert=d + '/ca.pem', verify=True)\n\
             c = docker.DockerClient(base_url='https://' + sys.argv[2], tls=tls)\n\
             print(c.containers.run('busybox', ['echo', 'py'], remove=True).decode().strip())",
        )
        .arg(&pki.client)
        .arg(&addr)
        .output()
        .unwrap();
    if !stderr(&py).contains("No module named 'docker'") {
        assert_eq!(stdout(&py).trim(), "py", "{}", stderr(&py));
    }
    // Refused: no client certificate, one from another CA, plain HTTP.
    for (who, dir) in [
        ("no certificate", &pki.no_cert),
        ("another CA", &pki.stranger),
    ] {
        let out = docker_tls(&d, dir, &tcp, &["ps"]);
        assert_ne!(code(&out), 0, "{who}: {}", stdout(&out));
    }
    let plain = Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("http://{addr}/_ping")])
        .output()
        .unwrap();
    assert_ne!(stdout(&plain).trim(), "OK", "plain HTTP was served");
    let no_cert = Command::new("curl")
        .args(["-s", "--max-time", "10", "--cacert"])
        .arg(pki.no_cert.join("ca.pem"))
        .arg(format!("https://{addr}/_ping"))
        .output()
        .unwrap();
    assert_ne!(
        stdout(&no_cert).trim(),
        "OK",
        "a client without a certificate was served"
    );
}

#[test]
fn plain_tcp_is_refused_unless_asked_for_and_then_loudly() {
    let dir = std::env::temp_dir().join(format!("berth-plain-{}", std::process::id()));
    let port = free_port();
    let out = Command::new(berth_bin())
        .args(["daemon", "--data-root"])
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("run"))
        .args(["-H", &format!("tcp://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("without TLS"), "{}", stderr(&out));
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec![
            "-H".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--tls=false".into(),
        ],
        ..Default::default()
    });
    assert!(d.log().contains("WITHOUT TLS"), "{}", d.log());
    let ping = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{port}/_ping"),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&ping).trim(), "OK");
}

#[test]
fn socket_activation_with_fd() {
    let dir = std::env::temp_dir().join(format!("berth-fd-{}", std::process::id()));
    let bridge = format!("btfd{}", std::process::id() % 10_000_000);
    let bip = format!("10.{}.250.1/24", 100 + std::process::id() % 50);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut cmd = Command::new("sh");
    // LISTEN_PID must be the daemon's own pid: the shell's, kept across its exec.
    cmd.args([
        "-c",
        "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
        berth_bin(),
        "daemon",
        "-H",
        "fd://",
        "--data-root",
    ])
    .arg(dir.join("data"))
    .arg("--exec-root")
    .arg(dir.join("run"))
    // Its own bridge, and never the host's forwarding, as every test daemon.
    .args(["--bridge", &bridge, "--bip", &bip, "--ip-forward=false"])
    .stdout(std::process::Stdio::null())
    .stderr(std::fs::File::create(dir.join("log")).unwrap());
    // SAFETY: dup2 only, between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // (dup2 onto itself would keep close-on-exec: clear it either way.)
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);
    let mut answered = String::new();
    for _ in 0..100 {
        let out = Command::new(berth_bin())
            .args([
                "-H",
                &format!("unix://{}", sock.display()),
                "version",
                "--format",
                "{{.Server.Version}}",
            ])
            .output()
            .unwrap();
        if out.status.success() {
            answered = stdout(&out);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    );
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Command::new("ip").args(["link", "del", &bridge]).status();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", &format!("berth_{bridge}")])
        .status();
    assert!(
        !answered.trim().is_empty(),
        "no answer on the activated socket: {log}"
    );
}
