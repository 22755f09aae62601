//! Every field of a create request is honoured or refused with a 400 that names it
//! (issue 7): the namespaces, mounts, sysctls and resources berth implements, checked
//! from inside the container, and a walk over every HostConfig field of the Engine API
//! schema that fails on any field accepted without being honoured.

mod common;

use common::*;
use std::path::Path;

fn readlink(p: &str) -> String {
    std::fs::read_link(p)
        .map(|l| l.display().to_string())
        .unwrap_or_default()
}

#[test]
fn namespaces_are_private_shared_or_the_hosts() {
    let d = Daemon::start();
    d.make_busybox();
    // Own pid namespace: the shell is pid 1; the host's: it is not.
    assert_eq!(
        ok(d.berth(&["run", "--rm", "busybox", "sh", "-c", "echo $$"])),
        "1"
    );
    let host_pid = ok(d.docker(&[
        "run", "--rm", "--pid", "host", "busybox", "sh", "-c", "echo $$",
    ]));
    assert_ne!(host_pid, "1");
    ok(d.berth(&["run", "-d", "--name", "owner", "busybox", "sleep", "300"]));
    let ps = ok(d.berth(&["run", "--rm", "--pid", "container:owner", "busybox", "ps"]));
    assert!(ps.contains("sleep 300"), "{ps}");
    let ns = |args: &[&str], which: &str| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        let p = format!("/proc/self/ns/{which}");
        a.extend(["busybox", "readlink", p.as_str()]);
        ok(d.berth(&a))
    };
    assert_eq!(ns(&["--ipc", "host"], "ipc"), readlink("/proc/self/ns/ipc"));
    assert_ne!(ns(&[], "ipc"), readlink("/proc/self/ns/ipc"));
    assert_eq!(
        ns(&["--cgroupns", "host"], "cgroup"),
        readlink("/proc/self/ns/cgroup")
    );
    assert_ne!(ns(&[], "cgroup"), readlink("/proc/self/ns/cgroup"));
    let host_name = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(
        ok(d.berth(&["run", "--rm", "--uts", "host", "busybox", "hostname"])),
        host_name
    );
    let no_shm = d.berth(&["run", "--rm", "--ipc", "none", "busybox", "ls", "/dev/shm"]);
    assert_ne!(code(&no_shm), 0, "--ipc none still has /dev/shm");
    // IPC is shared only with a shareable donor (as Docker): SysV IPC through the
    // namespace, POSIX shm through the same /dev/shm.
    let not_shareable = d.berth(&["run", "--rm", "--ipc", "container:owner", "busybox", "true"]);
    assert_eq!(code(&not_shareable), 125);
    assert!(
        stderr(&not_shareable).contains("non-shareable IPC"),
        "{}",
        stderr(&not_shareable)
    );
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "touch /dev/mqueue/q; echo from-donor > /dev/shm/f; sleep 300",
    ]));
    wait_until(
        "the donor's shm",
        std::time::Duration::from_secs(20),
        || code(&d.berth(&["exec", "donor", "test", "-e", "/dev/shm/f"])) == 0,
    );
    let joined = ok(d.berth(&[
        "run",
        "--rm",
        "--ipc",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "cat /dev/shm/f; ls /dev/mqueue; readlink /proc/self/ns/ipc",
    ]));
    let donor_ns = ok(d.berth(&["exec", "donor", "readlink", "/proc/self/ns/ipc"]));
    let lines: Vec<&str> = joined.lines().collect();
    // POSIX shm (the same /dev/shm), message queues and the namespace itself.
    assert_eq!(lines, ["from-donor", "q", donor_ns.as_str()], "{joined}");
    let donor_id = ok(d.berth(&["inspect", "-f", "{{.Id}}", "donor"]));
    ok(d.berth(&["rm", "-f", "donor"]));
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&donor_id),
        "the donor's /dev/shm stayed mounted"
    );
    let conflict = d.berth(&[
        "run",
        "--rm",
        "--uts",
        "host",
        "--hostname",
        "x",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&conflict).contains("Conflicting options"),
        "{}",
        stderr(&conflict)
    );
}

