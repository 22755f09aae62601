//! A CRI container config (with its pod's) as a Docker create request. Every field is
//! honoured or refused by name; the engine then checks the request as it checks one from
//! the Engine API.

use crate::error::{CriError, Result};
use crate::proto::{
    self, ContainerConfig, LinuxContainerResources, LinuxContainerSecurityContext, NamespaceMode,
    PodSandboxConfig, SecurityProfile,
};
use crate::sandbox::Sandbox;
use berth_api::container::CreateRequest;
use serde_json::{json, Map, Value};

fn unsupported(field: &str, why: &str) -> CriError {
    CriError::unsupported(field, why)
}

/// Namespace modes of a container, as CRI sets them (POD is the default).
fn mode(v: i32, field: &str) -> Result<NamespaceMode> {
    NamespaceMode::try_from(v)
        .map_err(|_| CriError::InvalidArgument(format!("{field}: unknown namespace mode {v}")))
}

/// The seccomp profile as Docker's security option.
fn seccomp(p: Option<&SecurityProfile>, path: &str, field: &str) -> Result<Option<String>> {
    use proto::security_profile::ProfileType;
    if !path.is_empty() {
        return Err(unsupported(
            &format!("{field}_profile_path"),
            "deprecated; use seccomp",
        ));
    }
    let Some(p) = p else {
        // Unset means Unconfined in CRI (critest checks it); the kubelet always sends
        // the profile it means.
        return Ok(Some("seccomp=unconfined".into()));
    };
    match ProfileType::try_from(p.profile_type) {
        Ok(ProfileType::RuntimeDefault) => Ok(None),
        Ok(ProfileType::Unconfined) => Ok(Some("seccomp=unconfined".into())),
        Ok(ProfileType::Localhost) => {
            let text = std::fs::read_to_string(&p.localhost_ref).map_err(|e| {
                CriError::InvalidArgument(format!(
                    "{field}: cannot read the Localhost seccomp profile {:?}: {e}",
                    p.localhost_ref
                ))
            })?;
            Ok(Some(format!("seccomp={text}")))
        }
        Err(_) => Err(CriError::InvalidArgument(format!(
            "{field}: unknown seccomp profile type {}",
            p.profile_type
        ))),
    }
}

/// AppArmor: berth confines with seccomp, capabilities and namespaces but has no
/// AppArmor; the runtime's default and Unconfined are what it runs, a named profile is
/// refused.
fn apparmor(p: Option<&SecurityProfile>, name: &str) -> Result<()> {
    use proto::security_profile::ProfileType;
    let localhost = p.is_some_and(|p| p.profile_type == ProfileType::Localhost as i32);
    let named = !name.is_empty() && name != "runtime/default" && name != "unconfined";
    if localhost || named {
        return Err(unsupported(
            "linux.security_context.apparmor",
            "berth has no AppArmor support",
        ));
    }
    Ok(())
}

fn resources(r: &LinuxContainerResources, hc: &mut Map<String, Value>) -> Result<()> {
    if !r.unified.is_empty() {
        return Err(unsupported(
            "linux.resources.unified",
            "cgroup v2 files by name are not implemented",
        ));
    }
    if r.hugepage_limits.iter().any(|h| h.limit != 0) {
        return Err(unsupported(
            "linux.resources.hugepage_limits",
            "hugetlb limits are not implemented",
        ));
    }
    hc.insert("CpuPeriod".into(), r.cpu_period.into());
    hc.insert("CpuQuota".into(), r.cpu_quota.into());
    hc.insert("CpuShares".into(), r.cpu_shares.into());
    hc.insert("Memory".into(), r.memory_limit_in_bytes.into());
    if r.memory_swap_limit_in_bytes != 0 {
        hc.insert("MemorySwap".into(), r.memory_swap_limit_in_bytes.into());
    }
    hc.insert("CpusetCpus".into(), r.cpuset_cpus.clone().into());
    hc.insert("CpusetMems".into(), r.cpuset_mems.clone().into());
    hc.insert("OomScoreAdj".into(), r.oom_score_adj.into());
    Ok(())
}

