//! berth as a Kubernetes node runtime: crictl (built by scripts/build-peers.sh) drives
//! `berth daemon --cri` end to end. Pods get their network from Debian's CNI plugins on a
//! bridge of the test's own (no gateway, no masquerading, no forwarding), and nothing
//! goes anywhere but that bridge and loopback.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static NODES: AtomicU32 = AtomicU32::new(0);

const CNI_BIN: &str = "/usr/lib/cni";

fn crictl_path() -> Option<PathBuf> {
    let p = std::env::var_os("CRICTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/crictl"));
    p.is_file().then_some(p)
}

/// A daemon serving CRI, with a CNI network of its own; its pods and bridge go with it.
struct Node {
    crictl: PathBuf,
    socket: PathBuf,
    cni_bridge: String,
    subnet_prefix: String,
    d: Daemon,
}

impl Node {
    fn start() -> Option<Self> {
        Self::start_with(vec![])
    }

    /// A node whose daemon gets `extra` arguments too.
    fn start_with(extra: Vec<String>) -> Option<Self> {
        let Some(crictl) = crictl_path() else {
            eprintln!("skipping: crictl is not built (scripts/build-peers.sh)");
            return None;
        };
        if !Path::new(CNI_BIN).join("bridge").exists() {
            eprintln!("skipping: the CNI plugins are not installed (containernetworking-plugins)");
            return None;
        }
        let n = NODES.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tag = format!("bcri{pid}-{n}");
        let conf_dir = PathBuf::from("/tmp").join(&tag);
        let _ = std::fs::remove_dir_all(&conf_dir);
        std::fs::create_dir_all(&conf_dir).unwrap();
        // Addresses no other test uses: 10.200-249.<n>.0/24.
        let subnet_prefix = format!("10.{}.{}", 200 + pid % 50, n % 256);
        let cni_bridge = format!("bc{}x{n}", pid % 10_000_000);
        let conf = json!({
            "cniVersion": "1.0.0",
            "name": "berth-test-pods",
            "plugins": [{
                "type": "bridge",
                "bridge": cni_bridge,
                // No gateway: the plugin would turn on forwarding for one.
                "isGateway": false,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]],
                    "dataDir": conf_dir.join("ipam"),
                },
            }],
        });
        std::fs::write(conf_dir.join("10-pods.conflist"), conf.to_string()).unwrap();
        let socket = conf_dir.join("cri.sock");
        let d = Daemon::start_with(DaemonOptions {
            extra_args: vec![
                "--cri".into(),
                "--cri-socket".into(),
                socket.display().to_string(),
                "--cni-conf-dir".into(),
                conf_dir.display().to_string(),
                "--cni-bin-dir".into(),
                CNI_BIN.into(),
            ]
            .into_iter()
            .chain(
                extra
                    .iter()
                    .map(|a| a.replace("{dir}", &conf_dir.display().to_string())),
            )
            .collect(),
            ..Default::default()
        });
        let node = Node {
            crictl,
            socket,
            cni_bridge,
            subnet_prefix,
            d,
        };
        wait_until("the CRI socket", Duration::from_secs(10), || {
            node.socket.exists()
        });
        Some(node)
    }

    fn dir(&self) -> PathBuf {
        self.socket.parent().unwrap().to_path_buf()
    }

    /// crictl, pointed at this node.
    fn crictl_command(&self, args: &[&str]) -> Command {
        let endpoint = format!("unix://{}", self.socket.display());
        let mut c = Command::new(&self.crictl);
        c.args([
            "--config",
            "/dev/null",
            "-t",
            "60s",
            "-r",
            &endpoint,
            "-i",
            &endpoint,
        ])
        .args(args);
        c
    }

    fn crictl(&self, args: &[&str]) -> Output {
        self.crictl_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("crictl")
    }

    /// crictl with `input` on its stdin; a crictl still running after 30 s is killed and
    /// fails the test.
    fn crictl_fed(&self, args: &[&str], input: &str) -> Output {
        use std::io::{Read, Write};
        let mut child = self
            .crictl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crictl");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
        let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("crictl {args:?} did not end in 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.crictl(args);
        assert!(
            o.status.success(),
            "crictl {args:?} failed: {}\n{}",
            stderr(&o),
            self.d.log()
        );
        stdout(&o).trim().to_string()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("crictl JSON")
    }

    /// Writes a config file for crictl and gives its path.
    fn file(&self, name: &str, v: &Value) -> String {
        let p = self.dir().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.display().to_string()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Pods first (their namespaces, networks and PID inits), then the daemon goes.
        let _ = self.crictl(&["rmp", "-af"]);
        let _ = Command::new("ip")
            .args(["link", "del", &self.cni_bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(self.dir());
    }
}

fn pod_config(node: &Node, name: &str, extra: Value) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "berth-test", "uid": format!("uid-{name}"), "attempt": 0},
        "hostname": format!("{name}-host"),
        "log_directory": node.dir().join("logs").join(name),
        "labels": {"app": name},
        "annotations": {"note": "made by the cri test"},
        "dns_config": {"servers": ["10.0.0.10"], "searches": ["svc.berth.test"], "options": ["ndots:2"]},
        // As the kubelet sends it for a pod without shareProcessNamespace.
        "linux": {
            "sysctls": {"net.ipv4.ip_unprivileged_port_start": "81"},
            "security_context": {"namespace_options": {"pid": 1}},
        },
    });
    if let (Some(p), Some(e)) = (pod.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    pod
}

