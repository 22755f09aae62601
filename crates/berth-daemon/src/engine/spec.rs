//! Docker's Config + HostConfig → an OCI runtime spec (the bundle's config.json).

use crate::engine::container::Record;
use crate::engine::host_config::NamespaceMode;
use crate::engine::user::ResolvedUser;
use crate::error::{DaemonError, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Where the container's filesystem comes from.
pub struct RootfsLayout<'a> {
    /// Image layer dirs, top first.
    pub lower: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    /// An empty dir, the lower layer of an image without layers.
    pub empty: &'a Path,
}

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after CapAdd / CapDrop (`ALL` works in both).
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>> {
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    if privileged {
        return Ok(all);
    }
    let mut set: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let check = |c: &String| -> Result<()> {
        if c == "CAP_ALL" || all.contains(c) {
            Ok(())
        } else {
            Err(DaemonError::InvalidParameter(format!(
                "unknown capability: \"{c}\""
            )))
        }
    };
    let add: Vec<String> = add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalize_cap(c)).collect();
    for c in add.iter().chain(&drop) {
        check(c)?;
    }
    if drop.iter().any(|c| c == "CAP_ALL") {
        set.clear();
    } else {
        set.retain(|c| !drop.contains(c));
    }
    if add.iter().any(|c| c == "CAP_ALL") {
        set = all.clone();
    } else {
        for c in add {
            if !set.contains(&c) {
                set.push(c);
            }
        }
    }
    Ok(set)
}

fn rlimit_name(n: &str) -> Result<String> {
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if known.contains(&n) {
        Ok(format!("RLIMIT_{}", n.to_ascii_uppercase()))
    } else {
        Err(DaemonError::InvalidParameter(format!(
            "invalid ulimit type: {n}"
        )))
    }
}

/// The environment: image env overlaid by the container's, plus PATH, HOSTNAME, HOME, TERM.
pub fn environment(env: &[String], hostname: &str, home: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let has = |out: &Vec<String>, k: &str| out.iter().any(|e| e.split('=').next() == Some(k));
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        out.push(format!("PATH={}", berth_runtime::process::DEFAULT_PATH));
    }
    out.push(format!("HOSTNAME={hostname}"));
    for e in env {
        let key = e.split('=').next().unwrap_or("");
        out.retain(|o| o.split('=').next() != Some(key));
        out.push(e.clone());
    }
    if tty && !has(&out, "TERM") {
        out.push("TERM=xterm".into());
    }
    if !has(&out, "HOME") {
        out.push(format!("HOME={home}"));
    }
    out
}

/// A bind from `-v src:dst[:ro]` as an OCI mount.
fn bind_mount(spec: &str) -> Result<Value> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid volume specification: '{spec}': invalid mount config: invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if !src.starts_with('/') {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid volume specification: '{spec}': named volumes are not supported yet"
        )));
    }
    let mut options = vec!["rbind".to_string()];
    let mut propagation = "rprivate";
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" | "rw" => options.push(m.into()),
            "rprivate" | "private" | "rslave" | "slave" | "rshared" | "shared" => propagation = m,
            // SELinux relabelling: without SELinux on the host there is no label to set,
            // as with Docker on such a host.
            "z" | "Z" => {}
            other => {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid mode: {other}"
                )))
            }
        }
    }
    options.push(propagation.into());
    if !Path::new(src).exists() {
        std::fs::create_dir_all(src)?;
    }
    Ok(json!({"destination": dst, "type": "bind", "source": src, "options": options}))
}

pub struct SpecInput<'a> {
    pub record: &'a Record,
    pub rootfs: RootfsLayout<'a>,
    pub user: &'a ResolvedUser,
    pub cgroup_parent: &'a str,
    pub console_size: Option<(u16, u16)>,
    /// `berthd --no-new-privileges`: the default where SecurityOpt does not say.
    pub no_new_privileges_default: bool,
    /// Host pids of the containers whose namespaces this one shares (`container:`).
    pub shared: SharedNamespaces,
    /// The file bound at /sbin/docker-init for `--init`.
    pub init_binary: Option<&'a Path>,
}

