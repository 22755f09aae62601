//! What berth does with each field of a create request: every one is honoured, or refused
//! with a 400 that names it. A user who asked for something and silently did not get it
//! has been lied to, so a field berth does not implement is an error as soon as it is set.

use crate::error::{DaemonError, Result};
use berth_api::container::{CreateRequest, HostConfig, Mount};
use serde_json::Value;
use std::collections::BTreeMap;

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// How a container gets one of its namespaces (`--pid`, `--ipc`, `--uts`, `--cgroupns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceMode {
    /// Its own, new namespace.
    Private,
    /// The host's: no new namespace.
    Host,
    /// Another container's (name or ID).
    Container(String),
    /// `--ipc none`: its own namespace without /dev/shm.
    PrivateWithoutShm,
    /// `--ipc shareable`: its own namespace, whose /dev/shm other containers may share.
    Shareable,
}

fn refuse(field: &str, why: &str) -> DaemonError {
    DaemonError::InvalidParameter(format!("{field} is not supported by berth: {why}"))
}

/// Unset as Docker's clients send it: null, false, 0, "", [] or {}.
pub fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Unset all the way down: an object whose every field is unset.
pub fn is_unset_deep(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.values().all(is_unset_deep),
        v => is_unset(v),
    }
}

/// Fields berth does not model at all: refused by name when set.
fn refuse_unmodeled(prefix: &str, other: &BTreeMap<String, Value>) -> Result<()> {
    match other.iter().find(|(_, v)| !is_unset(v)) {
        Some((k, _)) => Err(refuse(
            &format!("{prefix}{k}"),
            "this setting is not implemented, and berth never accepts a setting it would ignore",
        )),
        None => Ok(()),
    }
}

pub fn pid_mode(hc: &HostConfig) -> Result<NamespaceMode> {
    match hc.pid_mode.as_str() {
        "" | "private" => Ok(NamespaceMode::Private),
        "host" => Ok(NamespaceMode::Host),
        m => match m.strip_prefix("container:") {
            Some(c) if !c.is_empty() => Ok(NamespaceMode::Container(c.into())),
            _ => Err(DaemonError::InvalidParameter(format!(
                "invalid PID mode: {m}"
            ))),
        },
    }
}

pub fn ipc_mode(hc: &HostConfig) -> Result<NamespaceMode> {
    match hc.ipc_mode.as_str() {
        "" | "private" => Ok(NamespaceMode::Private),
        "shareable" => Ok(NamespaceMode::Shareable),
        "host" => Ok(NamespaceMode::Host),
        "none" => Ok(NamespaceMode::PrivateWithoutShm),
        m => match m.strip_prefix("container:") {
            Some(c) if !c.is_empty() => Ok(NamespaceMode::Container(c.into())),
            _ => Err(DaemonError::InvalidParameter(format!(
                "invalid IPC mode: {m}"
            ))),
        },
    }
}

pub fn uts_mode(hc: &HostConfig) -> Result<NamespaceMode> {
    match hc.uts_mode.as_str() {
        "" | "private" => Ok(NamespaceMode::Private),
        "host" => Ok(NamespaceMode::Host),
        m => Err(DaemonError::InvalidParameter(format!(
            "invalid UTS mode: {m}"
        ))),
    }
}

pub fn cgroupns_mode(hc: &HostConfig) -> Result<NamespaceMode> {
    match hc.cgroupns_mode.as_str() {
        "" | "private" => Ok(NamespaceMode::Private),
        "host" => Ok(NamespaceMode::Host),
        m => Err(DaemonError::InvalidParameter(format!(
            "invalid cgroup namespace mode: {m}"
        ))),
    }
}

/// The container whose network namespace this one joins (`--network container:<id>`).
pub fn network_donor(hc: &HostConfig) -> Option<&str> {
    hc.network_mode.strip_prefix("container:")
}

