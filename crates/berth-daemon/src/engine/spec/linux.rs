//! The spec's `linux` section: namespaces, cgroup resources and device rules, device
//! nodes, seccomp, sysctls, masked and read-only paths.

use super::process::built;
use super::{SpecInput, MASKED_PATHS, READONLY_PATHS};
use crate::engine::host_config::{self, NamespaceMode};
use crate::error::{DaemonError, Result};
use oci_spec::runtime::{
    Linux, LinuxBuilder, LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxIdMappingBuilder, LinuxMemoryBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};

/// A namespace to create, or (`container:`) the running donor's to join; None to stay in
/// the host's.
fn namespace(
    typ: LinuxNamespaceType,
    name: &str,
    mode: &NamespaceMode,
    donor_pid: Option<i32>,
) -> Result<Option<LinuxNamespace>> {
    let ns = match mode {
        NamespaceMode::Host => return Ok(None),
        NamespaceMode::Container(c) => {
            let pid = donor_pid.ok_or_else(|| {
                DaemonError::Conflict(format!(
                    "cannot join the {name} namespace of container {c}: it is not running"
                ))
            })?;
            LinuxNamespaceBuilder::default()
                .typ(typ)
                .path(format!("/proc/{pid}/ns/{name}"))
        }
        _ => LinuxNamespaceBuilder::default().typ(typ),
    };
    ns.build().map(Some).map_err(built)
}

fn namespaces(input: &SpecInput, ipc: &NamespaceMode) -> Result<Vec<LinuxNamespace>> {
    let hc = &input.record.host_config;
    let mut out: Vec<LinuxNamespace> = [
        namespace(
            LinuxNamespaceType::Pid,
            "pid",
            &host_config::pid_mode(hc)?,
            input.shared.pid,
        )?,
        namespace(
            LinuxNamespaceType::Ipc,
            "ipc",
            ipc,
            input.shared.ipc.as_ref().map(|(pid, _)| *pid),
        )?,
        namespace(
            LinuxNamespaceType::Uts,
            "uts",
            &host_config::uts_mode(hc)?,
            None,
        )?,
        namespace(
            LinuxNamespaceType::Mount,
            "mnt",
            &NamespaceMode::Private,
            None,
        )?,
        namespace(
            LinuxNamespaceType::Cgroup,
            "cgroup",
            &host_config::cgroupns_mode(hc)?,
            None,
        )?,
    ]
    .into_iter()
    .flatten()
    .collect();
    let net = match host_config::network_donor(hc) {
        Some(c) => NamespaceMode::Container(c.into()),
        None if hc.network_mode == "host" => NamespaceMode::Host,
        None => NamespaceMode::Private,
    };
    out.extend(namespace(
        LinuxNamespaceType::Network,
        "net",
        &net,
        input.shared.net,
    )?);
    // A pod's container joins the namespaces its pod holds, by their files.
    if let Some(pod) = &input.record.pod {
        for (typ, path) in [
            (LinuxNamespaceType::Network, &pod.net),
            (LinuxNamespaceType::Ipc, &pod.ipc),
            (LinuxNamespaceType::Uts, &pod.uts),
            (LinuxNamespaceType::Pid, &pod.pid),
            (LinuxNamespaceType::User, &pod.user),
        ] {
            let Some(path) = path else { continue };
            out.retain(|ns| ns.typ() != typ);
            out.push(
                LinuxNamespaceBuilder::default()
                    .typ(typ)
                    .path(path.clone())
                    .build()
                    .map_err(built)?,
            );
        }
    }
    Ok(out)
}

fn device_type(kind: &str) -> Result<LinuxDeviceType> {
    serde_json::from_value(serde_json::Value::String(kind.to_string()))
        .map_err(|_| DaemonError::InvalidParameter(format!("invalid device type: {kind}")))
}

fn device_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup> {
    let mut rule = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access)
        .build()
        .map_err(built)?;
    rule.set_typ(typ);
    rule.set_major(major);
    rule.set_minor(minor);
    Ok(rule)
}