#[test]
fn mounts_sysctls_and_resources_are_applied() {
    let d = Daemon::start();
    d.make_busybox();
    let bind = d.dir.join("bind-src");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("f"), "from the host").unwrap();
    let parent = format!("{}/custom", d.cgroup_parent);
    let script = "grep -E ' /run | /t ' /proc/mounts; cat /data/f; echo; touch /data/x 2>&1; \
                  cat /proc/sys/kernel/shmmax /proc/self/oom_score_adj /proc/sys/kernel/domainname; \
                  grep Cpus_allowed_list /proc/self/status";
    let mount = format!("type=bind,source={},target=/data,readonly", bind.display());
    for client in ["berth", "docker"] {
        let args = [
            "run",
            "--rm",
            "--tmpfs",
            "/run:size=1m",
            "--mount",
            &mount,
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=2m",
            "--sysctl",
            "kernel.shmmax=1048576",
            "--oom-score-adj",
            "300",
            "--cpuset-cpus",
            "0",
            "--domainname",
            "example.org",
            "--cgroup-parent",
            &parent,
            "busybox",
            "sh",
            "-c",
            script,
        ];
        let out = if client == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        };
        let text = ok(out);
        assert!(
            text.contains("tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k"),
            "{client}: {text}"
        );
        assert!(
            text.contains("tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k"),
            "{client}: {text}"
        );
        assert!(text.contains("from the host"), "{client}: {text}");
        assert!(text.contains("Read-only file system"), "{client}: {text}");
        for want in ["1048576", "300", "example.org", "Cpus_allowed_list:\t0"] {
            assert!(
                text.lines().any(|l| l.trim() == want),
                "{client}: no {want:?} in {text}"
            );
        }
    }
    // The custom parent held the containers' cgroups (gone with them); the parent itself
    // is the test's to remove, in every hierarchy.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(h.path().join(parent.trim_start_matches('/')));
    }
    let refused = [
        (
            vec!["--mount", "type=npipe,source=x,target=/v"],
            "HostConfig.Mounts[].Type",
        ),
        (vec!["--sysctl", "kernel.panic=1"], "not namespaced"),
        (vec!["--log-opt", "frob=1"], "unknown log opt"),
        (vec!["--cpuset-cpus", "4096"], "not available"),
        (vec!["--oom-score-adj", "2000"], "oom score adj"),
    ];
    for (flags, want) in refused {
        let mut a = vec!["run", "--rm"];
        a.extend(flags.iter().copied());
        a.extend(["busybox", "true"]);
        let out = d.berth(&a);
        assert_eq!(code(&out), 125, "{flags:?} accepted");
        assert!(stderr(&out).contains(want), "{flags:?}: {}", stderr(&out));
    }
}

/// The HostConfig (and Resources) properties of the API schema, with their types.
fn schema_host_config_fields() -> Vec<(String, String)> {
    let yaml = std::fs::read_to_string(
        repo_root().join("../shared/reference/docker-engine-api-v1.55.yaml"),
    )
    .expect("the Engine API reference in ../shared/reference");
    let lines: Vec<&str> = yaml.lines().collect();
    let mut fields = vec![];
    for (def, indent) in [("  Resources:", 6), ("  HostConfig:", 10)] {
        let start = lines.iter().position(|l| *l == def).expect("definition");
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.len() > 2 && l.starts_with("  ") && !l.starts_with("   "))
            .map(|e| start + 1 + e)
            .unwrap_or(lines.len());
        let pad = " ".repeat(indent);
        for i in start + 1..end {
            let l = lines[i];
            let Some(name) = l.strip_prefix(&pad).and_then(|n| n.strip_suffix(':')) else {
                continue;
            };
            if name.starts_with(' ') || !name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            {
                continue;
            }
            let block: Vec<&str> = lines[i + 1..end]
                .iter()
                .take_while(|x| x.starts_with(&format!("{pad}  ")) || x.trim().is_empty())
                .copied()
                .collect();
            let type_of = |from: usize| {
                block[from..].iter().find_map(|x| {
                    let t = x.trim();
                    t.strip_prefix("type: ")
                        .map(|k| k.trim_matches('"').to_string())
                        .or_else(|| t.strip_prefix("$ref: ").map(|_| "object".to_string()))
                })
            };
            let mut kind = type_of(0).unwrap_or_else(|| "object".into());
            if kind == "array" {
                let items = block.iter().position(|x| x.trim() == "items:").unwrap_or(0);
                kind = format!(
                    "array:{}",
                    type_of(items + 1).unwrap_or_else(|| "object".into())
                );
            }
            fields.push((name.to_string(), kind));
        }
    }
    fields
}

