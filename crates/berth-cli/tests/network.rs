//! Networks: the default bridge, user networks, addresses, and what is left on the host.
//! Traffic goes only to the test daemon's own bridges and containers.

mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d.berth(&["inspect", "-f", format, name]))
}

fn link_exists(name: &str) -> bool {
    std::process::Command::new("ip")
        .args(["link", "show", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `GET path` from the host to `ip:port`, the body. A server that a detached `run` just
/// started may not listen yet: refused connections are tried again for a while.
fn http_get(ip: &str, port: u16, path: &str) -> String {
    let addr = format!("{ip}:{port}").parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => break s,
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect to the container at {addr}: {e}"),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

#[test]
fn default_bridge_containers_reach_each_other_and_the_host() {
    let d = Daemon::start();
    d.make_busybox();
    assert!(link_exists(&d.bridge), "the daemon made its bridge");
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/etc",
    ]));
    let ip = inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    let gateway = d.bip.split('/').next().unwrap().to_string();
    let prefix = gateway.rsplit_once('.').unwrap().0.to_string();
    assert!(ip.starts_with(&format!("{prefix}.")), "{ip} in {}", d.bip);
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.Gateway}}"),
        gateway
    );
    let mac = inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "{mac}");
    // Inside: eth0 with that address, and the hosts file names it.
    let inside = ok(d.berth(&[
        "exec",
        "web",
        "sh",
        "-c",
        "ip -4 addr show eth0; cat /etc/hosts; ip route",
    ]));
    assert!(inside.contains(&format!("inet {ip}/24")), "{inside}");
    assert!(inside.contains(&format!("{ip}\twebhost")), "{inside}");
    assert!(
        inside.contains(&format!("default via {gateway}")),
        "{inside}"
    );
    // Another container reaches it; so does the host, through the bridge.
    let page = ok(d.berth(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip}:8080/hostname"),
    ]));
    assert_eq!(page, "webhost");
    assert_eq!(http_get(&ip, 8080, "/hostname"), "webhost\n");
    // Through the docker CLI: the predefined networks, and the container on the bridge.
    let ls = stdout(&d.docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]));
    for n in ["bridge bridge", "host host", "none null"] {
        assert!(ls.lines().any(|l| l == n), "{ls}");
    }
    let members = ok(d.docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
    ]));
    assert_eq!(members, format!("web {ip}/24"));
    let rm = d.docker(&["network", "rm", "bridge"]);
    assert!(
        stderr(&rm).contains("pre-defined network and cannot be removed"),
        "{}",
        stderr(&rm)
    );
    // A stop gives the address back and leaves no veth.
    let endpoint = inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.EndpointID}}");
    let veth = format!("veth{}", &endpoint[..8]);
    assert!(link_exists(&veth));
    ok(d.berth(&["stop", "-t", "1", "web"]));
    assert_eq!(
        inspect(&d, "web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        ""
    );
    // The veth goes with the namespace, torn down by the kernel in the background.
    wait_until("the veth to go", Duration::from_secs(10), || {
        !link_exists(&veth)
    });
    // none and host have no veth and no address.
    let none = ok(d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net | sort | tr '\\n' ' '",
    ]));
    assert_eq!(none, "lo");
}