fn container_config(name: &str, image: &str, script: &str, extra: Value) -> Value {
    let mut c = json!({
        "metadata": {"name": name},
        "image": {"image": image},
        "command": ["/bin/sh", "-c", script],
        "log_path": format!("{name}.log"),
        "labels": {"io.kubernetes.container.name": name},
    });
    if let (Some(p), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    c
}

/// The test's busybox image, pushed to `registry` from the node's daemon: its reference.
fn busybox_in(node: &Node, registry: &Registry) -> String {
    node.d.make_busybox();
    let archive = node.dir().join("busybox.tar");
    ok(node
        .d
        .berth(&["save", "-o", archive.to_str().unwrap(), "busybox"]));
    registry.push_archive(&archive, "kube/busybox:1");
    format!("{}/kube/busybox:1", registry.addr)
}

fn exec(node: &Node, id: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", "-s", id];
    args.extend_from_slice(cmd);
    node.ok(&args)
}

/// `uid:gid` of a path in the container.
fn owner(node: &Node, id: &str, path: &str) -> String {
    exec(node, id, &["stat", "-c", "%u:%g", path])
}

fn mounts_under(dir: &Path) -> usize {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let d = dir.display().to_string();
    text.lines().filter(|l| l.contains(&d)).count()
}

fn process_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn crictl_runs_pods_and_containers_end_to_end() {
    let Some(mut node) = Node::start() else {
        return;
    };
    let Some(registry) = Registry::start() else {
        return;
    };
    // pull: from a registry on loopback, as a kubelet would.
    let image = busybox_in(&node, &registry);
    let pulled = node.ok(&["pull", &image]);
    assert!(pulled.contains("sha256:"), "{pulled}");
    let images = node.ok(&["images"]);
    assert!(
        images.contains(&format!("{}/kube/busybox", registry.addr)),
        "{images}"
    );
    let status = node.json(&["inspecti", "-o", "json", &image]);
    assert_eq!(status["status"]["repoTags"][0], image);

    // runp: a pod with its namespaces, network, DNS, hostname and a sysctl.
    let pod = pod_config(&node, "web", json!({}));
    let pod_file = node.file("pod.json", &pod);
    let pod_id = node.ok(&["runp", &pod_file]);
    let p = node.json(&["inspectp", "-o", "json", &pod_id]);
    assert_eq!(p["status"]["state"], "SANDBOX_READY");
    let ip = p["status"]["network"]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with(&node.subnet_prefix), "{ip}");
    // No pause process: a pod with a private PID mode per container costs no process.
    assert!(p["info"]["held"]["pid_init"].is_null(), "{p}");

    // create + start: the container joins the pod.
    let c = container_config(
        "app",
        &image,
        "echo to-out; echo to-err >&2; exec sleep 1000",
        json!({"envs": [{"key": "GREETING", "value": "hi"}]}),
    );
    let c_file = node.file("app.json", &c);
    let cid = node.ok(&["create", &pod_id, &c_file, &pod_file]);
    node.ok(&["start", &cid]);
    wait_until("the container to run", Duration::from_secs(10), || {
        node.json(&["inspect", "-o", "json", &cid])["status"]["state"] == "CONTAINER_RUNNING"
    });
    // exec: in the pod's namespaces.
    assert_eq!(exec(&node, &cid, &["hostname"]), "web-host");
    let resolv = exec(&node, &cid, &["cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains("nameserver 10.0.0.10") && resolv.contains("search svc.berth.test"),
        "{resolv}"
    );
    assert_eq!(
        exec(
            &node,
            &cid,
            &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]
        ),
        "81"
    );
    assert!(exec(&node, &cid, &["ip", "-4", "addr", "show", "eth0"]).contains(&ip));
    assert_eq!(exec(&node, &cid, &["sh", "-c", "echo $GREETING"]), "hi");
    let failed = node.crictl(&["exec", "-s", &cid, "sh", "-c", "exit 7"]);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("exited with 7"),
        "{}",
        stderr(&failed)
    );
    // A second container shares the network: it reaches the first over the pod's loopback.
    let c2 = container_config(
        "side",
        &image,
        "exec nc -l -p 8080 -e echo from-side",
        json!({}),
    );
    let c2_file = node.file("side.json", &c2);
    let cid2 = node.ok(&["create", &pod_id, &c2_file, &pod_file]);
    node.ok(&["start", &cid2]);
    wait_until(
        "the side container to listen",
        Duration::from_secs(10),
        || {
            node.crictl(&[
                "exec",
                "-s",
                &cid,
                "sh",
                "-c",
                "nc 127.0.0.1 8080 </dev/null",
            ])
            .status
            .success()
        },
    );

    // logs: the CRI format at the kubelet's path; crictl reads it.
    wait_until("the log", Duration::from_secs(10), || {
        stdout(&node.crictl(&["logs", &cid])).contains("to-out")
    });
    let logs = node.crictl(&["logs", &cid]);
    assert!(stderr(&logs).contains("to-err"), "{}", stderr(&logs));
    let log_file = node.dir().join("logs/web/app.log");
    let text = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        text.lines().any(|l| l.ends_with(" stdout F to-out")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.ends_with(" stderr F to-err")),
        "{text}"
    );

    // ps, stats and berth's own view of the same containers.
    let ps = node.json(&["ps", "-a", "-o", "json", "--pod", &pod_id]);
    assert_eq!(ps["containers"].as_array().unwrap().len(), 2, "{ps}");
    let stats = node.json(&["stats", "-o", "json", &cid]);
    let ws = stats["stats"][0]["memory"]["workingSetBytes"]["value"]
        .as_str()
        .unwrap_or("0")
        .parse::<u64>()
        .unwrap();
    assert!(ws > 0, "{stats}");
    let podstats = node.json(&["statsp", "-o", "json", &pod_id]);
    assert_eq!(
        podstats["stats"][0]["attributes"]["id"],
        pod_id.as_str(),
        "{podstats}"
    );
    let berth_ps = ok(node.d.berth(&[
        "ps",
        "--filter",
        "label=io.kubernetes.container.name=app",
        "--format",
        "{{.ID}} {{.Names}}",
    ]));
    assert!(
        berth_ps.contains(&cid[..12]) && berth_ps.contains("k8s_app_web_berth-test"),
        "{berth_ps}"
    );

    // A daemon restart kills nothing: the pod and its containers are still there.
    node.d.kill9();
    node.d.restart();
    wait_until("the CRI socket again", Duration::from_secs(10), || {
        node.crictl(&["version"]).status.success()
    });
    assert_eq!(
        node.json(&["inspectp", "-o", "json", &pod_id])["status"]["state"],
        "SANDBOX_READY"
    );
    assert_eq!(exec(&node, &cid, &["hostname"]), "web-host");

    // stop, rm, stopp, rmp: nothing of the pod is left.
    node.ok(&["stop", "-t", "2", &cid]);
    let st = node.json(&["inspect", "-o", "json", &cid]);
    assert_eq!(st["status"]["state"], "CONTAINER_EXITED");
    assert_eq!(st["status"]["reason"], "Error");
    node.ok(&["rm", &cid]);
    node.ok(&["stopp", &pod_id]);
    assert_eq!(
        node.json(&["inspectp", "-o", "json", &pod_id])["status"]["state"],
        "SANDBOX_NOTREADY"
    );
    node.ok(&["stopp", &pod_id]);
    node.ok(&["rmp", &pod_id]);
    assert!(node.ok(&["pods", "-q"]).is_empty());
    assert!(node.ok(&["ps", "-aq"]).is_empty());
    assert_eq!(mounts_under(&node.d.dir.join("run/cri")), 0);
    let leases: Vec<_> = std::fs::read_dir(node.dir().join("ipam/berth-test-pods"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !leases.iter().any(|n| n.to_string_lossy() == ip),
        "the pod's address is still leased: {leases:?}"
    );
    // rmi through CRI.
    node.ok(&["rmi", &image]);
    assert!(!node.ok(&["images"]).contains("kube/busybox"));
}