/// What berth implements, each checked by a functional test (here, in security.rs,
/// containers.rs): accepted fields must be in this list.
const HONOURED: &[&str] = &[
    "RestartPolicy",
    "CpuShares",
    "Memory",
    "CgroupParent",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "MemorySwap",
    "NanoCpus",
    "PidsLimit",
    "Ulimits",
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "AutoRemove",
    "Mounts",
    "ConsoleSize",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "GroupAdd",
    "IpcMode",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "ReadonlyRootfs",
    "SecurityOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    "MaskedPaths",
    "ReadonlyPaths",
    "MemorySwappiness",
    "OomKillDisable",
    "Init",
    "Devices",
    "DeviceCgroupRules",
    // network.rs::published_ports.
    "PortBindings",
    "PublishAllPorts",
    // network.rs::dns_settings_extra_hosts_and_links.
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "Links",
    // volumes.rs.
    "VolumeDriver",
    "VolumesFrom",
];

fn sample(name: &str, kind: &str) -> serde_json::Value {
    use serde_json::json;
    match name {
        "Memory" => json!(64 << 20),
        "MemorySwap" => json!(128 << 20),
        "CpuShares" => json!(512),
        "CpuPeriod" => json!(50_000),
        "CpuQuota" => json!(25_000),
        "NanoCpus" => json!(500_000_000),
        "PidsLimit" => json!(100),
        "CpusetCpus" | "CpusetMems" => json!("0"),
        "CgroupParent" => json!("berth-schema-walk"),
        "Ulimits" => json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}]),
        "Binds" => json!(["/tmp:/mnt/host-tmp:ro"]),
        "LogConfig" => json!({"Type": "json-file", "Config": {"max-size": "1m"}}),
        "NetworkMode" => json!("none"),
        "RestartPolicy" => json!({"Name": "always"}),
        "Mounts" => json!([{"Type": "tmpfs", "Target": "/t"}]),
        "ConsoleSize" => json!([24, 80]),
        "CapAdd" => json!(["CAP_SYS_PTRACE"]),
        "CapDrop" => json!(["CAP_CHOWN"]),
        "CgroupnsMode" | "PidMode" | "UTSMode" | "IpcMode" => json!("host"),
        "UsernsMode" => json!("host"),
        "GroupAdd" => json!(["10"]),
        "OomScoreAdj" => json!(100),
        "SecurityOpt" => json!(["no-new-privileges"]),
        "Tmpfs" => json!({"/run": "size=1m"}),
        "ShmSize" => json!(1 << 20),
        "Sysctls" => json!({"kernel.shmmax": "1048576"}),
        "Runtime" => json!("berth"),
        "Isolation" => json!("default"),
        "MaskedPaths" | "ReadonlyPaths" => json!(["/proc/kcore"]),
        "MemorySwappiness" => json!(-1),
        "OomKillDisable" => json!(false),
        "Init" => json!(true),
        "DeviceCgroupRules" => json!(["c 1:3 rwm"]),
        "Devices" => {
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2", "CgroupPermissions": "rwm"}])
        }
        _ => match kind {
            "string" => json!("berth-schema-walk"),
            "integer" | "number" => json!(7),
            "boolean" => json!(true),
            "array:string" => json!(["berth-schema-walk"]),
            "array:integer" => json!([7]),
            k if k.starts_with("array") => {
                json!([{"Path": "/dev/null", "Rate": 1, "Weight": 10, "Count": 1, "Driver": "x"}])
            }
            _ => json!({"berth-schema-walk": "1"}),
        },
    }
}