#[test]
fn addresses_survive_a_daemon_crash() {
    let mut d = Daemon::start();
    d.make_busybox();
    ok(d.berth(&["run", "-d", "--name", "one", "busybox", "sleep", "1000"]));
    let a = inspect(&d, "one", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    d.kill9();
    d.restart();
    ok(d.berth(&["run", "-d", "--name", "two", "busybox", "sleep", "1000"]));
    let b = inspect(&d, "two", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert_ne!(a, b, "a running container's address was handed out again");
    assert_eq!(
        inspect(&d, "one", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        a
    );
    // They still reach each other.
    ok(d.berth(&["exec", "two", "ping", "-c", "1", "-W", "2", &a]));
}

#[test]
fn user_networks() {
    let d = Daemon::start();
    d.make_busybox();
    let subnet = d.user_subnet(1);
    let base = subnet
        .split('/')
        .next()
        .unwrap()
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string();
    let last: u32 = subnet
        .split('/')
        .next()
        .unwrap()
        .rsplit('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let fixed = format!("{base}.{}", last + 5);
    let id = ok(d.docker(&[
        "network", "create", "--subnet", &subnet, "--label", "team=a", "appnet",
    ]));
    let bridge = format!("br-{}", &id[..12]);
    assert!(link_exists(&bridge));
    // A second network on the same addresses is refused, and nothing is made.
    let dup = d.docker(&["network", "create", "--subnet", &subnet, "other"]);
    assert_ne!(code(&dup), 0);
    assert!(stderr(&dup).contains("overlaps"), "{}", stderr(&dup));
    let again = d.docker(&["network", "create", "appnet"]);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "one",
        "--network",
        "appnet",
        "--ip",
        &fixed,
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.appnet.IPAddress}}",
            "one"
        ])),
        fixed
    );
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "two",
        "--network",
        "appnet",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(d.berth(&["exec", "two", "ping", "-c", "1", "-W", "2", &fixed]));
    // Names resolve through the embedded resolver: container names and aliases.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "three",
        "--network",
        "appnet",
        "--network-alias",
        "db",
        "busybox",
        "sleep",
        "1000",
    ]));
    let three = ok(d.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.appnet.IPAddress}}",
        "three",
    ]));
    let resolv = ok(d.berth(&["exec", "two", "cat", "/etc/resolv.conf"]));
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    for (name, ip) in [("one", &fixed), ("db", &three), ("three", &three)] {
        let out = ok(d.berth(&["exec", "two", "nslookup", name]));
        assert!(out.contains(ip.as_str()), "{name}: {out}");
    }
    // The default bridge has no names (as with Docker).
    ok(d.berth(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]));
    let plain = ok(d.berth(&["exec", "plain", "cat", "/etc/resolv.conf"]));
    assert!(!plain.contains("127.0.0.11"), "{plain}");
    // The same address twice is refused at start.
    let taken = d.docker(&[
        "run",
        "-d",
        "--network",
        "appnet",
        "--ip",
        &fixed,
        "busybox",
        "true",
    ]);
    assert_ne!(code(&taken), 0, "{}", stdout(&taken));
    let inspect = ok(d.docker(&[
        "network",
        "inspect",
        "appnet",
        "-f",
        "{{.IPAM.Config}} {{.Labels}} {{len .Containers}}",
    ]));
    assert!(
        inspect.contains(&subnet) && inspect.contains("team:a"),
        "{inspect}"
    );
    let busy = d.docker(&["network", "rm", "appnet"]);
    assert!(
        stderr(&busy).contains("active endpoints"),
        "{}",
        stderr(&busy)
    );
    // An internal network: no default route, and berth's table drops what it sends
    // anywhere but its own bridge.
    let closed = ok(d.docker(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &d.user_subnet(4),
        "closed",
    ]));
    let routes = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "closed",
        "busybox",
        "ip",
        "route",
    ]));
    assert!(!routes.contains("default"), "{routes}");
    let rules = stdout(
        &std::process::Command::new("nft")
            .args(["list", "table", "ip", &format!("berth_{}", d.bridge)])
            .output()
            .unwrap(),
    );
    let closed_bridge = format!("br-{}", &closed[..12]);
    assert!(
        rules.contains(&format!(
            "iifname \"{closed_bridge}\" oifname != \"{closed_bridge}\" drop"
        )),
        "{rules}"
    );
    ok(d.docker(&["network", "rm", "closed"]));
    let nope = d.docker(&["run", "--rm", "--network", "nope", "busybox", "true"]);
    assert!(
        stderr(&nope).contains("network nope not found"),
        "{}",
        stderr(&nope)
    );
    ok(d.docker(&["rm", "-f", "one", "two", "three", "plain"]));
    let _ = d.docker(&["container", "prune", "-f"]);
    ok(d.docker(&["network", "rm", "appnet"]));
    assert!(!link_exists(&bridge), "{bridge} left behind");
    assert!(!stdout(&d.docker(&["network", "ls"])).contains("appnet"));
}