#[test]
fn pods_share_a_pid_namespace_with_an_init_of_their_own() {
    let Some(node) = Node::start() else { return };
    node.d.make_busybox();
    let pod = pod_config(
        &node,
        "shared",
        json!({"linux": {"security_context": {"namespace_options": {"pid": 0}}}}),
    );
    let pod_file = node.file("pod.json", &pod);
    let pod_id = node.ok(&["runp", &pod_file]);
    let p = node.json(&["inspectp", "-o", "json", &pod_id]);
    let init = p["info"]["held"]["pid_init"].as_i64().unwrap();
    assert!(process_alive(init));
    let a = node.file(
        "a.json",
        &container_config("a", "busybox", "exec sleep 1001", json!({})),
    );
    let b = node.file(
        "b.json",
        &container_config("b", "busybox", "exec sleep 1002", json!({})),
    );
    let ca = node.ok(&["create", &pod_id, &a, &pod_file]);
    let cb = node.ok(&["create", &pod_id, &b, &pod_file]);
    node.ok(&["start", &ca]);
    node.ok(&["start", &cb]);
    // Each sees the other's process, and PID 1 is the pod's init, not a container.
    wait_until(
        "both containers in one PID namespace",
        Duration::from_secs(10),
        || {
            let ps = stdout(&node.crictl(&["exec", "-s", &ca, "ps", "-o", "args"]));
            ps.contains("sleep 1001") && ps.contains("sleep 1002")
        },
    );
    let one = exec(&node, &cb, &["cat", "/proc/1/cmdline"]);
    assert!(one.contains("pod-init"), "{one}");
    // The first container's end does not end the pod's PID namespace.
    node.ok(&["stop", "-t", "1", &ca]);
    assert!(exec(&node, &cb, &["ps", "-o", "args"]).contains("sleep 1002"));
    node.ok(&["rm", "-f", &ca]);
    let c = node.file(
        "c.json",
        &container_config("c", "busybox", "exec sleep 1003", json!({})),
    );
    let cc = node.ok(&["create", &pod_id, &c, &pod_file]);
    node.ok(&["start", &cc]);
    assert!(exec(&node, &cc, &["ps", "-o", "args"]).contains("sleep 1002"));
    // Stopping the pod ends its init with everything in the namespace.
    node.ok(&["stopp", &pod_id]);
    wait_until("the pod's init to end", Duration::from_secs(10), || {
        !process_alive(init)
    });
    node.ok(&["rmp", &pod_id]);
    assert_eq!(mounts_under(&node.d.dir.join("run/cri")), 0);
}

