//! A multi-container app, unchanged, under Debian's docker-compose 1.29 and under the
//! current `docker compose` plugin (built from its Go module by scripts/build-peers.sh):
//! two services that talk by name on the project's network, a published port, a
//! bind-mounted directory and a named volume; `up` and `down -v` leave nothing behind.

mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Which compose drives the app.
#[derive(Clone, Copy)]
enum Compose {
    /// Debian's docker-compose 1.29 (Python, docker-py underneath).
    V1,
    /// The `docker compose` CLI plugin (Go, the Docker CLI's client underneath).
    Plugin,
}

impl Compose {
    fn command(self, d: &Daemon) -> Command {
        let mut c = match self {
            Compose::V1 => Command::new("docker-compose"),
            Compose::Plugin => {
                let mut c = Command::new("docker");
                // The classic builder: berth has no BuildKit.
                c.arg("compose")
                    .env("DOCKER_CONFIG", d.dir.join("docker-config"))
                    .env("DOCKER_BUILDKIT", "0");
                c
            }
        };
        c.env("DOCKER_HOST", d.host())
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        c
    }

    fn installed(self, d: &Daemon) -> bool {
        self.command(d)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn run(self, d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> Output {
        self.command(d)
            .current_dir(dir)
            .args(["-p", project])
            .args(args)
            .output()
            .expect("compose")
    }
}

fn fetch(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

#[test]
fn compose_v1_app_up_and_down() {
    app_up_and_down(Compose::V1, 3);
}

#[test]
fn compose_plugin_app_up_and_down() {
    app_up_and_down(Compose::Plugin, 4);
}

fn app_up_and_down(compose: Compose, subnet_index: u32) {
    let d = Daemon::start();
    assert!(
        compose.installed(&d),
        "compose is not installed: scripts/install-deps.sh (docker-compose) and scripts/build-peers.sh (docker compose) install it"
    );
    d.make_busybox();
    let dir = d.dir.join("app");
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), "hello from compose\n").unwrap();
    // The web service's image is built by compose.
    std::fs::create_dir_all(dir.join("web")).unwrap();
    std::fs::write(
        dir.join("web/Dockerfile"),
        "FROM busybox\nARG FLAVOR=plain\nRUN echo \"built $FLAVOR\" > /etc/built\n",
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let subnet = d.user_subnet(subnet_index);
    let project = format!("bt{}", std::process::id());
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            r#"version: "3.7"
services:
  web:
    build: ./web
    image: {project}-web:built
    command: httpd -f -p 8080 -h /www
    volumes:
      - ./www:/www:ro
    ports:
      - "127.0.0.1:{port}:8080"
  client:
    image: busybox
    command: sh -c 'until wget -qO /out/page http://web:8080/index.html; do sleep 0.2; done; exec sleep 1000'
    volumes:
      - out:/out
    depends_on:
      - web
volumes:
  out:
networks:
  default:
    ipam:
      config:
        - subnet: {subnet}
"#
        ),
    )
    .unwrap();
    let up = compose.run(&d, &dir, &project, &["up", "-d"]);
    assert!(up.status.success(), "up: {}", stderr(&up));
    // The host reaches the published port; the client reached the web service by name
    // and wrote into the named volume.
    let mut page = None;
    wait_until("the published port", Duration::from_secs(15), || {
        page = fetch(port, "/index.html");
        page.is_some()
    });
    assert_eq!(page.as_deref(), Some("hello from compose\n"));
    let volume = format!("{project}_out");
    let mut copied = String::new();
    wait_until("the client's copy", Duration::from_secs(15), || {
        copied = stdout(&d.docker(&[
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/o"),
            "busybox",
            "cat",
            "/o/page",
        ]));
        !copied.is_empty()
    });
    assert_eq!(copied, "hello from compose\n");
    // The built image is the one the service runs.
    let built = compose.run(
        &d,
        &dir,
        &project,
        &["exec", "-T", "web", "cat", "/etc/built"],
    );
    assert_eq!(stdout(&built).trim(), "built plain", "{}", stderr(&built));
    let ps = compose.run(&d, &dir, &project, &["ps"]);
    assert!(stdout(&ps).contains("Up"), "{}", stdout(&ps));
    assert!(
        stdout(&ps).contains(&format!("127.0.0.1:{port}->8080/tcp")),
        "{}",
        stdout(&ps)
    );
    let down = compose.run(&d, &dir, &project, &["down", "-v", "-t", "1"]);
    assert!(down.status.success(), "down: {}", stderr(&down));
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
    assert!(!stdout(&d.docker(&["volume", "ls", "-q"])).contains(&volume));
    assert!(!stdout(&d.docker(&["network", "ls"])).contains(&project));
    assert!(
        fetch(port, "/index.html").is_none(),
        "the port is still forwarded"
    );
}