/// A free TCP port on 127.0.0.1 (taken and let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn published_ports() {
    let forwarding_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let d = Daemon::start();
    d.make_busybox();
    let fixed = free_port();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "pubweb",
        "-p",
        &format!("127.0.0.1:{fixed}:8080"),
        "-p",
        "127.0.0.1::8081",
        "busybox",
        "sh",
        "-c",
        "httpd -p 8081 -h /etc; exec httpd -f -p 8080 -h /etc",
    ]));
    // Reachable from the host's loopback, on the fixed and on the random port.
    assert_eq!(http_get("127.0.0.1", fixed, "/hostname"), "pubweb\n");
    let random = ok(d.docker(&["port", "web", "8081"]));
    let random_port: u16 = random.rsplit(':').next().unwrap().parse().unwrap();
    assert!(random.starts_with("127.0.0.1:"), "{random}");
    assert_eq!(http_get("127.0.0.1", random_port, "/hostname"), "pubweb\n");
    let ports = ok(d.docker(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]));
    assert!(
        ports.contains(&format!("\"HostPort\":\"{fixed}\"")),
        "{ports}"
    );
    // The rules live in berth's own table, which the host's firewall can see; the
    // bridge's traffic to other networks would be masqueraded, but the test daemon runs
    // with --ip-forward=false and nothing turned forwarding on.
    let table = format!("berth_{}", d.bridge);
    let rules = stdout(
        &std::process::Command::new("nft")
            .args(["list", "table", "ip", &table])
            .output()
            .unwrap(),
    );
    assert!(
        rules.contains(&format!("tcp dport {fixed} dnat to")),
        "{rules}"
    );
    let subnet = format!("{}.0/24", d.bip.rsplit_once('.').unwrap().0);
    assert!(
        rules.contains(&format!(
            "ip saddr {subnet} oifname != \"{}\" masquerade",
            d.bridge
        )),
        "{rules}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        forwarding_before
    );
    // Other containers reach a port published on the host's address on the bridge: the
    // daemon carries their traffic (DNAT back onto the bridge would need forwarding).
    // (UDP is tested in berth-net: busybox has no UDP server.)
    let gateway = d.bip.split('/').next().unwrap().to_string();
    let tcp_port = free_port();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        &format!("{gateway}:{tcp_port}:7000"),
        "busybox",
        "nc",
        "-ll",
        "-p",
        "7000",
        "-e",
        "echo",
        "tcp-reply",
    ]));
    // (Until the server in `echo` listens.)
    let via_host = ok(d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!(
            "for i in $(seq 50); do r=$(nc -w 2 {gateway} {tcp_port}); [ -n \"$r\" ] && break; sleep 0.1; done; echo $r"
        ),
    ]));
    assert_eq!(via_host, "tcp-reply", "{via_host}");
    ok(d.docker(&["rm", "-f", "echo"]));
    // A port in use, by a container or by the host, is refused at start; nothing is left.
    let taken = d.docker(&[
        "run",
        "-d",
        "--name",
        "again",
        "-p",
        &format!("127.0.0.1:{fixed}:8080"),
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(
        stderr(&taken).contains("port is already allocated"),
        "{}",
        stderr(&taken)
    );
    assert_eq!(inspect(&d, "again", "{{.State.Running}}"), "false");
    let host_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_listener.local_addr().unwrap().port();
    let busy = d.docker(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{host_port}:80"),
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(
        stderr(&busy).contains("port is already allocated"),
        "{}",
        stderr(&busy)
    );
    drop(host_listener);
    // -P publishes the exposed ports on free ones.
    ok(d.docker(&[
        "run", "-d", "--name", "all", "-P", "--expose", "9000", "busybox", "sleep", "100",
    ]));
    let all = ok(d.docker(&["port", "all"]));
    assert!(all.starts_with("9000/tcp -> 0.0.0.0:"), "{all}");
    // Ports go with their container: the port is free and the rule gone.
    ok(d.docker(&["rm", "-f", "web", "again", "all"]));
    std::net::TcpListener::bind(("127.0.0.1", fixed)).expect("the port was given back");
    let rules = stdout(
        &std::process::Command::new("nft")
            .args(["list", "table", "ip", &table])
            .output()
            .unwrap(),
    );
    assert!(!rules.contains("dnat to"), "{rules}");
    // With host networking the host's ports are the container's already: dockerd's
    // warning, and it runs (nothing is published).
    let host = d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "8080:80",
        "busybox",
        "true",
    ]);
    assert!(host.status.success(), "{}", stderr(&host));
    assert!(
        stderr(&host).contains("Published ports are discarded when using host network mode"),
        "{}",
        stderr(&host)
    );
}