#[test]
fn security_context_is_honoured_or_refused_by_name() {
    let Some(node) = Node::start() else { return };
    node.d.make_busybox();
    let pod_file = node.file("pod.json", &pod_config(&node, "sec", json!({})));
    let pod_id = node.ok(&["runp", &pod_file]);
    let run = |name: &str, script: &str, sc: Value| -> String {
        let f = node.file(
            &format!("{name}.json"),
            &container_config(
                name,
                "busybox",
                script,
                json!({"linux": {"security_context": sc}}),
            ),
        );
        let id = node.ok(&["create", &pod_id, &f, &pod_file]);
        node.ok(&["start", &id]);
        id
    };
    // run_as_user/group, supplemental groups, read-only rootfs, dropped capabilities,
    // no_new_privs, masked paths.
    let id = run(
        "limited",
        "exec sleep 1000",
        json!({
            "run_as_user": {"value": 1234}, "run_as_group": {"value": 2345},
            "supplemental_groups": [3456], "readonly_rootfs": true,
            "capabilities": {"drop_capabilities": ["ALL"]}, "no_new_privs": true,
            "masked_paths": ["/proc/kcore"], "readonly_paths": ["/proc/sys"],
        }),
    );
    assert_eq!(exec(&node, &id, &["id", "-u"]), "1234");
    assert_eq!(exec(&node, &id, &["id", "-g"]), "2345");
    assert!(exec(&node, &id, &["id", "-G"])
        .split_whitespace()
        .any(|g| g == "3456"));
    let status = exec(&node, &id, &["cat", "/proc/self/status"]);
    let field = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .map(|l| l[k.len()..].trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    let touch = node.crictl(&["exec", "-s", &id, "touch", "/x"]);
    assert!(!touch.status.success(), "the root is read-only");
    // Seccomp: RuntimeDefault refuses what Docker's profile refuses (a user namespace
    // without CAP_SYS_ADMIN); Unconfined does not.
    let confined = run(
        "confined",
        "exec sleep 1000",
        json!({"seccomp": {"profile_type": 0}}),
    );
    let unshare = node.crictl(&["exec", "-s", &confined, "unshare", "-U", "true"]);
    assert!(
        !unshare.status.success(),
        "RuntimeDefault allowed unshare(CLONE_NEWUSER)"
    );
    let unconfined = run(
        "unconfined",
        "exec sleep 1000",
        json!({"seccomp": {"profile_type": 1}}),
    );
    exec(&node, &unconfined, &["unshare", "-U", "true"]);
    // Localhost: a profile file of the node's that refuses mkdir.
    let profile = node.dir().join("no-mkdir.json");
    std::fs::write(
        &profile,
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}).to_string(),
    )
    .unwrap();
    let local = run(
        "local",
        "exec sleep 1000",
        json!({"seccomp": {"profile_type": 2, "localhost_ref": profile}}),
    );
    let mk = node.crictl(&["exec", "-s", &local, "mkdir", "/tmp/d"]);
    assert!(
        !mk.status.success(),
        "the Localhost profile was not applied"
    );
    // Privileged: all capabilities and the host's devices.
    let privileged = run("privileged", "exec sleep 1000", json!({"privileged": true}));
    let st = exec(&node, &privileged, &["cat", "/proc/self/status"]);
    assert!(!st.contains("CapEff:\t0000000000000000"), "{st}");
    // What berth does not do is refused with the field's name.
    for (name, sc, field) in [
        (
            "aa",
            json!({"apparmor": {"profile_type": 2, "localhost_ref": "x"}}),
            "apparmor",
        ),
        (
            "se",
            json!({"selinux_options": {"type": "spc_t"}}),
            "selinux_options",
        ),
        (
            "amb",
            json!({"capabilities": {"add_ambient_capabilities": ["NET_RAW"]}}),
            "add_ambient_capabilities",
        ),
    ] {
        let f = node.file(
            &format!("{name}.json"),
            &container_config(
                name,
                "busybox",
                "true",
                json!({"linux": {"security_context": sc}}),
            ),
        );
        let o = node.crictl(&["create", &pod_id, &f, &pod_file]);
        assert!(!o.status.success(), "{name} was accepted");
        assert!(stderr(&o).contains(field), "{name}: {}", stderr(&o));
    }
    // A sysctl that is not the pod's to set is refused, and nothing is left of the pod.
    let bad = pod_config(
        &node,
        "badsysctl",
        json!({"linux": {"sysctls": {"kernel.panic": "1"}}}),
    );
    let o = node.crictl(&["runp", &node.file("bad.json", &bad)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("kernel.panic"), "{}", stderr(&o));
    assert_eq!(node.ok(&["pods", "-q"]).lines().count(), 1);
}