#[test]
fn every_host_config_field_of_the_api_schema_is_honoured_or_refused() {
    let d = Daemon::start();
    d.make_busybox();
    let fields = schema_host_config_fields();
    assert!(
        fields.len() > 60,
        "the schema walk found only {} fields",
        fields.len()
    );
    let mut accepted_unknown = vec![];
    for (name, kind) in &fields {
        let value = sample(name, kind);
        let body = serde_json::json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {name.as_str(): value.clone()}});
        let (status, reply) = d.post_json("/containers/create", &body.to_string());
        match status {
            201 => {
                let id = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["Id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let inspect = ok(d.berth(&["inspect", &id]));
                ok(d.berth(&["rm", "-f", &id]));
                let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
                let shown = &v[0]["HostConfig"][name.as_str()];
                if !HONOURED.contains(&name.as_str()) {
                    accepted_unknown.push(format!("{name} (accepted, not known to be honoured)"));
                } else if shown.is_null() && !value.is_null() {
                    accepted_unknown.push(format!("{name} (accepted, not shown in inspect)"));
                }
            }
            400..=499 => {
                let msg = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                // A refusal says what it refuses: the field, or what is wrong with its value.
                assert!(!msg.is_empty(), "{name}: empty refusal");
                if !HONOURED.contains(&name.as_str()) {
                    assert!(
                        msg.contains(name.as_str()),
                        "{name} refused without naming it: {msg}"
                    );
                }
            }
            other => panic!("{name}: HTTP {other}: {reply}"),
        }
    }
    assert!(
        accepted_unknown.is_empty(),
        "fields dropped silently: {accepted_unknown:?}"
    );
}

/// Keys dockerd leaves out of inspect's HostConfig when they are empty (`omitempty`),
/// and those of the schema it no longer sends at all.
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "Annotations",
    "Init",
    "Mounts",
    "StorageOpt",
    "Sysctls",
    "Tmpfs",
    "KernelMemoryTCP",
];

#[test]
fn inspect_reports_every_host_config_field_of_the_api_schema() {
    let d = Daemon::start();
    d.make_busybox();
    // A minimal create, as docker-py sends it: inspect still shows every field.
    let (status, reply) = d.post_json("/containers/create", r#"{"Image":"busybox"}"#);
    assert_eq!(status, 201, "{reply}");
    let id = serde_json::from_str::<serde_json::Value>(&reply).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&ok(d.berth(&["inspect", &id]))).unwrap();
    let hc = v[0]["HostConfig"].as_object().expect("HostConfig").clone();
    let missing: Vec<String> = schema_host_config_fields()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| !hc.contains_key(n) && !OMITTED_WHEN_EMPTY.contains(&n.as_str()))
        .collect();
    assert!(missing.is_empty(), "inspect lacks {missing:?}");
    // What is in force, not zeros: /dev/shm is 64 MB, namespaces private, paths masked.
    assert_eq!(hc["ShmSize"], 67108864);
    assert_eq!(hc["IpcMode"], "private");
    assert!(hc["MaskedPaths"].as_array().is_some_and(|a| !a.is_empty()));
    ok(d.berth(&["rm", &id]));
}