#[test]
fn dns_settings_extra_hosts_and_links() {
    let d = Daemon::start();
    d.make_busybox();
    let gateway = d.bip.split('/').next().unwrap().to_string();
    // Only written into the files: nothing is sent to these addresses.
    let files = ok(d.berth(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "db.local:10.9.9.9",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    ]));
    for want in [
        "nameserver 192.0.2.53\n",
        "search example.test\n",
        "options ndots:3\n",
        "10.9.9.9\tdb.local\n",
        &format!("{gateway}\tgw\n"),
    ] {
        assert!(files.contains(want), "{want:?} in {files}");
    }
    let bad = d.berth(&["run", "--rm", "--add-host", "nohost", "busybox", "true"]);
    assert!(stderr(&bad).contains("ExtraHosts"), "{}", stderr(&bad));
    // Legacy links: hosts entries and environment, to a running container only.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "pg",
        "--expose",
        "5432",
        "-e",
        "PGUSER=app",
        "busybox",
        "sleep",
        "1000",
    ]));
    let pg_ip = inspect(&d, "pg", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    let pg_id = inspect(&d, "pg", "{{.Id}}");
    let linked = ok(d.berth(&[
        "run",
        "--rm",
        "--name",
        "app",
        "--link",
        "pg:database",
        "busybox",
        "sh",
        "-c",
        "env | sort; cat /etc/hosts; ping -c 1 -W 2 database >/dev/null && echo reached",
    ]));
    for want in [
        format!("DATABASE_PORT_5432_TCP_ADDR={pg_ip}\n"),
        "DATABASE_ENV_PGUSER=app\n".to_string(),
        "DATABASE_NAME=/app/database\n".to_string(),
        format!("{pg_ip}\tdatabase {} pg\n", &pg_id[..12]),
        "reached".to_string(),
    ] {
        assert!(linked.contains(&want), "{want:?} in {linked}");
    }
    ok(d.berth(&["stop", "-t", "1", "pg"]));
    let gone = d.berth(&["run", "--rm", "--link", "pg:database", "busybox", "true"]);
    assert!(
        stderr(&gone).contains("Cannot link to a non running container"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn connect_and_disconnect() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&["network", "create", "--subnet", &d.user_subnet(2), "side"]));
    ok(d.docker(&["run", "-d", "--name", "c1", "busybox", "sleep", "1000"]));
    ok(d.docker(&["network", "connect", "--alias", "cache", "side", "c1"]));
    let side_ip = ok(d.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.side.IPAddress}}",
        "c1",
    ]));
    let addrs = ok(d.berth(&["exec", "c1", "ip", "-4", "-o", "addr"]));
    assert!(
        addrs.contains(&format!("eth1    inet {side_ip}/28")),
        "{addrs}"
    );
    // Seen by name from the other containers of that network.
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "side",
        "busybox",
        "sleep",
        "1000",
    ]));
    let found = ok(d.berth(&["exec", "c2", "nslookup", "cache"]));
    assert!(found.contains(&side_ip), "{found}");
    ok(d.berth(&["exec", "c2", "ping", "-c", "1", "-W", "2", &side_ip]));
    let twice = d.docker(&["network", "connect", "side", "c1"]);
    assert!(
        stderr(&twice).contains("already exists"),
        "{}",
        stderr(&twice)
    );
    let host = d.docker(&["network", "connect", "host", "c1"]);
    assert_ne!(code(&host), 0);
    // Disconnected: the interface, the veth and the name are gone.
    let endpoint = ok(d.docker(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.side.EndpointID}}",
        "c1",
    ]));
    ok(d.docker(&["network", "disconnect", "side", "c1"]));
    let addrs = ok(d.berth(&["exec", "c1", "ip", "-4", "-o", "addr"]));
    assert!(!addrs.contains("eth1"), "{addrs}");
    assert!(!link_exists(&format!("veth{}", &endpoint[..8])));
    let lost = d.berth(&["exec", "c2", "nslookup", "cache"]);
    assert!(!stdout(&lost).contains(&side_ip), "{}", stdout(&lost));
    // A created container joins at its start.
    ok(d.docker(&["create", "--name", "c3", "busybox", "sleep", "1000"]));
    ok(d.docker(&["network", "connect", "side", "c3"]));
    ok(d.docker(&["start", "c3"]));
    let nets = ok(d.docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
        "c3",
    ]));
    assert!(
        nets.contains("bridge=10.") && nets.contains("side=10."),
        "{nets}"
    );
    // Settings berth would drop are refused by name: a second network at create, and
    // IPAM options.
    let (status, body) = d.post_json(
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"NetworkMode":"side"},"NetworkingConfig":{"EndpointsConfig":{"side":{},"bridge":{}}}}"#,
    );
    assert!(
        status == 400 && body.contains("EndpointsConfig.bridge"),
        "{status} {body}"
    );
    let (status, body) = d.post_json(
        "/networks/create",
        r#"{"Name":"withopts","IPAM":{"Driver":"default","Options":{"x":"1"}}}"#,
    );
    assert!(
        status == 400 && body.contains("IPAM.Options"),
        "{status} {body}"
    );
    ok(d.docker(&["rm", "-f", "c1", "c2", "c3"]));
    ok(d.docker(&["network", "rm", "side"]));
}