/// What a container that joins another's network cannot have, since the network, its
/// hosts and resolver files are the donor's: refused with dockerd's messages.
fn check_container_network(req: &CreateRequest) -> Result<()> {
    let hc = &req.host_config;
    let conflict = |what: &str| {
        Err(DaemonError::InvalidParameter(format!(
            "conflicting options: {what}"
        )))
    };
    if network_donor(hc).is_some_and(|d| d.is_empty()) {
        return Err(DaemonError::InvalidParameter(
            "invalid network mode: container: needs a container name or ID".into(),
        ));
    }
    if !req.config.hostname.is_empty() {
        return conflict("hostname and the network mode");
    }
    if hc.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return conflict("container type network can't be used with links. This would result in undefined behavior");
    }
    let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if set(&hc.dns) || set(&hc.dns_search) || set(&hc.dns_options) {
        return conflict("dns and the network mode");
    }
    if set(&hc.extra_hosts) {
        return conflict("custom host-to-IP mapping and the network mode");
    }
    if hc.publish_all_ports || hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) {
        return conflict("port publishing and the container type network mode");
    }
    if req
        .config
        .exposed_ports
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return conflict("port exposing and the container type network mode");
    }
    if req
        .config
        .mac_address
        .as_deref()
        .is_some_and(|m| !m.is_empty())
    {
        return conflict("mac-address and the network mode");
    }
    Ok(())
}

/// Namespaced sysctls a container may set (Docker's rule): IPC ones unless the IPC
/// namespace is the host's, network ones unless the network namespace is.
fn check_sysctl(key: &str, hc: &HostConfig) -> Result<()> {
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    let bad = |why: &str| {
        Err(DaemonError::InvalidParameter(format!(
            "sysctl '{key}' is not allowed{why}"
        )))
    };
    let valid_key = !key.is_empty()
        && key.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if !valid_key {
        return bad(": not a sysctl name");
    }
    if ipc && hc.ipc_mode == "host" {
        return bad(" in the host's IPC namespace");
    }
    if net && hc.network_mode == "host" {
        return bad(" in the host's network namespace");
    }
    if net && network_donor(hc).is_some() {
        return bad(" in another container's network namespace");
    }
    if !ipc && !net {
        return bad(": it is not namespaced, so it would change the host");
    }
    Ok(())
}

/// One `--device` as berth applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_in_container: String,
    /// 'c' or 'b'.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub file_mode: u32,
    /// Some of "rwm".
    pub permissions: String,
}

/// `HostConfig.Devices`, each checked against the host: the path must be a device node.
pub fn devices(hc: &HostConfig) -> Result<Vec<DeviceMapping>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = vec![];
    for d in hc.devices.iter().flatten() {
        let field = |k: &str| {
            d.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let on_host = field("PathOnHost");
        let mut in_container = field("PathInContainer");
        let mut permissions = field("CgroupPermissions");
        if in_container.is_empty() {
            in_container = on_host.clone();
        }
        if permissions.is_empty() {
            permissions = "rwm".into();
        }
        if !permissions.chars().all(|c| "rwm".contains(c)) {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid device cgroup permissions {permissions:?} for {on_host}"
            )));
        }
        if !in_container.starts_with('/') {
            return Err(DaemonError::InvalidParameter(format!(
                "{in_container} is not an absolute path"
            )));
        }
        let meta = std::fs::metadata(&on_host).map_err(|e| {
            DaemonError::InvalidParameter(format!(
                "error gathering device information while adding custom device \"{on_host}\": {e}"
            ))
        })?;
        let kind = if meta.file_type().is_char_device() {
            'c'
        } else if meta.file_type().is_block_device() {
            'b'
        } else {
            return Err(DaemonError::InvalidParameter(format!(
                "error gathering device information while adding custom device \"{on_host}\": not a device node"
            )));
        };
        let rdev = meta.rdev();
        out.push(DeviceMapping {
            path_in_container: in_container,
            kind,
            major: nix::sys::stat::major(rdev),
            minor: nix::sys::stat::minor(rdev),
            file_mode: meta.mode() & 0o7777,
            permissions,
        });
    }
    Ok(out)
}