#[test]
fn container_logs_are_reopened_after_the_kubelet_rotates_them() {
    let Some(node) = Node::start() else { return };
    node.d.make_busybox();
    let pod_file = node.file("pod.json", &pod_config(&node, "logs", json!({})));
    let pod_id = node.ok(&["runp", &pod_file]);
    let f = node.file(
        "ticker.json",
        &container_config(
            "ticker",
            "busybox",
            "i=0; while true; do i=$((i+1)); echo line-$i; sleep 0.1; done",
            json!({}),
        ),
    );
    let id = node.ok(&["create", &pod_id, &f, &pod_file]);
    node.ok(&["start", &id]);
    let log = node.dir().join("logs/logs/ticker.log");
    wait_until("a few lines", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("line-3"))
    });
    // The kubelet's rotation: rename, then ReopenContainerLog (crictl logs --reopen).
    let rotated = node.dir().join("logs/logs/ticker.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    node.ok(&["logs", "--reopen", &id]);
    wait_until("lines in the new file", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() >= 2)
    });
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&log).unwrap();
    let last_old: u32 = old
        .lines()
        .last()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let first_new: u32 = new
        .lines()
        .next()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        first_new > last_old,
        "old ends at {last_old}, new starts at {first_new}"
    );
    // berth logs reads the CRI format too.
    let berth_logs = node.d.berth(&["logs", "--tail", "1", &id]);
    assert!(
        stdout(&berth_logs).starts_with("line-"),
        "{}",
        stdout(&berth_logs)
    );
}