/// The same objects through berth's own CLI.
#[test]
fn berth_network_and_volume_commands() {
    let d = Daemon::start();
    d.make_busybox();
    let id = ok(d.berth(&[
        "network",
        "create",
        "--subnet",
        &d.user_subnet(5),
        "--label",
        "k=v",
        "own",
    ]));
    assert_eq!(id.len(), 64, "{id}");
    let ls = ok(d.berth(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]));
    assert!(ls.lines().any(|l| l == "own bridge"), "{ls}");
    assert_eq!(
        ok(d.berth(&["network", "inspect", "-f", "{{.Name}} {{.Labels}}", "own"])),
        "own map[k:v]"
    );
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        "own",
        "busybox",
        "sleep",
        "1000",
    ]));
    ok(d.berth(&["network", "disconnect", "own", "member"]));
    ok(d.berth(&["network", "connect", "--alias", "again", "own", "member"]));
    assert!(inspect(&d, "member", "{{.NetworkSettings.Networks.own.Aliases}}").contains("again"));
    let busy = d.berth(&["network", "rm", "own"]);
    assert_ne!(code(&busy), 0);
    ok(d.berth(&["rm", "-f", "member"]));
    assert_eq!(ok(d.berth(&["network", "rm", "own"])), "own");
    ok(d.berth(&["volume", "create", "--label", "a=b", "keep"]));
    assert!(ok(d.berth(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "keep"));
    assert_eq!(
        ok(d.berth(&["volume", "inspect", "-f", "{{.Labels}}", "keep"])),
        "map[a:b]"
    );
    ok(d.berth(&["volume", "prune", "-f", "--all"]));
    assert_eq!(ok(d.berth(&["volume", "ls", "-q"])), "");
}