#[test]
fn bad_values_are_a_400_at_create_not_a_500_at_start() {
    let d = Daemon::start();
    d.make_busybox();
    for (body, what) in [
        (
            r#"{"Image":"busybox","HostConfig":{"Ulimits":[{"Name":"nofile","Soft":-1,"Hard":-1}]}}"#,
            "ulimit",
        ),
        (r#"{"Image":"busybox","Env":["A=\u0000b"]}"#, "NUL"),
        (r#"{"Image":"busybox","WorkingDir":"/a\u0000b"}"#, "NUL"),
        (r#"{"Image":"busybox","Cmd":["a\u0000b"]}"#, "NUL"),
        (
            r#"{"Image":"busybox","HostConfig":{"Memory":9223372036854775807}}"#,
            "memory",
        ),
        (
            r#"{"Image":"busybox","HostConfig":{"PidsLimit":9223372036854775807}}"#,
            "PIDs limit",
        ),
        (
            r#"{"Image":"busybox","HostConfig":{"BlkioWeight":300}}"#,
            "HostConfig.BlkioWeight",
        ),
        (
            r#"{"Image":"busybox","Healthcheck":{"Test":["RUN","true"]}}"#,
            "Config.Healthcheck.Test",
        ),
    ] {
        let (status, reply) = d.post_json("/containers/create", body);
        assert_eq!(status, 400, "{body}: {reply}");
        assert!(reply.contains(what), "{body}: {reply}");
    }
    ok(d.berth(&["run", "-d", "--name", "notty", "busybox", "sleep", "300"]));
    let (status, reply) = d.raw_http(
        "POST /containers/notty/resize?h=10&w=10 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 400, "resize without a TTY: {reply}");
}

#[test]
fn logs_rotate_by_default_and_tail_reads_from_the_end() {
    let d = Daemon::start_with(DaemonOptions {
        extra_args: vec!["--log-opt".into(), "max-file=3".into()],
        ..Default::default()
    });
    d.make_busybox();
    // The daemon's defaults with berth's rotation, shown in inspect.
    ok(d.berth(&["create", "--name", "defaults", "busybox", "true"]));
    let cfg = ok(d.berth(&[
        "inspect",
        "-f",
        "{{json .HostConfig.LogConfig.Config}}",
        "defaults",
    ]));
    assert!(
        cfg.contains("\"max-size\":\"20971520\"") && cfg.contains("\"max-file\":\"3\""),
        "{cfg}"
    );
    // 20,000 numbered lines of ~100 bytes into files of at most 100 KiB.
    let script =
        "i=0; while [ $i -lt 20000 ]; do echo \"line $i $(printf '%080d' 0)\"; i=$((i+1)); done";
    ok(d.berth(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=100k",
        "--log-opt",
        "compress=true",
        "busybox",
        "sh",
        "-c",
        script,
    ]));
    let log_path = ok(d.berth(&["inspect", "-f", "{{.LogPath}}", "chatty"]));
    let dir = Path::new(&log_path).parent().unwrap();
    let mut logs: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    logs.sort();
    assert_eq!(logs.len(), 3, "max-file=3 kept {logs:?}");
    assert!(logs.iter().all(|(_, size)| *size <= 100 * 1024), "{logs:?}");
    assert!(
        logs.iter().filter(|(n, _)| n.ends_with(".gz")).count() == 2,
        "{logs:?}"
    );
    let tail = ok(d.berth(&["logs", "--tail", "3", "chatty"]));
    let firsts: Vec<&str> = tail
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(firsts, ["19997", "19998", "19999"]);
    let all = ok(d.docker(&["logs", "chatty"]));
    let numbers: Vec<u32> = all
        .lines()
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect();
    assert!(
        numbers.len() > 1000 && numbers.len() < 20000,
        "rotation dropped nothing? {}",
        numbers.len()
    );
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "lines out of order across rotated files"
    );
    assert_eq!(numbers.last(), Some(&19999));
}

#[test]
fn reading_a_large_log_keeps_the_daemon_small() {
    let d = Daemon::start();
    d.make_busybox();
    // ~60 MB of log, never rotated.
    let script = "yes \"$(printf '%01000d' 0)\" | head -n 60000";
    ok(d.berth(&[
        "run",
        "--name",
        "big",
        "--log-opt",
        "max-size=-1",
        "busybox",
        "sh",
        "-c",
        script,
    ]));
    let rss = || -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = rss();
    let out = d.berth(&["logs", "big"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 60000);
    let tail = ok(d.berth(&["logs", "--tail", "1", "big"]));
    assert_eq!(tail.len(), 1000);
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 24 * 1024,
        "the daemon grew by {grown} KiB reading a 60 MB log"
    );
}

#[test]
fn init_is_pid_1_reaps_orphans_and_forwards_signals() {
    let d = Daemon::start();
    d.make_busybox();
    let script = "cat /proc/1/cmdline | tr '\\0' ' '; echo; sh -c 'sleep 0.2 & exec true'; sleep 1; \
                  ps -o stat,comm | grep -c '^Z' ; grep ' /sbin/docker-init ' /proc/mounts | grep -c ' ro,'";
    let out = ok(d.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", script]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/sbin/docker-init -- sh -c"), "{out}");
    assert_eq!(lines[1], "0", "a zombie was left: {out}");
    assert_eq!(lines[2], "1", "the init is not mounted read-only: {out}");
    // SIGTERM reaches the program (which as pid 1 would ignore it) at once.
    ok(d.berth(&[
        "run", "-d", "--init", "--name", "initc", "busybox", "sleep", "300",
    ]));
    let t = std::time::Instant::now();
    ok(d.berth(&["stop", "-t", "30", "initc"]));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "stop waited for the timeout"
    );
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.HostConfig.Init}}",
            "initc"
        ])),
        "143 true"
    );
    let docker = d.docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&docker), 3, "{}", stderr(&docker));
}