/// A host-side `Uid:` or `Gid:` line of /proc/PID/status: real, effective, saved, fs.
fn host_ids(pid: i64, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pods_in_a_user_namespace_are_root_inside_and_nobody_on_the_host() {
    let Some(node) = Node::start() else { return };
    if !berth_runtime::userns::supported() {
        eprintln!("skipping: this kernel cannot ID-map overlay layers");
        return;
    }
    node.d.make_busybox();
    // A range no other test uses, far from any real user.
    let base: u32 = 3_000_000 + (std::process::id() % 100) * 65_536;
    let range = json!([{"container_id": 0, "host_id": base, "length": 65536}]);
    let userns = json!({"mode": 0, "uids": range, "gids": range});
    // A file of the host's root that the pod sees through a hostPath volume.
    let host_dir = node.dir().join("host-files");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("owned-by-host-root"), "host\n").unwrap();
    // A volume the kubelet asks to be ID-mapped with the pod's ranges.
    let mapped_dir = node.dir().join("mapped-volume");
    std::fs::create_dir_all(&mapped_dir).unwrap();
    std::fs::write(mapped_dir.join("config"), "v1\n").unwrap();
    let pod = pod_config(
        &node,
        "userns",
        json!({"linux": {
            "sysctls": {"net.ipv4.ip_unprivileged_port_start": "81"},
            // A PID namespace shared by the pod: its init is made in the user namespace.
            "security_context": {"namespace_options": {"pid": 0, "userns_options": userns}},
        }}),
    );
    let pod_file = node.file("pod.json", &pod);
    let pod_id = node.ok(&["runp", &pod_file]);
    let c = node.file(
        "c.json",
        &container_config(
            "c",
            "busybox",
            "echo started; exec sleep 1000",
            json!({
                "linux": {"security_context": {"namespace_options": {"pid": 0, "userns_options": userns}}},
                "mounts": [
                    {"container_path": "/host", "host_path": host_dir},
                    {"container_path": "/mapped", "host_path": mapped_dir,
                     "uidMappings": range, "gidMappings": range},
                ],
            }),
        ),
    );
    let id = node.ok(&["create", &pod_id, &c, &pod_file]);
    node.ok(&["start", &id]);
    // Inside: root, with the pod's range as its map.
    assert_eq!(exec(&node, &id, &["id", "-u"]), "0");
    let map = exec(&node, &id, &["cat", "/proc/self/uid_map"]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", &base.to_string(), "65536"]
    );
    // On the host: the container's process is the range's first id, not root.
    let info = node.json(&["inspect", "-o", "json", &id]);
    let pid = info["info"]["pid"].as_i64().expect("the container's pid");
    assert_eq!(host_ids(pid, "Uid:"), vec![base; 4]);
    assert_eq!(host_ids(pid, "Gid:"), vec![base; 4]);
    // The image's files are root's inside (its layers are ID-mapped), and root may
    // write and chown them, in the container's own layer.
    assert_eq!(owner(&node, &id, "/bin/busybox"), "0:0");
    exec(
        &node,
        &id,
        &[
            "sh",
            "-c",
            "echo x > /etc/made && chown 5:6 /etc/made && rm /bin/true",
        ],
    );
    assert_eq!(owner(&node, &id, "/etc/made"), "5:6");
    // The kernel's filesystems work there: its network (sysfs), cgroups, devices.
    assert!(exec(&node, &id, &["ls", "/sys/class/net"]).contains("eth0"));
    assert!(!exec(&node, &id, &["ls", "/sys/fs/cgroup"]).is_empty());
    exec(
        &node,
        &id,
        &[
            "sh",
            "-c",
            "echo x > /dev/null && head -c1 /dev/zero >/dev/null",
        ],
    );
    assert_eq!(exec(&node, &id, &["hostname"]), "userns-host");
    assert_eq!(
        exec(
            &node,
            &id,
            &["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]
        ),
        "81"
    );
    // The attack: root in the pod tries to change a file of the host's root through a
    // volume. It shows as nobody's, and the write is refused.
    assert_eq!(
        exec(
            &node,
            &id,
            &["stat", "-c", "%u", "/host/owned-by-host-root"]
        ),
        "65534"
    );
    let write = node.crictl(&[
        "exec",
        "-s",
        &id,
        "sh",
        "-c",
        "echo pwned >> /host/owned-by-host-root",
    ]);
    assert!(!write.status.success(), "root in the pod wrote a host file");
    let chown = node.crictl(&["exec", "-s", &id, "chown", "0", "/host/owned-by-host-root"]);
    assert!(
        !chown.status.success(),
        "root in the pod chowned a host file"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("owned-by-host-root")).unwrap(),
        "host\n"
    );
    // Nor can it load a kernel module or reach the host's network stack's settings.
    let sysctl = node.crictl(&[
        "exec",
        "-s",
        &id,
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/panic",
    ]);
    assert!(
        !sysctl.status.success(),
        "root in the pod set a host sysctl"
    );
    // Through the ID-mapped volume the host's root is the pod's root: it reads and
    // writes as the owner, and what it makes is the host root's on the host.
    assert_eq!(owner(&node, &id, "/mapped/config"), "0:0");
    exec(
        &node,
        &id,
        &[
            "sh",
            "-c",
            "echo v2 > /mapped/config && echo new > /mapped/made",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(mapped_dir.join("config")).unwrap(),
        "v2\n"
    );
    let made = std::fs::metadata(mapped_dir.join("made")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&made),
            std::os::unix::fs::MetadataExt::gid(&made)
        ),
        (0, 0)
    );
    // A second container joins the same user namespace (and PID namespace).
    let d = node.file(
        "d.json",
        &container_config(
            "d",
            "busybox",
            "exec sleep 1001",
            json!({"linux": {"security_context": {"namespace_options": {"pid": 0, "userns_options": userns}}}}),
        ),
    );
    let id2 = node.ok(&["create", &pod_id, &d, &pod_file]);
    node.ok(&["start", &id2]);
    assert!(exec(&node, &id2, &["ps", "-o", "args"]).contains("sleep 1000"));
    assert_eq!(
        exec(&node, &id2, &["readlink", "/proc/self/ns/user"]),
        exec(&node, &id, &["readlink", "/proc/self/ns/user"])
    );
    assert!(node.ok(&["logs", &id]).contains("started"));
    // What the pod may not ask for is refused by name.
    let refused = |name: &str, extra: Value, field: &str| {
        let f = node.file(
            &format!("{name}.json"),
            &container_config(name, "busybox", "true", extra),
        );
        let o = node.crictl(&["create", &pod_id, &f, &pod_file]);
        assert!(!o.status.success(), "{name} was accepted");
        assert!(stderr(&o).contains(field), "{}", stderr(&o));
    };
    let other = json!([{"container_id": 0, "host_id": base + 65536, "length": 65536}]);
    refused(
        "othermap",
        json!({"mounts": [{"container_path": "/m", "host_path": mapped_dir,
                           "uidMappings": other, "gidMappings": other}]}),
        "mounts[0].uid_mappings",
    );
    refused(
        "imagevol",
        json!({"mounts": [{"container_path": "/img", "image": {"image": "busybox"}, "readonly": true}]}),
        "mounts[0].image",
    );
    refused(
        "priv",
        json!({"linux": {"security_context": {"privileged": true}}}),
        "privileged",
    );
    refused(
        "hostusers",
        json!({"linux": {"security_context": {"namespace_options": {"userns_options": {"mode": 2}}}}}),
        "userns_options",
    );
    node.ok(&["stopp", &pod_id]);
    node.ok(&["rmp", &pod_id]);
    assert_eq!(mounts_under(&node.d.dir.join("run/cri")), 0);
    // A pod may not map the host's root, nor use the host's network with its own users.
    let bad = json!([{"container_id": 0, "host_id": 0, "length": 65536}]);
    let p = node.file(
        "bad.json",
        &pod_config(
            &node,
            "bad",
            json!({"linux": {"security_context": {"namespace_options": {"userns_options": {"mode": 0, "uids": bad, "gids": bad}}}}}),
        ),
    );
    let o = node.crictl(&["runp", &p]);
    assert!(
        !o.status.success() && stderr(&o).contains("host's id 0"),
        "{}",
        stderr(&o)
    );
}

/// A test NRI plugin over berth's own mux and ttrpc (critest's NRI specs drive berth with
/// NRI's real Go stub; this one checks that adjustments reach the container). It
/// registers as 05-berth-test and answers CreateContainer by the container's name.
mod nri_plugin {
    use berth_cri::nri::{api, mux, ttrpc};
    use prost::Message;
    use std::sync::{Arc, Mutex};

    const RUNTIME: &str = "nri.pkg.api.v1alpha1.Runtime";

    #[derive(Default)]
    pub struct Seen {
        pub synced_pods: Vec<String>,
        pub created: Vec<String>,
    }