/// `--network container:` shares another container's network namespace and its hosts
/// and resolver files; `--mac-address` sets the interface's address.
#[test]
fn container_network_mode_and_mac_address() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--hostname",
        "donorhost",
        "--mac-address",
        "92:d0:c6:0a:29:33",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "127.0.0.1:8081",
        "-h",
        "/etc",
    ]));
    assert_eq!(
        inspect(
            &d,
            "donor",
            "{{.NetworkSettings.Networks.bridge.MacAddress}}"
        ),
        "92:d0:c6:0a:29:33"
    );
    let link = ok(d.berth(&["exec", "donor", "cat", "/sys/class/net/eth0/address"]));
    assert_eq!(link, "92:d0:c6:0a:29:33");
    // The joiner reaches the donor's loopback-only server: one network namespace.
    let page = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "wget -qO- http://127.0.0.1:8081/hostname; hostname; cat /sys/class/net/eth0/address",
    ]));
    assert_eq!(
        page.lines().collect::<Vec<_>>(),
        ["donorhost", "donorhost", "92:d0:c6:0a:29:33"],
        "{page}"
    );
    // What belongs to the donor's network is refused, as dockerd refuses it.
    for (flag, value) in [
        ("--hostname", "x1"),
        ("--dns", "10.0.0.2"),
        ("--add-host", "a:10.0.0.3"),
        ("--publish", "8082:80"),
        ("--mac-address", "92:d0:c6:0a:29:34"),
    ] {
        let out = d.docker(&[
            "run",
            "--rm",
            "--network",
            "container:donor",
            flag,
            value,
            "busybox",
            "true",
        ]);
        assert!(
            stderr(&out).contains("onflicting options"),
            "{flag}: {}",
            stderr(&out)
        );
    }
    // A donor that does not run, or does not exist, fails the start.
    ok(d.docker(&["create", "--name", "idle", "busybox", "true"]));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:idle",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("non running container"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
    // The MAC survives a stop and start; a bad one is refused by name.
    ok(d.docker(&["restart", "-t", "1", "donor"]));
    assert_eq!(
        inspect(
            &d,
            "donor",
            "{{.NetworkSettings.Networks.bridge.MacAddress}}"
        ),
        "92:d0:c6:0a:29:33"
    );
    let bad = d.docker(&[
        "run",
        "--rm",
        "--mac-address",
        "01:00:5e:00:00:01",
        "busybox",
        "true",
    ]);
    assert!(stderr(&bad).contains("multicast"), "{}", stderr(&bad));
    ok(d.docker(&["rm", "-f", "donor", "idle"]));
}

/// An IPv6 user network: addresses from its pool (or asked for with --ip6), the default
/// route, names answered with AAAA records, traffic between containers over IPv6.
#[test]
fn ipv6_networks() {
    let d = Daemon::start();
    d.make_busybox();
    let subnet6 = format!(
        "fd42:{:x}:{:x}::/64",
        std::process::id() % 0xffff,
        d.pid() % 0xffff
    );
    let prefix6 = subnet6.trim_end_matches("::/64").to_string();
    ok(d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &d.user_subnet(5),
        "--subnet",
        &subnet6,
        "six",
    ]));
    let enabled = ok(d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}",
        "six",
    ]));
    assert!(
        enabled.starts_with(&format!("true {}=", d.user_subnet(5)))
            && enabled.ends_with(&format!(" {subnet6}={prefix6}::1")),
        "{enabled}"
    );
    ok(d.docker(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "six",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/etc",
    ]));
    let web6 = inspect(
        &d,
        "web6",
        "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}",
    );
    assert_eq!(web6, format!("{prefix6}::2"));
    assert_eq!(
        inspect(&d, "web6", "{{.NetworkSettings.Networks.six.IPv6Gateway}}"),
        format!("{prefix6}::1")
    );
    // Another container, at the address it asks for, reaches it by name over IPv6.
    let asked = format!("{prefix6}::99");
    let out = ok(d.docker(&[
        "run",
        "--rm",
        "--network",
        "six",
        "--ip6",
        &asked,
        "busybox",
        "sh",
        "-c",
        "ip -6 addr show eth0 scope global; ip -6 route show default; nslookup -type=AAAA web6 127.0.0.11; wget -qO- \"http://[$(nslookup -type=AAAA web6 127.0.0.11 | awk '/^Address: .*:/ {print $2}')]:8080/hostname\"; grep web6 /etc/hosts || true",
    ]));
    assert!(out.contains(&format!("inet6 {asked}/64")), "{out}");
    assert!(out.contains(&format!("default via {prefix6}::1")), "{out}");
    assert!(out.contains(&format!("Address: {web6}")), "{out}");
    let hostname = inspect(&d, "web6", "{{.Config.Hostname}}");
    assert!(out.contains(&hostname), "the page over IPv6: {out}");
    let members = ok(d.docker(&[
        "network",
        "inspect",
        "six",
        "-f",
        "{{range .Containers}}{{.IPv6Address}}{{end}}",
    ]));
    assert_eq!(members, format!("{web6}/64"));
    // The host reaches it through the bridge, as over IPv4.
    let via_host = std::process::Command::new("busybox")
        .args(["wget", "-qO-", &format!("http://[{web6}]:8080/hostname")])
        .output()
        .unwrap();
    assert_eq!(stdout(&via_host).trim(), hostname);
    // Refused: an IPv6 address on a network without IPv6, one outside the subnet, an
    // IPv6 pool without --ipv6.
    let no6 = d.docker(&["run", "--rm", "--ip6", &asked, "busybox", "true"]);
    assert_ne!(code(&no6), 0);
    let outside = d.docker(&[
        "run",
        "--rm",
        "--network",
        "six",
        "--ip6",
        "fd99::5",
        "busybox",
        "true",
    ]);
    assert!(stderr(&outside).contains("fd99::5"), "{}", stderr(&outside));
    let (status, body) = d.post_json(
        "/networks/create",
        r#"{"Name":"half","IPAM":{"Config":[{"Subnet":"fd98::/64"}]}}"#,
    );
    assert!(
        status == 400 && body.contains("EnableIPv6"),
        "{status} {body}"
    );
    // --ipv6 without a subnet: a ULA /64 of its own.
    ok(d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &d.user_subnet(6),
        "auto6",
    ]));
    let auto = ok(d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        "auto6",
    ]));
    assert!(
        auto.contains(" fd") && auto.trim_end().ends_with("::/64"),
        "{auto}"
    );
    ok(d.docker(&["rm", "-f", "web6"]));
    ok(d.docker(&["network", "rm", "six", "auto6"]));
}