fn resources(input: &SpecInput, added: &[host_config::DeviceMapping]) -> Result<LinuxResources> {
    let hc = &input.record.host_config;
    // Privileged: every device; else none but the nodes berth makes and the user's.
    let mut rules = vec![device_rule(hc.privileged, None, None, None, "rwm")?];
    for d in added {
        rules.push(device_rule(
            true,
            Some(device_type(&d.kind.to_string())?),
            Some(d.major as i64),
            Some(d.minor as i64),
            &d.permissions,
        )?);
    }
    // Docker's default device rules, written into the spec as dockerd writes them, so
    // that an external runtime (which goes by the spec alone) allows the same nodes.
    let default_rules: &[&str] = if hc.privileged {
        &[]
    } else {
        berth_runtime::cgroups::devices::DEFAULT_RULES
    };
    let user_rules: Vec<&str> = hc
        .device_cgroup_rules
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for rule in default_rules.iter().chain(&user_rules) {
        // `c 10:229 rwm`: checked at create.
        let mut parts = rule.split_whitespace();
        let (kind, nums, access) = (parts.next(), parts.next(), parts.next());
        let (major, minor) = nums.and_then(|n| n.split_once(':')).unwrap_or(("*", "*"));
        rules.push(device_rule(
            true,
            Some(device_type(kind.unwrap_or("a"))?),
            major.parse().ok(),
            minor.parse().ok(),
            access.unwrap_or("rwm"),
        )?);
    }
    let mut resources = LinuxResourcesBuilder::default()
        .devices(rules)
        .build()
        .map_err(built)?;
    if hc.memory > 0 {
        let swap = match hc.memory_swap {
            0 => hc.memory * 2,
            s => s,
        };
        resources.set_memory(Some(
            LinuxMemoryBuilder::default()
                .limit(hc.memory)
                .swap(swap)
                .build()
                .map_err(built)?,
        ));
    }
    let mut cpu = LinuxCpuBuilder::default().build().map_err(built)?;
    if hc.cpu_shares > 0 {
        cpu.set_shares(Some(hc.cpu_shares as u64));
    }
    if hc.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.set_period(Some(period as u64));
        cpu.set_quota(Some(hc.nano_cpus * period / 1_000_000_000));
    } else {
        if hc.cpu_period > 0 {
            cpu.set_period(Some(hc.cpu_period as u64));
        }
        if hc.cpu_quota != 0 {
            cpu.set_quota(Some(hc.cpu_quota));
        }
    }
    if !hc.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(hc.cpuset_cpus.clone()));
    }
    if !hc.cpuset_mems.is_empty() {
        cpu.set_mems(Some(hc.cpuset_mems.clone()));
    }
    if cpu != LinuxCpuBuilder::default().build().map_err(built)? {
        resources.set_cpu(Some(cpu));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        resources.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(p)
                .build()
                .map_err(built)?,
        ));
    }
    Ok(resources)
}

fn device_node(
    path: &str,
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
) -> Result<LinuxDevice> {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(typ)
        .major(major)
        .minor(minor)
        .file_mode(mode)
        .uid(0u32)
        .gid(0u32)
        .build()
        .map_err(built)
}

fn devices(added: &[host_config::DeviceMapping]) -> Result<Vec<LinuxDevice>> {
    let c = LinuxDeviceType::C;
    let mut out = vec![
        device_node("/dev/null", c, 1, 3, 0o666)?,
        device_node("/dev/zero", c, 1, 5, 0o666)?,
        device_node("/dev/full", c, 1, 7, 0o666)?,
        device_node("/dev/random", c, 1, 8, 0o666)?,
        device_node("/dev/urandom", c, 1, 9, 0o666)?,
        device_node("/dev/tty", c, 5, 0, 0o666)?,
    ];
    for d in added {
        out.push(device_node(
            &d.path_in_container,
            device_type(&d.kind.to_string())?,
            d.major as i64,
            d.minor as i64,
            d.file_mode,
        )?);
    }
    Ok(out)
}

pub(super) fn linux(input: &SpecInput, ipc: &NamespaceMode, caps: &[String]) -> Result<Linux> {
    let r = input.record;
    let hc = &r.host_config;
    let security = crate::engine::security_opt::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let added = host_config::devices(hc)?;
    // Every field is set: the builder fills unset ones from Linux::default(), which is
    // not Docker's.
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces(input, ipc)?)
        .cgroups_path(crate::engine::reconcile::cgroup_path(
            &hc.cgroup_parent,
            input.cgroup_parent,
            &r.id,
        ))
        .resources(resources(input, &added)?)
        .devices(devices(&added)?)
        .build()
        .map_err(built)?;
    linux.set_seccomp(
        match crate::engine::seccomp::profile_for(&security.seccomp, hc.privileged) {
            Some(profile) => Some(crate::engine::seccomp::oci_seccomp(profile, caps)?),
            None => None,
        },
    );
    if let Some((uids, gids)) = r.pod.as_ref().and_then(|p| p.id_maps) {
        let mapping = |m: berth_runtime::pod_userns::IdMap| {
            LinuxIdMappingBuilder::default()
                .container_id(m.container)
                .host_id(m.host)
                .size(m.size)
                .build()
                .map_err(built)
        };
        linux.set_uid_mappings(Some(vec![mapping(uids)?]));
        linux.set_gid_mappings(Some(vec![mapping(gids)?]));
    }
    linux.set_sysctl(
        hc.sysctls
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| s.clone().into_iter().collect()),
    );
    if hc.privileged || security.unconfined_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        let own = |given: &Option<Vec<String>>, default: &[&str]| {
            given
                .clone()
                .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
        };
        linux.set_masked_paths(Some(own(&hc.masked_paths, MASKED_PATHS)));
        linux.set_readonly_paths(Some(own(&hc.readonly_paths, READONLY_PATHS)));
    }
    Ok(linux)
}