/// The resources of an update, as the body of Docker's container update.
pub fn update_body(r: &LinuxContainerResources) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    resources(r, &mut body)?;
    // An update changes limits; the OOM score is fixed at start, as with runc.
    body.remove("OomScoreAdj");
    Ok(body)
}

// The deprecated profile fields are read to refuse or honour them, never ignored.
#[allow(deprecated)]
fn security(
    sc: &LinuxContainerSecurityContext,
    sandbox: &Sandbox,
    cfg: &mut Map<String, Value>,
    hc: &mut Map<String, Value>,
) -> Result<()> {
    use proto::SupplementalGroupsPolicy;
    if let Some(caps) = &sc.capabilities {
        if !caps.add_ambient_capabilities.is_empty() {
            return Err(unsupported(
                "linux.security_context.capabilities.add_ambient_capabilities",
                "ambient capabilities are not implemented",
            ));
        }
        hc.insert("CapAdd".into(), json!(caps.add_capabilities));
        hc.insert("CapDrop".into(), json!(caps.drop_capabilities));
    }
    hc.insert("Privileged".into(), sc.privileged.into());
    if sc.selinux_options.as_ref().is_some_and(|o| {
        !(o.user.is_empty() && o.role.is_empty() && o.r#type.is_empty() && o.level.is_empty())
    }) {
        return Err(unsupported(
            "linux.security_context.selinux_options",
            "berth has no SELinux support",
        ));
    }
    // The user: a name, or a uid with an optional gid.
    let user = match (
        &sc.run_as_user,
        &sc.run_as_group,
        sc.run_as_username.as_str(),
    ) {
        (Some(u), Some(g), _) => format!("{}:{}", u.value, g.value),
        (Some(u), None, _) => u.value.to_string(),
        (None, Some(_), "") => {
            return Err(CriError::InvalidArgument(
                "linux.security_context.run_as_group needs run_as_user or run_as_username".into(),
            ))
        }
        (None, Some(g), name) => format!("{name}:{}", g.value),
        (None, None, name) => name.to_string(),
    };
    if !user.is_empty() {
        cfg.insert("User".into(), user.into());
    }
    hc.insert("ReadonlyRootfs".into(), sc.readonly_rootfs.into());
    hc.insert(
        "GroupAdd".into(),
        json!(sc
            .supplemental_groups
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()),
    );
    // Merge is the engine's way; Strict reaches it through the pod link (strict_groups).
    if SupplementalGroupsPolicy::try_from(sc.supplemental_groups_policy).is_err() {
        return Err(CriError::InvalidArgument(format!(
            "linux.security_context.supplemental_groups_policy: unknown policy {}",
            sc.supplemental_groups_policy
        )));
    }
    let mut opts = vec![format!("no-new-privileges={}", sc.no_new_privs)];
    let profile = seccomp(
        sc.seccomp.as_ref(),
        &sc.seccomp_profile_path,
        "linux.security_context.seccomp",
    )?;
    // CRI: a privileged container runs without seccomp, whatever profile it names
    // (the profile is still checked above).
    match profile {
        _ if sc.privileged => opts.push("seccomp=unconfined".into()),
        Some(s) => opts.push(s),
        None => {}
    }
    apparmor(sc.apparmor.as_ref(), &sc.apparmor_profile)?;
    hc.insert("SecurityOpt".into(), json!(opts));
    // The kubelet sends Docker's lists (or empty ones for privileged and Unmasked).
    hc.insert("MaskedPaths".into(), json!(sc.masked_paths));
    hc.insert("ReadonlyPaths".into(), json!(sc.readonly_paths));
    namespaces(sc.namespace_options.as_ref(), sc.privileged, sandbox, hc)
}

fn namespaces(
    ns: Option<&proto::NamespaceOption>,
    sc_privileged: bool,
    sandbox: &Sandbox,
    hc: &mut Map<String, Value>,
) -> Result<()> {
    // A container that does not say takes its pod's modes.
    let pod_ns = pod_namespace_options(sandbox);
    let ns = ns.unwrap_or(&pod_ns);
    let held = &sandbox.record.held;
    // A container is in its pod's user namespace, or the host's when the pod is: it
    // may restate the pod's, never ask for another.
    let own = crate::sandbox::userns::requested(ns)?;
    if ns.userns_options.is_some() && own != held.id_maps {
        return Err(CriError::InvalidArgument(format!(
            "linux.security_context.namespace_options.userns_options: a container's user namespace is its pod's ({})",
            if held.id_maps.is_some() { "POD, with the pod's ranges" } else { "NODE" }
        )));
    }
    if held.user.is_some() && sc_privileged {
        return Err(CriError::InvalidArgument(
            "linux.security_context.privileged: a container in a pod's user namespace cannot be privileged".into(),
        ));
    }
    // The network and IPC namespaces are the pod's (which may be the host's).
    hc.insert(
        "NetworkMode".into(),
        if held.net.is_some() { "none" } else { "host" }.into(),
    );
    hc.insert(
        "IpcMode".into(),
        if held.ipc.is_some() {
            "private"
        } else {
            "host"
        }
        .into(),
    );
    let pid = match mode(ns.pid, "namespace_options.pid")? {
        NamespaceMode::Container => String::new(),
        NamespaceMode::Node => "host".into(),
        NamespaceMode::Target => {
            if ns.target_id.is_empty() {
                return Err(CriError::InvalidArgument(
                    "namespace_options.pid is TARGET without a target_id".into(),
                ));
            }
            format!("container:{}", ns.target_id)
        }
        // The pod's (the container joins it by its file, see `pod_pid`).
        NamespaceMode::Pod if held.pid.is_some() => String::new(),
        NamespaceMode::Pod => {
            return Err(CriError::InvalidArgument(
                "namespace_options.pid is POD, but the pod does not share a PID namespace".into(),
            ))
        }
    };
    hc.insert("PidMode".into(), pid.into());
    Ok(())
}

/// The namespace modes the pod was made with.
fn pod_namespace_options(sandbox: &Sandbox) -> proto::NamespaceOption {
    sandbox
        .config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_default()
}

/// The pod's PID namespace file, when the container shares it.
pub fn pod_pid(c: &ContainerConfig, sandbox: &Sandbox) -> Option<std::path::PathBuf> {
    let pid = c
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_else(|| pod_namespace_options(sandbox))
        .pid;
    if pid == NamespaceMode::Pod as i32 {
        sandbox.record.held.pid.clone()
    } else {
        None
    }
}

/// The container paths of the mounts the kubelet asks to be ID-mapped (a pod in a user
/// namespace: its volumes show the host's 0 as the pod's 0). The mapping must be the
/// pod's own; berth maps them with the pod's user namespace.
pub fn idmapped_mounts(c: &ContainerConfig, sandbox: &Sandbox) -> Result<Vec<std::path::PathBuf>> {
    let mut out = vec![];
    for (i, m) in c.mounts.iter().enumerate() {
        if m.uid_mappings.is_empty() && m.gid_mappings.is_empty() {
            continue;
        }
        let field = format!("mounts[{i}].uid_mappings");
        let as_pods = |maps: &[proto::IdMapping], pod: Option<berth_runtime::pod_userns::IdMap>| matches!((maps, pod), ([m], Some(p)) if m.container_id == p.container && m.host_id == p.host && m.length == p.size);
        let pod = sandbox.record.held.id_maps;
        if !as_pods(&m.uid_mappings, pod.map(|p| p.0))
            || !as_pods(&m.gid_mappings, pod.map(|p| p.1))
        {
            return Err(CriError::InvalidArgument(format!(
                "{field}: an ID-mapped mount takes its pod's user namespace ranges (one uid and one gid range, as the pod's)"
            )));
        }
        if m.image.as_ref().is_some_and(|img| !img.image.is_empty()) {
            return Err(unsupported(&field, "image volumes are not ID-mapped"));
        }
        out.push(std::path::PathBuf::from(&m.container_path));
    }
    Ok(out)
}

fn mounts(c: &ContainerConfig, sandbox: &Sandbox) -> Result<Vec<Value>> {
    use proto::MountPropagation;
    idmapped_mounts(c, sandbox)?;
    let mut out = vec![];
    for (i, m) in c.mounts.iter().enumerate() {
        let field = |f: &str| format!("mounts[{i}].{f}");
        // Recursive read-only needs a read-only, private mount (as the kubelet checks).
        if m.recursive_read_only && !m.readonly {
            return Err(CriError::InvalidArgument(format!(
                "{}: a recursive read-only mount must also set readonly",
                field("recursive_read_only")
            )));
        }
        if m.recursive_read_only && m.propagation != MountPropagation::PropagationPrivate as i32 {
            return Err(CriError::InvalidArgument(format!(
                "{}: a recursive read-only mount must have private propagation",
                field("recursive_read_only")
            )));
        }
        if !m.mount_options.is_empty() {
            return Err(unsupported(
                &field("mount_options"),
                "mount options are not implemented",
            ));
        }
        if !m.container_path.starts_with('/') {
            return Err(CriError::InvalidArgument(format!(
                "{}: {:?} is not an absolute path",
                field("container_path"),
                m.container_path
            )));
        }
        if let Some(img) = m.image.as_ref().filter(|i| !i.image.is_empty()) {
            // Its layers would need mounting from inside the user namespace, unmapped.
            if sandbox.record.held.user.is_some() {
                return Err(unsupported(
                    &field("image"),
                    "image volumes are not mounted in a pod with its own user namespace",
                ));
            }
            // An image volume is read-only (CRI asks runtimes to refuse a writable one).
            if !m.readonly {
                return Err(CriError::InvalidArgument(format!(
                    "{}: an image volume is read-only; set readonly",
                    field("readonly")
                )));
            }
            let mut mount = json!({"Type": "image", "Source": img.image, "Target": m.container_path, "ReadOnly": true});
            if !m.image_sub_path.is_empty() {
                mount["ImageOptions"] = json!({"Subpath": m.image_sub_path});
            }
            out.push(mount);
            continue;
        }
        let propagation = match MountPropagation::try_from(m.propagation) {
            Ok(MountPropagation::PropagationPrivate) => "rprivate",
            Ok(MountPropagation::PropagationHostToContainer) => "rslave",
            Ok(MountPropagation::PropagationBidirectional) => "rshared",
            Err(_) => {
                return Err(CriError::InvalidArgument(format!(
                    "{}: unknown propagation {}",
                    field("propagation"),
                    m.propagation
                )))
            }
        };
        // A host path that is missing is made as a directory, as CRI runtimes do.
        let host = std::path::Path::new(&m.host_path);
        if !host.is_absolute() {
            return Err(CriError::InvalidArgument(format!(
                "{}: {:?} is not an absolute path",
                field("host_path"),
                m.host_path
            )));
        }
        if std::fs::symlink_metadata(host).is_err() {
            std::fs::create_dir_all(host)
                .map_err(|e| CriError::io(format!("creating {}", host.display()), e))?;
        }
        // selinux_relabel has nothing to do on a host without SELinux, which berth needs.
        out.push(json!({
            "Type": "bind",
            "Source": m.host_path,
            "Target": m.container_path,
            "ReadOnly": m.readonly,
            // CRI's read-only is the mount's own flag unless recursive_read_only says more.
            "BindOptions": {
                "Propagation": propagation,
                "ReadOnlyForceRecursive": m.recursive_read_only,
                "ReadOnlyNonRecursive": m.readonly && !m.recursive_read_only,
            },
        }));
    }
    Ok(out)
}

fn signal_name(v: i32) -> Result<Option<String>> {
    use proto::Signal;
    match Signal::try_from(v) {
        Ok(Signal::RuntimeDefault) => Ok(None),
        Ok(s) => Ok(Some(s.as_str_name().to_string())),
        Err(_) => Err(CriError::InvalidArgument(format!(
            "stop_signal: unknown signal {v}"
        ))),
    }
}

/// SupplementalGroupsPolicy Strict: only the groups the config names.
pub fn strict_groups(c: &ContainerConfig) -> bool {
    c.linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .is_some_and(|sc| {
            sc.supplemental_groups_policy == proto::SupplementalGroupsPolicy::Strict as i32
        })
}

/// The Docker create request for a CRI container in `sandbox`.
pub fn create_request(
    c: &ContainerConfig,
    sandbox: &Sandbox,
    image: &str,
    labels: std::collections::BTreeMap<String, String>,
) -> Result<CreateRequest> {
    if c.windows.is_some() {
        return Err(unsupported("windows", "berth runs Linux containers"));
    }
    if !c.cdi_devices.is_empty() {
        return Err(unsupported(
            "cdi_devices",
            "CDI devices are not implemented",
        ));
    }
    let pod: &PodSandboxConfig = &sandbox.config;
    let mut cfg = Map::new();
    let mut hc = Map::new();
    cfg.insert("Image".into(), image.into());
    // Kubernetes' command is Docker's entrypoint, its args Docker's command.
    if !c.command.is_empty() {
        cfg.insert("Entrypoint".into(), json!(c.command));
    }
    if !c.args.is_empty() {
        cfg.insert("Cmd".into(), json!(c.args));
    }
    cfg.insert("WorkingDir".into(), c.working_dir.clone().into());
    cfg.insert(
        "Env".into(),
        json!(c
            .envs
            .iter()
            .map(|e| format!("{}={}", e.key, String::from_utf8_lossy(&e.value)))
            .collect::<Vec<_>>()),
    );
    cfg.insert("Labels".into(), json!(labels));
    cfg.insert("Tty".into(), c.tty.into());
    cfg.insert("OpenStdin".into(), c.stdin.into());
    cfg.insert("StdinOnce".into(), c.stdin_once.into());
    cfg.insert("AttachStdin".into(), c.stdin.into());
    if sandbox.record.held.uts.is_some() && !pod.hostname.is_empty() {
        cfg.insert("Hostname".into(), pod.hostname.clone().into());
    }
    if let Some(sig) = signal_name(c.stop_signal)? {
        cfg.insert("StopSignal".into(), sig.into());
    }
    hc.insert("Mounts".into(), Value::Array(mounts(c, sandbox)?));
    hc.insert(
        "Devices".into(),
        json!(c
            .devices
            .iter()
            .map(|d| json!({
                "PathOnHost": d.host_path,
                "PathInContainer": d.container_path,
                "CgroupPermissions": if d.permissions.is_empty() { "rwm" } else { d.permissions.as_str() },
            }))
            .collect::<Vec<_>>()),
    );
    // The kubelet restarts containers itself.
    hc.insert("RestartPolicy".into(), json!({"Name": "no"}));
    if !sandbox.record.cgroup_parent.is_empty() {
        hc.insert(
            "CgroupParent".into(),
            sandbox.record.cgroup_parent.clone().into(),
        );
    }
    let linux = c.linux.clone().unwrap_or_default();
    if let Some(r) = &linux.resources {
        resources(r, &mut hc)?;
    }
    match &linux.security_context {
        Some(sc) => security(sc, sandbox, &mut cfg, &mut hc)?,
        None => namespaces(None, false, sandbox, &mut hc)?,
    }
    // Docker's create body: the config's fields at the top, beside HostConfig.
    let mut body = cfg;
    body.insert("HostConfig".into(), Value::Object(hc));
    serde_json::from_value(Value::Object(body))
        .map_err(|e| CriError::InvalidArgument(format!("container config: {e}")))
}