/// A CPU or memory-node list (`0-2,4`), checked against what the machine has.
fn check_cpuset(field: &str, list: &str, online: &str) -> Result<()> {
    let parse = |s: &str| -> Option<Vec<u32>> {
        let mut out = vec![];
        for part in s.trim().split(',').filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                    if a > b || b - a > 4096 {
                        return None;
                    }
                    out.extend(a..=b);
                }
                None => out.push(part.parse().ok()?),
            }
        }
        Some(out)
    };
    let Some(wanted) = parse(list) else {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid value {list:?} for {field}"
        )));
    };
    let have = parse(online).unwrap_or_default();
    if let Some(missing) = wanted.iter().find(|c| !have.contains(c)) {
        return Err(DaemonError::InvalidParameter(format!(
            "Requested {field} are not available - requested {list}, available: {} (missing {missing})",
            online.trim()
        )));
    }
    Ok(())
}

fn check_mount(m: &Mount) -> Result<()> {
    refuse_unmodeled("HostConfig.Mounts[].", &m.other)?;
    if !m.target.starts_with('/') {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
            m.kind, m.target
        )));
    }
    match m.kind.as_str() {
        "bind" => {
            if !m.source.starts_with('/') {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if !std::path::Path::new(&m.source).exists() {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
            }
            for (k, v) in m.bind_options.iter().flatten() {
                match k.as_str() {
                    "Propagation" => {
                        let p = v.as_str().unwrap_or_default();
                        if !matches!(
                            p,
                            "" | "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared"
                        ) {
                            return Err(DaemonError::InvalidParameter(format!(
                                "invalid propagation mode: {p}"
                            )));
                        }
                    }
                    // Read-only binds are recursive unless this says otherwise.
                    "ReadOnlyNonRecursive" if v.is_boolean() || v.is_null() => {}
                    "ReadOnlyForceRecursive" if v.as_bool() == Some(true) => {
                        if !berth_runtime::mounts::recursive_readonly_supported() {
                            return Err(DaemonError::InvalidParameter(
                                "invalid mount config: recursive read-only mounts need Linux 5.12 or newer (mount_setattr)".into(),
                            ));
                        }
                        if !m.read_only {
                            return Err(DaemonError::InvalidParameter(
                                "invalid mount config: option 'ReadOnlyForceRecursive' requires 'ReadOnly' to be 'true'".into(),
                            ));
                        }
                        if bind_bool(m, "ReadOnlyNonRecursive") {
                            return Err(DaemonError::InvalidParameter(
                                "invalid mount config: 'ReadOnlyNonRecursive' and 'ReadOnlyForceRecursive' cannot both be true".into(),
                            ));
                        }
                        let p = m
                            .bind_options
                            .as_ref()
                            .and_then(|b| b.get("Propagation"))
                            .and_then(|p| p.as_str())
                            .unwrap_or_default();
                        if !matches!(p, "" | "rprivate") {
                            return Err(DaemonError::InvalidParameter(format!(
                                "invalid mount config: option 'ReadOnlyForceRecursive' requires propagation to be 'rprivate', not {p:?}"
                            )));
                        }
                    }
                    _ if is_unset(v) => {}
                    other => {
                        return Err(refuse(
                            &format!("HostConfig.Mounts[].BindOptions.{other}"),
                            "this bind option is not implemented",
                        ))
                    }
                }
            }
        }
        "tmpfs" => {
            for (k, v) in m.tmpfs_options.iter().flatten() {
                match k.as_str() {
                    "SizeBytes" | "Mode" => {
                        if v.as_i64().is_none_or(|n| n < 0) && !v.is_null() {
                            return Err(DaemonError::InvalidParameter(format!(
                                "invalid tmpfs option {k}: {v}"
                            )));
                        }
                    }
                    "Options" => {
                        tmpfs_flags(v)?;
                    }
                    _ if is_unset(v) => {}
                    other => {
                        return Err(refuse(
                            &format!("HostConfig.Mounts[].TmpfsOptions.{other}"),
                            "this tmpfs option is not implemented",
                        ))
                    }
                }
            }
        }
        "volume" => {
            if !m.source.is_empty() && !super::volume::store::valid_name(&m.source) {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid mount config for type \"volume\": invalid volume name {:?}",
                    m.source
                )));
            }
            if let Some(opts) = m.volume_options.as_ref().and_then(|o| o.as_object()) {
                for (k, v) in opts {
                    match k.as_str() {
                        "NoCopy" | "Subpath" => {}
                        "DriverConfig"
                            if v.get("Name")
                                .and_then(|n| n.as_str())
                                .is_none_or(|n| n.is_empty() || n == "local")
                                && v.get("Options").is_none_or(is_unset) => {}
                        _ if is_unset(v) => {}
                        other => {
                            return Err(refuse(
                                &format!("HostConfig.Mounts[].VolumeOptions.{other}"),
                                "this volume option is not implemented",
                            ))
                        }
                    }
                }
            }
        }
        "image" => {
            if m.source.is_empty() {
                return Err(DaemonError::InvalidParameter(
                    "invalid mount config for type \"image\": source (the image) is required"
                        .into(),
                ));
            }
            for (k, v) in m.image_options.iter().flat_map(|o| o.as_object()).flatten() {
                match k.as_str() {
                    "Subpath" => {
                        let sub = v.as_str().unwrap_or_default();
                        image_subpath_ok(sub)?;
                    }
                    _ if is_unset(v) => {}
                    other => {
                        return Err(refuse(
                            &format!("HostConfig.Mounts[].ImageOptions.{other}"),
                            "this image option is not implemented",
                        ))
                    }
                }
            }
        }
        "npipe" | "cluster" => {
            return Err(refuse(
                "HostConfig.Mounts[].Type",
                &format!(
                    "mounts of type \"{}\" are not implemented yet (bind and tmpfs are)",
                    m.kind
                ),
            ))
        }
        other => {
            return Err(DaemonError::InvalidParameter(format!(
                "mount type unknown: \"{other}\""
            )))
        }
    }
    if (m.kind != "volume" && m.volume_options.as_ref().is_some_and(|v| !is_unset(v)))
        || (m.kind != "image" && m.image_options.as_ref().is_some_and(|v| !is_unset(v)))
    {
        return Err(DaemonError::InvalidParameter(format!(
            "VolumeOptions and ImageOptions do not apply to a mount of type \"{}\"",
            m.kind
        )));
    }
    Ok(())
}