#[test]
fn the_highest_gw_priority_gives_the_default_route() {
    let d = Daemon::start();
    d.make_busybox();
    let (a, b) = (d.user_subnet(5), d.user_subnet(6));
    ok(d.docker(&["network", "create", "--subnet", &a, "gwa"]));
    ok(d.docker(&["network", "create", "--subnet", &b, "gwb"]));
    let gateway = |subnet: &str| {
        let base = subnet.split('/').next().unwrap_or("");
        let (head, last) = base.rsplit_once('.').unwrap_or(("", "0"));
        format!("{head}.{}", last.parse::<u32>().unwrap_or(0) + 1)
    };
    // Equal priorities: the network whose name sorts first; a higher one wins.
    for (priority, via) in [(None, gateway(&a)), (Some("10"), gateway(&b))] {
        ok(d.docker(&[
            "create",
            "--name",
            "gw",
            "--pull",
            "never",
            "--network",
            "gwa",
            "busybox",
            "ip",
            "route",
        ]));
        let mut connect = vec!["network", "connect"];
        if let Some(p) = priority {
            connect.extend(["--gw-priority", p]);
        }
        connect.extend(["gwb", "gw"]);
        ok(d.docker(&connect));
        let routes = ok(d.docker(&["start", "-a", "gw"]));
        assert!(
            routes.starts_with(&format!("default via {via} ")),
            "{priority:?}: {routes}"
        );
        assert_eq!(
            ok(d.docker(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.gwb.GwPriority}}",
                "gw"
            ])),
            priority.unwrap_or("0")
        );
        ok(d.docker(&["rm", "gw"]));
    }
    ok(d.docker(&["network", "rm", "gwa", "gwb"]));
}

#[test]
fn endpoint_sysctls_are_set_on_the_containers_interface_only() {
    let d = Daemon::start();
    d.make_busybox();
    let opt = "name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.log_martians=1";
    let inside = ok(d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        opt,
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/conf/eth0/log_martians",
    ]));
    assert_eq!(inside, "1");
    let plain = ok(d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/conf/eth0/log_martians",
    ]));
    assert_eq!(plain, "0");
    // Only per-interface net sysctls; other driver options are refused by name.
    let global = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "name=bridge,driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.ip_forward=1",
        "busybox",
        "true",
    ]);
    assert!(stderr(&global).contains("IFNAME"), "{}", stderr(&global));
    let other = d.docker(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "name=bridge,driver-opt=foo=bar",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&other).contains("DriverOpts.foo"),
        "{}",
        stderr(&other)
    );
}