/// The property names of `definition` in the API schema.
fn schema_properties(definition: &str) -> Vec<String> {
    let yaml = std::fs::read_to_string(
        repo_root().join("../shared/reference/docker-engine-api-v1.55.yaml"),
    )
    .expect("the Engine API reference in ../shared/reference");
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == format!("  {definition}:"))
        .expect("definition");
    let body = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.starts_with("   "));
    let mut in_properties = false;
    let mut out = vec![];
    for l in body {
        if *l == "    properties:" {
            in_properties = true;
        } else if l.starts_with("    ") && !l.starts_with("     ") && !l.trim().is_empty() {
            in_properties = false;
        } else if in_properties && l.starts_with("      ") && !l.starts_with("       ") {
            if let Some(name) = l.trim().strip_suffix(':') {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// `keys` against `definition`: none missing but those dockerd omits when empty, none
/// that the schema does not have.
fn check_keys(what: &str, v: &serde_json::Value, definition: &str, omitted_when_empty: &[&str]) {
    let keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    let schema = schema_properties(definition);
    assert!(!schema.is_empty(), "{definition} has no properties");
    let missing: Vec<&String> = schema
        .iter()
        .filter(|k| !keys.contains(k) && !omitted_when_empty.contains(&k.as_str()))
        .collect();
    let extra: Vec<&String> = keys.iter().filter(|k| !schema.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: lacks {missing:?}, has {extra:?} that {definition} does not"
    );
}

#[test]
fn inspect_info_and_lists_have_the_keys_of_the_api_schema() {
    let d = Daemon::start();
    d.make_busybox();
    ok(d.docker(&["run", "-d", "--name", "keys", "busybox", "sleep", "100"]));
    let get = |path: &str| -> serde_json::Value {
        let (status, body) = d.raw_http(&format!(
            "GET /v1.55{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("json")
    };
    let c = get("/containers/keys/json");
    check_keys(
        "container inspect",
        &c,
        "ContainerInspectResponse",
        &["ImageManifestDescriptor", "SizeRw", "SizeRootFs", "Storage"],
    );
    check_keys("State", &c["State"], "ContainerState", &["Health"]);
    check_keys(
        "NetworkSettings",
        &c["NetworkSettings"],
        "NetworkSettings",
        &[],
    );
    let i = get("/images/busybox/json");
    check_keys(
        "image inspect",
        &i,
        "ImageInspect",
        &[
            "Author",
            "Comment",
            "Parent",
            "DockerVersion",
            "Descriptor",
            "Identity",
            "Manifests",
            "OsVersion",
            "Variant",
        ],
    );
    check_keys(
        "info",
        &get("/info"),
        "SystemInfo",
        &["NRI", "ProductLicense"],
    );
    check_keys(
        "ps row",
        &get("/containers/json")[0],
        "ContainerSummary",
        &["ImageManifestDescriptor", "SizeRw", "SizeRootFs"],
    );
    check_keys(
        "images row",
        &get("/images/json")[0],
        "ImageSummary",
        &["Descriptor", "Manifests"],
    );
    ok(d.docker(&["rm", "-f", "keys"]));
}