    fn create_answer(
        req: &api::CreateContainerRequest,
        dir: &str,
    ) -> Result<Vec<u8>, ttrpc::Status> {
        let name = req
            .container
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let adjust = match name.as_str() {
            "adjusted" => api::ContainerAdjustment {
                env: vec![
                    api::KeyValue {
                        key: "FROM_PLUGIN".into(),
                        value: "yes".into(),
                    },
                    api::KeyValue {
                        key: "-DROPPED".into(),
                        value: String::new(),
                    },
                ],
                annotations: [("plugin.berth.test/seen".to_string(), "1".to_string())].into(),
                mounts: vec![api::Mount {
                    destination: "/injected".into(),
                    r#type: "bind".into(),
                    source: format!("{dir}/injected"),
                    options: vec!["rbind".into(), "ro".into()],
                }],
                linux: Some(api::LinuxContainerAdjustment {
                    oom_score_adj: Some(api::OptionalInt { value: 321 }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "rlimited" => api::ContainerAdjustment {
                rlimits: vec![api::PosixRlimit {
                    r#type: "RLIMIT_NOFILE".into(),
                    hard: 64,
                    soft: 64,
                }],
                ..Default::default()
            },
            "vetoed" => {
                return Err(ttrpc::Status {
                    code: 2,
                    message: "vetoed by the test plugin".into(),
                })
            }
            _ => api::ContainerAdjustment::default(),
        };
        Ok(api::CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        }
        .encode_to_vec())
    }

    /// Connects to `socket` and serves until the test ends; returns what it saw.
    pub fn start(socket: std::path::PathBuf, dir: String) -> Arc<Mutex<Seen>> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let out = seen.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
                let (plugin_conn, runtime_conn) = mux::split(stream);
                let (read, write) = tokio::io::split(runtime_conn);
                let runtime = ttrpc::Client::new(read, write, || {});
                let seen2 = seen.clone();
                let ready = Mutex::new(Some(ready_tx));
                tokio::spawn(ttrpc::serve(plugin_conn, move |_service, method, body| {
                    let seen = seen2.clone();
                    let answer = match method.as_str() {
                        "Configure" => {
                            let events = 1 << (api::Event::CreateContainer as i32 - 1);
                            Ok(api::ConfigureResponse { events }.encode_to_vec())
                        }
                        "Synchronize" => {
                            let req = api::SynchronizeRequest::decode(body.as_slice()).unwrap();
                            seen.lock().unwrap().synced_pods =
                                req.pods.iter().map(|p| p.id.clone()).collect();
                            if let Some(tx) = ready.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                            Ok(api::SynchronizeResponse::default().encode_to_vec())
                        }
                        "CreateContainer" => {
                            let req = api::CreateContainerRequest::decode(body.as_slice()).unwrap();
                            if let Some(c) = &req.container {
                                seen.lock().unwrap().created.push(c.name.clone());
                            }
                            create_answer(&req, &dir)
                        }
                        _ => Ok(api::Empty {}.encode_to_vec()),
                    };
                    async move { answer }
                }));
                let reg = api::RegisterPluginRequest {
                    plugin_name: "berth-test".into(),
                    plugin_idx: "05".into(),
                    nri_version: "v0.12.2".into(),
                };
                let _: api::Empty = runtime
                    .call(
                        RUNTIME,
                        "RegisterPlugin",
                        &reg,
                        std::time::Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
                std::future::pending::<()>().await;
            });
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the plugin was synchronized");
        out
    }
}

#[test]
fn nri_plugins_see_pods_adjust_containers_and_can_veto_them() {
    let Some(node) = Node::start_with(vec!["--nri-socket".into(), "{dir}/nri.sock".into()]) else {
        return;
    };
    node.d.make_busybox();
    let socket = node.dir().join("nri.sock");
    wait_until("the NRI socket", Duration::from_secs(10), || {
        socket.exists()
    });
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only root may connect plugins");
    // A pod made before the plugin connects is in its synchronization.
    let pod_file = node.file("pod.json", &pod_config(&node, "nri", json!({})));
    let pod_id = node.ok(&["runp", &pod_file]);
    let injected = node.dir().join("injected");
    std::fs::create_dir_all(&injected).unwrap();
    std::fs::write(injected.join("note"), "from the host\n").unwrap();
    let seen = nri_plugin::start(socket, node.dir().display().to_string());
    assert!(seen.lock().unwrap().synced_pods.contains(&pod_id));
    let create = |name: &str| {
        let f = node.file(
            &format!("{name}.json"),
            &container_config(
                name,
                "busybox",
                "exec sleep 1000",
                json!({"envs": [{"key": "DROPPED", "value": "1"}, {"key": "KEPT", "value": "1"}]}),
            ),
        );
        node.crictl(&["create", &pod_id, &f, &pod_file])
    };
    // The plugin's adjustments are the container's.
    let o = create("adjusted");
    assert!(o.status.success(), "{}\n{}", stderr(&o), node.d.log());
    let id = stdout(&o).trim().to_string();
    node.ok(&["start", &id]);
    let env = exec(&node, &id, &["env"]);
    assert!(
        env.contains("FROM_PLUGIN=yes") && env.contains("KEPT=1"),
        "{env}"
    );
    assert!(!env.contains("DROPPED"), "{env}");
    assert_eq!(
        exec(&node, &id, &["cat", "/injected/note"]),
        "from the host"
    );
    let write = node.crictl(&["exec", "-s", &id, "touch", "/injected/x"]);
    assert!(!write.status.success(), "the injected mount is read-only");
    assert_eq!(exec(&node, &id, &["cat", "/proc/1/oom_score_adj"]), "321");
    let status = node.json(&["inspect", "-o", "json", &id]);
    assert_eq!(
        status["status"]["annotations"]["plugin.berth.test/seen"], "1",
        "{status}"
    );
    // A plugin's error fails the create, and nothing is left of it.
    let o = create("vetoed");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("vetoed by the test plugin"),
        "{}",
        stderr(&o)
    );
    // An adjustment berth cannot make is refused by name, never dropped.
    let o = create("rlimited");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rlimits"), "{}", stderr(&o));
    let names = node.ok(&["ps", "-a", "-o", "json"]);
    assert!(
        !names.contains("vetoed") && !names.contains("rlimited"),
        "{names}"
    );
    assert_eq!(
        seen.lock().unwrap().created,
        ["adjusted", "vetoed", "rlimited"],
        "the plugin saw each create once"
    );
    node.ok(&["stopp", &pod_id]);
    node.ok(&["rmp", &pod_id]);
}