/// Checks a create request: Docker's validation messages where Docker has them, and a
/// refusal naming the field for everything berth does not (yet) do.
pub fn validate(req: &CreateRequest) -> Result<()> {
    refuse_unmodeled("", &req.other)?;
    let hc = &req.host_config;
    refuse_unmodeled("HostConfig.", &hc.other)?;
    validate_config(req)?;
    validate_resources(hc)?;
    pid_mode(hc)?;
    ipc_mode(hc)?;
    cgroupns_mode(hc)?;
    if uts_mode(hc)? == NamespaceMode::Host && !req.config.hostname.is_empty() {
        return Err(DaemonError::InvalidParameter(
            "Conflicting options: hostname and the UTS mode".into(),
        ));
    }
    let bad = |m: &str| Err(DaemonError::InvalidParameter(m.to_string()));
    if network_donor(hc).is_some() {
        check_container_network(req)?;
    }
    super::restart_policy::Policy::parse(&hc.restart_policy)?;
    let ports = super::network::port_requests(hc, &req.config)?;
    // With the host's network a port is the host's already: dockerd warns and runs.
    if !ports.is_empty() && hc.network_mode == "none" {
        return Err(refuse(
            "HostConfig.PortBindings",
            &format!(
                "ports cannot be published with network mode {}",
                hc.network_mode
            ),
        ));
    }
    if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
        return bad("can't create 'AutoRemove' container with restart policy");
    }
    for b in hc.binds.iter().flatten() {
        super::bind::Bind::parse(b)?;
    }
    for m in hc.mounts.iter().flatten() {
        check_mount(m)?;
    }
    for (dst, _) in hc.tmpfs.iter().flatten() {
        if !dst.starts_with('/') {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
    }
    for u in hc.ulimits.iter().flatten() {
        super::spec::process::rlimit_type(&u.name)?;
        if u.soft < 0 || u.hard < 0 {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid ulimit {}: soft and hard limits must be 0 or more (got {}:{})",
                u.name, u.soft, u.hard
            )));
        }
        if u.soft > u.hard {
            return Err(DaemonError::InvalidParameter(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                u.soft, u.hard
            )));
        }
    }
    for (key, _) in hc.sysctls.iter().flatten() {
        check_sysctl(key, hc)?;
    }
    devices(hc)?;
    for rule in hc.device_cgroup_rules.iter().flatten() {
        berth_runtime::cgroups::devices::Rule::parse(rule).map_err(|_| {
            DaemonError::InvalidParameter(format!("invalid device cgroup rule: {rule:?}"))
        })?;
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(DaemonError::InvalidParameter(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    super::spec::capabilities(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        hc.privileged,
    )?;
    super::security_opt::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    if let Some(s) = &req.config.stop_signal {
        super::parse_signal(s)?;
    }
    if !matches!(hc.volume_driver.as_str(), "" | "local") {
        return Err(DaemonError::NotFound(format!(
            "error looking up volume plugin {}: plugin \"{}\" not found",
            hc.volume_driver, hc.volume_driver
        )));
    }
    for h in hc.extra_hosts.iter().flatten() {
        super::network::extra_host(h, None)?;
    }
    for l in hc.links.iter().flatten() {
        super::network::parse_link(l)?;
    }
    for ns in hc.dns.iter().flatten() {
        ns.parse::<std::net::IpAddr>().map_err(|_| {
            DaemonError::InvalidParameter(format!("HostConfig.Dns: {ns} is not an IP address"))
        })?;
    }
    // Fields berth models but does not implement yet: named, never ignored.
    let not_yet: [(&str, bool, &str); 6] = [
        (
            "HostConfig.Cgroup",
            !hc.cgroup.is_empty(),
            "sharing another container's cgroup is not implemented",
        ),
        (
            "HostConfig.UsernsMode",
            !matches!(hc.userns_mode.as_str(), "" | "host"),
            "user namespaces are not implemented; containers run in the host's",
        ),
        (
            "HostConfig.Isolation",
            !matches!(hc.isolation.as_str(), "" | "default"),
            "only the default isolation exists on Linux",
        ),
        (
            "HostConfig.CpuRealtimePeriod",
            hc.cpu_realtime_period != 0,
            "real-time CPU scheduling is not implemented",
        ),
        (
            "HostConfig.CpuRealtimeRuntime",
            hc.cpu_realtime_runtime != 0,
            "real-time CPU scheduling is not implemented",
        ),
        (
            "HostConfig.MemoryReservation",
            hc.memory_reservation != 0,
            "memory reservations are not implemented yet",
        ),
    ];
    if let Some((field, _, why)) = not_yet.iter().find(|(_, set, _)| *set) {
        return Err(refuse(field, why));
    }
    if hc.oom_kill_disable == Some(true) {
        return Err(refuse(
            "HostConfig.OomKillDisable",
            "disabling the OOM killer is not implemented",
        ));
    }
    if hc.memory_swappiness.is_some_and(|s| s != -1) {
        return Err(refuse(
            "HostConfig.MemorySwappiness",
            "setting swappiness is not implemented",
        ));
    }
    let driver = super::logs::Driver::parse(&hc.log_config.kind)?;
    super::logs::LogOptions::parse_for(driver, hc.log_config.config.as_ref(), &Default::default())?;
    Ok(())
}

/// The Config of a commit request: what an image's config cannot hold, or berth does not
/// keep in one, is refused by name.
pub fn check_commit_config(c: &berth_api::container::Config) -> Result<()> {
    let set = [
        ("Config.Hostname", !c.hostname.is_empty()),
        ("Config.Domainname", !c.domainname.is_empty()),
        ("Config.StopTimeout", c.stop_timeout.is_some()),
        (
            "Config.MacAddress",
            c.mac_address.as_ref().is_some_and(|m| !m.is_empty()),
        ),
    ];
    match set.iter().find(|(_, s)| *s) {
        Some((field, _)) => Err(refuse(
            field,
            "an image made by commit does not keep this setting",
        )),
        None => Ok(()),
    }
}

fn validate_config(req: &CreateRequest) -> Result<()> {
    let cfg = &req.config;
    let nul = |field: &str, s: &str| -> Result<()> {
        if s.contains('\0') {
            return Err(DaemonError::InvalidParameter(format!(
                "{field} contains a NUL byte"
            )));
        }
        Ok(())
    };
    for e in cfg.env.iter().flatten() {
        nul("Config.Env", e)?;
    }
    for a in cfg.cmd.iter().flat_map(|c| c.0.iter()) {
        nul("Config.Cmd", a)?;
    }
    for a in cfg.entrypoint.iter().flat_map(|c| c.0.iter()) {
        nul("Config.Entrypoint", a)?;
    }
    nul("Config.WorkingDir", &cfg.working_dir)?;
    nul("Config.User", &cfg.user)?;
    nul("Config.Hostname", &cfg.hostname)?;
    if let Some(h) = &cfg.healthcheck {
        super::health::config::validate(h)?;
    }
    if let Some(v) = cfg
        .labels
        .as_ref()
        .and_then(|l| l.get(super::health::config::ON_FAILURE_LABEL))
    {
        super::health::config::OnFailure::parse(v)?;
    }
    for dest in cfg.volumes.iter().flatten().map(|(k, _)| k) {
        if !dest.starts_with('/') {
            return Err(DaemonError::InvalidParameter(format!(
                "Config.Volumes: invalid mount path: '{dest}' mount path must be absolute"
            )));
        }
    }
    if cfg.network_disabled == Some(true)
        && !matches!(req.host_config.network_mode.as_str(), "none")
    {
        return Err(refuse(
            "Config.NetworkDisabled",
            "use NetworkMode \"none\" for a container without a network",
        ));
    }
    Ok(())
}

pub(crate) fn validate_resources(hc: &HostConfig) -> Result<()> {
    let bad = |m: &str| Err(DaemonError::InvalidParameter(m.to_string()));
    if hc.memory < 0 {
        return bad("invalid memory limit: must be positive");
    }
    if hc.memory != 0 && hc.memory < MIN_MEMORY {
        return bad("Minimum memory limit allowed is 6MB");
    }
    // The kernel takes a page-aligned i64 at most; above the machine's memory is no limit.
    if hc.memory > i64::MAX / 2 || hc.memory_swap > i64::MAX / 2 {
        return bad("invalid memory limit: too large");
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    if hc.memory_swap > 0 && hc.memory == 0 {
        return bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        );
    }
    if hc.memory_swap < -1 {
        return bad("invalid memory swap limit: must be -1 (unlimited), 0 or positive");
    }
    if hc.nano_cpus != 0 && (hc.cpu_quota != 0 || hc.cpu_period != 0) {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if hc.nano_cpus < 0 || hc.nano_cpus > ncpu * 1_000_000_000 {
        return Err(DaemonError::InvalidParameter(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if hc.cpu_period != 0 && !(1000..=1_000_000).contains(&hc.cpu_period) {
        return bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        );
    }
    if hc.cpu_quota > 0 && hc.cpu_quota < 1000 {
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    if hc.cpu_shares < 0 {
        return bad("invalid CPU shares: must be positive");
    }
    // pids.max takes at most 2^22 (PID_MAX_LIMIT) meaningfully; 0 and -1 mean unlimited.
    if let Some(p) = hc.pids_limit {
        if !(-1..=4_194_304).contains(&p) {
            return bad("invalid PIDs limit: must be -1 (unlimited), 0 or at most 4194304");
        }
    }
    if hc.shm_size < 0 {
        return bad("SHM size can not be less than 0");
    }
    if !hc.cpuset_cpus.is_empty() {
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
        check_cpuset("cpusets", &hc.cpuset_cpus, &online)?;
    }
    if !hc.cpuset_mems.is_empty() {
        let online = std::fs::read_to_string("/sys/devices/system/node/online")
            .unwrap_or_else(|_| "0".into());
        check_cpuset("memory nodes", &hc.cpuset_mems, &online)?;
    }
    if !hc.cgroup_parent.is_empty() && hc.cgroup_parent.split('/').any(|p| p == ".." || p == ".") {
        return bad("invalid CgroupParent: it may not contain '.' or '..'");
    }
    Ok(())
}

/// `TmpfsOptions.Options` (API 1.46): `[["noexec"], ["nr_inodes", "1000"]]` as mount
/// options. Only flags that keep the mount a plain tmpfs are taken, each checked.
pub fn tmpfs_flags(v: &serde_json::Value) -> Result<Vec<String>> {
    let bad = |why: String| {
        DaemonError::InvalidParameter(format!("HostConfig.Mounts[].TmpfsOptions.Options: {why}"))
    };
    let mut out = vec![];
    for opt in v.as_array().into_iter().flatten() {
        let parts: Vec<&str> = opt
            .as_array()
            .ok_or_else(|| bad(format!("{opt} is not a list of strings")))?
            .iter()
            .map(|p| {
                p.as_str()
                    .ok_or_else(|| bad(format!("{opt} is not a list of strings")))
            })
            .collect::<Result<_>>()?;
        match parts.as_slice() {
            [flag @ ("exec" | "noexec" | "nosuid" | "nodev")] => out.push(flag.to_string()),
            ["nr_inodes", n] if n.parse::<u64>().is_ok() => out.push(format!("nr_inodes={n}")),
            ["huge", h @ ("never" | "always" | "within_size" | "advise")] => {
                out.push(format!("huge={h}"))
            }
            other => {
                return Err(bad(format!(
                    "{other:?} is not an option berth takes (exec, noexec, nosuid, nodev, nr_inodes N, huge never|always|within_size|advise)"
                )))
            }
        }
    }
    Ok(out)
}

/// `ImageOptions.Subpath`: a path inside the image, relative and without `..`, as Docker
/// asks (where it leads is resolved beneath the image's root when mounted).
fn image_subpath_ok(sub: &str) -> Result<()> {
    let p = std::path::Path::new(sub);
    let local = !sub.is_empty()
        && p.is_relative()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if local {
        Ok(())
    } else {
        Err(DaemonError::InvalidParameter(format!(
            "invalid mount config for type \"image\": subpath must be a relative path within the image (ImageOptions.Subpath {sub:?})"
        )))
    }
}

/// `ImageOptions.Subpath` of an image mount, when it names one.
pub fn image_subpath(m: &berth_api::container::Mount) -> Option<&str> {
    m.image_options
        .as_ref()
        .and_then(|o| o.get("Subpath"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// A boolean bind option of a mount (false when unset).
pub fn bind_bool(m: &berth_api::container::Mount, key: &str) -> bool {
    m.bind_options
        .as_ref()
        .and_then(|b| b.get(key))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: serde_json::Value) -> CreateRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unmodeled_fields_are_refused_by_name_when_set() {
        let ok = req(
            serde_json::json!({"Image": "x", "HostConfig": {"BlkioWeight": 0, "DeviceCgroupRules": null, "Annotations": {}}}),
        );
        validate(&ok).unwrap();
        let e = validate(&req(
            serde_json::json!({"Image": "x", "HostConfig": {"BlkioWeight": 300}}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("HostConfig.BlkioWeight"), "{e}");
        let e = validate(&req(serde_json::json!({"Image": "x", "Frobnicate": true}))).unwrap_err();
        assert!(e.to_string().contains("Frobnicate"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_at_create() {
        for v in [
            serde_json::json!({"Image": "x", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": -1, "Hard": -1}]}}),
            serde_json::json!({"Image": "x", "Env": ["A=\u{0}"]}),
            serde_json::json!({"Image": "x", "WorkingDir": "/a\u{0}b"}),
            serde_json::json!({"Image": "x", "Cmd": ["a\u{0}"]}),
            serde_json::json!({"Image": "x", "HostConfig": {"Memory": i64::MAX}}),
            serde_json::json!({"Image": "x", "HostConfig": {"PidsLimit": i64::MAX}}),
            serde_json::json!({"Image": "x", "HostConfig": {"OomScoreAdj": 5000}}),
            serde_json::json!({"Image": "x", "HostConfig": {"Sysctls": {"kernel.hostname": "x"}}}),
            serde_json::json!({"Image": "x", "HostConfig": {"CpusetCpus": "0-4095"}}),
            serde_json::json!({"Image": "x", "HostConfig": {"PidMode": "bogus"}}),
        ] {
            assert!(validate(&req(v.clone())).is_err(), "{v} was accepted");
        }
    }

    #[test]
    fn cpusets_are_checked_against_the_machine() {
        check_cpuset("cpusets", "0-1", "0-3").unwrap();
        check_cpuset("cpusets", "0,2", "0-3").unwrap();
        assert!(check_cpuset("cpusets", "5", "0-3").is_err());
        assert!(check_cpuset("cpusets", "x", "0-3").is_err());
    }
}