#[derive(Debug, Clone, Default)]
pub struct SharedNamespaces {
    pub pid: Option<i32>,
    /// The IPC donor's host pid and its /dev/shm dir (`--ipc container:`), or this
    /// container's own shareable /dev/shm (`--ipc shareable`).
    pub ipc: Option<(i32, PathBuf)>,
    pub own_shm: Option<PathBuf>,
}

/// `--tmpfs /run:rw,size=64m`: Docker's defaults (noexec, nosuid, nodev), then the user's.
fn tmpfs_mount(dst: &str, opts: &str) -> Value {
    let mut options: Vec<String> = ["nosuid", "nodev", "noexec"].map(String::from).to_vec();
    options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
    json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options})
}

/// One `HostConfig.Mounts` entry (bind or tmpfs; the rest was refused at create).
fn api_mount(m: &berth_api::container::Mount) -> Value {
    if m.kind == "tmpfs" {
        let mut opts = vec![];
        if let Some(t) = &m.tmpfs_options {
            if let Some(size) = t
                .get("SizeBytes")
                .and_then(|v| v.as_i64())
                .filter(|n| *n > 0)
            {
                opts.push(format!("size={size}"));
            }
            if let Some(mode) = t.get("Mode").and_then(|v| v.as_i64()).filter(|n| *n > 0) {
                opts.push(format!("mode={mode:o}"));
            }
        }
        if m.read_only {
            opts.push("ro".into());
        }
        return tmpfs_mount(&m.target, &opts.join(","));
    }
    let propagation = m
        .bind_options
        .as_ref()
        .and_then(|b| b.get("Propagation"))
        .and_then(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("rprivate");
    let mut options = vec!["rbind", propagation];
    if m.read_only {
        options.push("ro");
    }
    json!({"destination": m.target, "type": "bind", "source": m.source, "options": options})
}

pub fn generate(input: &SpecInput) -> Result<Spec> {
    let r = input.record;
    let hc = &r.host_config;
    let cfg = &r.config;
    let privileged = hc.privileged;
    let host_net = hc.network_mode == "host";

    let caps = capabilities(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        privileged,
    )?;
    let security = super::security_opt::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let no_new_privileges = security
        .no_new_privileges
        .unwrap_or(input.no_new_privileges_default);
    // Without --ulimit, the container inherits the daemon's limits, as with dockerd.
    let mut rlimits = vec![];
    for u in hc.ulimits.iter().flatten() {
        let name = rlimit_name(&u.name)?;
        if u.soft > u.hard {
            return Err(DaemonError::InvalidParameter(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
        rlimits.push(json!({"type": name, "soft": u.soft, "hard": u.hard}));
    }
    let hostname = if cfg.hostname.is_empty() {
        r.id[..12].to_string()
    } else {
        cfg.hostname.clone()
    };
    let env = environment(
        cfg.env.as_deref().unwrap_or(&[]),
        &hostname,
        &input.user.home,
        cfg.tty,
    );
    // --init: berth's own init is pid 1 and runs the command.
    let init = hc.init == Some(true);
    let mut args: Vec<String> = vec![];
    if init {
        args.extend([
            berth_runtime::init_process::PATH.to_string(),
            "--".to_string(),
        ]);
    }
    args.push(r.path.clone());
    args.extend(r.args.iter().cloned());
    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": input.user.uid, "gid": input.user.gid, "additionalGids": input.user.additional_gids},
        "args": args,
        "env": env,
        "cwd": if cfg.working_dir.is_empty() { "/".to_string() } else { cfg.working_dir.clone() },
        // Inheritable and ambient stay empty, as Docker's: a file's inheritable
        // capabilities must not reach a non-root user (CVE-2022-24769).
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
        "rlimits": rlimits,
        "noNewPrivileges": no_new_privileges,
    });
    if let Some((h, w)) = input.console_size {
        process["consoleSize"] = json!({"height": h, "width": w});
    }

    let lower: Vec<String> = if input.rootfs.lower.is_empty() {
        vec![input.rootfs.empty.display().to_string()]
    } else {
        input
            .rootfs
            .lower
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let overlay_opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        input.rootfs.upper.display(),
        input.rootfs.work.display()
    );
    let sys_opts = if privileged {
        vec!["nosuid", "noexec", "nodev"]
    } else {
        vec!["nosuid", "noexec", "nodev", "ro"]
    };
    let mut cgroup_opts = vec!["nosuid", "noexec", "nodev", "relatime"];
    if !privileged {
        cgroup_opts.push("ro");
    }
    let shm_size = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        64 << 20
    };
    let mut mounts = vec![
        json!({"destination": "/", "type": "overlay", "source": "overlay", "options": [overlay_opts]}),
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroup_opts}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    let ipc = super::host_config::ipc_mode(hc)?;
    match &ipc {
        NamespaceMode::Private => mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]})),
        NamespaceMode::Shareable | NamespaceMode::Container(_) => {
            let dir = match &ipc {
                NamespaceMode::Shareable => input.shared.own_shm.clone(),
                _ => input.shared.ipc.as_ref().map(|(_, d)| d.clone()),
            };
            if let Some(dir) = dir {
                mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": dir, "options": ["rbind", "rprivate"]}));
            }
        }
        NamespaceMode::Host => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})),
        _ => {}
    }
    for (dst, src) in [
        ("/etc/resolv.conf", &r.resolv_conf_path),
        ("/etc/hostname", &r.hostname_path),
        ("/etc/hosts", &r.hosts_path),
    ] {
        mounts.push(json!({"destination": dst, "type": "bind", "source": src, "options": ["rbind", "rprivate"]}));
    }
    for b in hc.binds.iter().flatten() {
        mounts.push(bind_mount(b)?);
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        mounts.push(tmpfs_mount(dst, opts));
    }
    for m in hc.mounts.iter().flatten() {
        mounts.push(api_mount(m));
    }
    if let Some(binary) = input.init_binary.filter(|_| init) {
        // berth's init, a copy the daemon made (never the host's binary), read-only.
        mounts.push(json!({"destination": berth_runtime::init_process::PATH, "type": "bind", "source": binary, "options": ["bind", "ro", "nosuid", "nodev"]}));
    }

    let ns = |t: &str, mode: &NamespaceMode, shared: Option<i32>| -> Result<Option<Value>> {
        Ok(match mode {
            NamespaceMode::Host => None,
            NamespaceMode::Container(c) => {
                let pid = shared.ok_or_else(|| {
                    DaemonError::Conflict(format!(
                        "cannot join the {t} namespace of container {c}: it is not running"
                    ))
                })?;
                Some(json!({"type": t, "path": format!("/proc/{pid}/ns/{t}")}))
            }
            _ => Some(json!({"type": t})),
        })
    };
    let uts = super::host_config::uts_mode(hc)?;
    let mut namespaces: Vec<Value> = [
        ns("pid", &super::host_config::pid_mode(hc)?, input.shared.pid)?,
        ns("ipc", &ipc, input.shared.ipc.as_ref().map(|(pid, _)| *pid))?,
        ns("uts", &uts, None)?,
        Some(json!({"type": "mount"})),
        ns("cgroup", &super::host_config::cgroupns_mode(hc)?, None)?,
    ]
    .into_iter()
    .flatten()
    .collect();
    if !host_net {
        namespaces.push(json!({"type": "network"}));
    }
    let mut device_rules = if privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        vec![json!({"allow": false, "access": "rwm"})]
    };
    let added = super::host_config::devices(hc)?;
    for d in &added {
        device_rules.push(json!({"allow": true, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "access": d.permissions}));
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        // `c 10:229 rwm`: checked at create.
        let mut parts = rule.split_whitespace();
        let (kind, nums, access) = (parts.next(), parts.next(), parts.next());
        let (major, minor) = nums.and_then(|n| n.split_once(':')).unwrap_or(("*", "*"));
        let mut entry =
            json!({"allow": true, "type": kind.unwrap_or("a"), "access": access.unwrap_or("rwm")});
        if let Ok(m) = major.parse::<i64>() {
            entry["major"] = json!(m);
        }
        if let Ok(m) = minor.parse::<i64>() {
            entry["minor"] = json!(m);
        }
        device_rules.push(entry);
    }
    let mut resources = json!({ "devices": device_rules });
    if hc.memory > 0 {
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        resources["memory"] = json!({"limit": hc.memory, "swap": swap});
    }
    let mut cpu = serde_json::Map::new();
    if hc.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(hc.cpu_shares));
    }
    if hc.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(hc.nano_cpus * period / 1_000_000_000));
    } else {
        if hc.cpu_period > 0 {
            cpu.insert("period".into(), json!(hc.cpu_period));
        }
        if hc.cpu_quota != 0 {
            cpu.insert("quota".into(), json!(hc.cpu_quota));
        }
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(hc.cpuset_cpus));
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(hc.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        resources["pids"] = json!({"limit": p});
    }
    let dev = |path: &str, major: i64, minor: i64| json!({"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0});
    let mut devices = vec![
        dev("/dev/null", 1, 3),
        dev("/dev/zero", 1, 5),
        dev("/dev/full", 1, 7),
        dev("/dev/random", 1, 8),
        dev("/dev/urandom", 1, 9),
        dev("/dev/tty", 5, 0),
    ];
    for d in &added {
        devices.push(json!({"path": d.path_in_container, "type": d.kind.to_string(), "major": d.major, "minor": d.minor, "fileMode": d.file_mode, "uid": 0, "gid": 0}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": super::reconcile::cgroup_path(&hc.cgroup_parent, input.cgroup_parent, &r.id),
        "resources": resources,
        "devices": devices,
    });
    if let Some(profile) = super::seccomp::profile_for(&security.seccomp, privileged) {
        linux["seccomp"] = json!(super::seccomp::oci_seccomp(profile, &caps)?);
    }
    if let Some(sysctls) = hc.sysctls.as_ref().filter(|s| !s.is_empty()) {
        linux["sysctl"] = json!(sysctls);
    }
    if !privileged && !security.unconfined_paths {
        linux["maskedPaths"] = json!(hc
            .masked_paths
            .clone()
            .unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
        linux["readonlyPaths"] = json!(hc
            .readonly_paths
            .clone()
            .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
    }
    if hc.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(hc.oom_score_adj);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": "rootfs", "readonly": hc.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    // The host's UTS namespace keeps the host's names.
    if uts == NamespaceMode::Private {
        spec["hostname"] = json!(hostname);
        if !cfg.domainname.is_empty() {
            spec["domainname"] = json!(cfg.domainname);
        }
    }
    serde_json::from_value(spec)
        .map_err(|e| DaemonError::System(format!("building the OCI spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_add_drop() {
        let c = capabilities(&["NET_ADMIN".into()], &["chown".into()], false).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(&[], &["ALL".into()], false).unwrap();
        assert!(c.is_empty());
        assert!(capabilities(&["BOGUS".into()], &[], false).is_err());
    }

    #[test]
    fn env_merges_and_defaults() {
        let e = environment(
            &["PATH=/x".into(), "A=1".into(), "A=2".into()],
            "h",
            "/root",
            true,
        );
        assert_eq!(
            e,
            vec!["HOSTNAME=h", "PATH=/x", "A=2", "TERM=xterm", "HOME=/root"]
        );
    }

    #[test]
    fn bad_binds_are_rejected() {
        assert!(bind_mount("/a").is_err());
        assert!(bind_mount("/a:rel").is_err());
        assert!(bind_mount("/tmp:/x:bogus").is_err());
    }
}