#[test]
fn an_nri_socket_without_cri_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(berth_bin())
        .arg("daemon")
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("run"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("s.sock").display()))
        .arg("--nri-socket")
        .arg(dir.path().join("nri.sock"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--nri-socket needs --cri"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("nri.sock").exists());
}

#[test]
fn exec_attach_and_port_forward_stream_over_spdy_and_websocket() {
    let Some(node) = Node::start() else {
        return;
    };
    let Some(registry) = Registry::start() else {
        return;
    };
    let image = busybox_in(&node, &registry);
    node.ok(&["pull", &image]);
    let pod = pod_config(&node, "streams", json!({}));
    let pod_file = node.file("pod.json", &pod);
    let pod_id = node.ok(&["runp", &pod_file]);
    // A server on the pod's loopback, for port forwarding: persistent (-ll), so a second
    // connection never finds the port closed between two servers.
    let server = container_config(
        "server",
        &image,
        "exec nc -ll -p 8080 -e echo from-the-pod",
        json!({}),
    );
    let server_file = node.file("server.json", &server);
    let server_id = node.ok(&["create", &pod_id, &server_file, &pod_file]);
    node.ok(&["start", &server_id]);

    for transport in ["spdy", "websocket"] {
        // exec: stdout and stderr apart, and the exit code.
        let o = node.crictl(&[
            "exec",
            "--transport",
            transport,
            &server_id,
            "sh",
            "-c",
            "echo to-out; echo to-err >&2; exit 3",
        ]);
        assert_eq!(stdout(&o), "to-out\n", "{transport}: {}", stderr(&o));
        assert!(stderr(&o).contains("to-err"), "{transport}: {}", stderr(&o));
        assert!(!o.status.success(), "{transport}");
        assert!(
            stderr(&o).contains("exit code 3") || stderr(&o).contains("exited with 3"),
            "{transport}: {}",
            stderr(&o)
        );
        // stdin reaches the process and its end reaches it too (cat ends).
        let o = node.crictl_fed(
            &["exec", "-i", "--transport", transport, &server_id, "cat"],
            "through stdin\n",
        );
        assert!(o.status.success(), "{transport}: {}", stderr(&o));
        assert_eq!(stdout(&o), "through stdin\n", "{transport}");

        // attach: a container reading its stdin, which ends when the attach's does.
        let name = format!("reader-{transport}");
        let reader = container_config(
            &name,
            &image,
            "while read l; do echo \"got $l\"; done; echo done",
            json!({"stdin": true, "stdin_once": true}),
        );
        let reader_file = node.file(&format!("{name}.json"), &reader);
        let reader_id = node.ok(&["create", &pod_id, &reader_file, &pod_file]);
        node.ok(&["start", &reader_id]);
        let o = node.crictl_fed(
            &["attach", "-i", "--transport", transport, &reader_id],
            "one\ntwo\n",
        );
        assert!(o.status.success(), "{transport}: {}", stderr(&o));
        assert_eq!(stdout(&o), "got one\ngot two\ndone\n", "{transport}");

        // port-forward: a local port reaches the pod's loopback.
        let port = free_port();
        let _forward = Killed(
            node.crictl_command(&[
                "port-forward",
                "--transport",
                transport,
                &pod_id,
                &format!("{port}:8080"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crictl port-forward"),
        );
        wait_until("the forwarded port", Duration::from_secs(15), || {
            read_from(port).contains("from-the-pod")
        });
        // A second connection over the same session.
        assert!(read_from(port).contains("from-the-pod"), "{transport}");
    }
    node.ok(&["rmp", "-f", &pod_id]);
    assert_eq!(mounts_under(&node.d.dir.join("run/cri")), 0);
}

/// A child of the test, killed (by its pid) and reaped when dropped.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now, on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What a connection to `port` on loopback reads until it ends ("" when it cannot connect).
fn read_from(port: u16) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
