//! Docker's Config + HostConfig → an OCI runtime spec (the bundle's config.json), built
//! with oci-spec's types: the process (`process`), the mounts (`mounts`) and the `linux`
//! section (`linux`).

mod linux;
mod mounts;
pub mod process;

pub use process::{capabilities, environment, ProcessParts, DEFAULT_CAPS};

use crate::engine::container::Record;
use crate::engine::host_config::NamespaceMode;
use crate::engine::user::ResolvedUser;
use crate::error::Result;
use oci_spec::runtime::{RootBuilder, Spec};
use std::path::{Path, PathBuf};

/// /dev/shm's size when `--shm-size` is not given (Docker's).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

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
    /// The lower dirs, top first: the init layer, then the image's layers.
    pub lower: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
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
    /// Each volume's directory on the host, and where it goes.
    pub volumes: &'a [(PathBuf, super::volume::VolumeMount)],
    /// `--mount type=image`: each target and its image's layer dirs, top first.
    pub image_mounts: &'a [(String, Vec<PathBuf>)],
    /// An empty dir under the exec root: the lowest layer of a one-layer image mount
    /// (overlay wants two lower dirs when it has no upper).
    pub empty_dir: &'a Path,
}

#[derive(Debug, Clone, Default)]
pub struct SharedNamespaces {
    pub pid: Option<i32>,
    /// The network donor's host pid (`--network container:`).
    pub net: Option<i32>,
    /// The IPC donor's host pid and its /dev/shm dir (`--ipc container:`), or this
    /// container's own shareable /dev/shm (`--ipc shareable`).
    pub ipc: Option<(i32, PathBuf)>,
    pub own_shm: Option<PathBuf>,
}

pub fn generate(input: &SpecInput) -> Result<Spec> {
    let r = input.record;
    let hc = &r.host_config;
    let cfg = &r.config;
    let caps = capabilities(
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
        hc.privileged,
    )?;
    let security = super::security_opt::parse(hc.security_opt.as_deref().unwrap_or(&[]))?;
    let hostname = if cfg.hostname.is_empty() {
        r.id[..12].to_string()
    } else {
        cfg.hostname.clone()
    };
    // --init: berth's own init is pid 1 and runs the command.
    let mut args: Vec<String> = vec![];
    if hc.init == Some(true) {
        args.extend([
            berth_runtime::init_process::PATH.to_string(),
            "--".to_string(),
        ]);
    }
    args.push(r.path.clone());
    args.extend(r.args.iter().cloned());
    let process = process::oci_process(ProcessParts {
        tty: cfg.tty,
        user: input.user,
        args,
        env: environment(
            cfg.env.as_deref().unwrap_or(&[]),
            &hostname,
            &input.user.home,
            cfg.tty,
        ),
        cwd: if cfg.working_dir.is_empty() {
            "/".to_string()
        } else {
            cfg.working_dir.clone()
        },
        caps: &caps,
        no_new_privileges: security
            .no_new_privileges
            .unwrap_or(input.no_new_privileges_default),
        console_size: input.console_size,
        // Without --ulimit, the container inherits the daemon's limits, as with dockerd.
        rlimits: Some(process::rlimits(hc.ulimits.as_deref().unwrap_or(&[]))?),
        oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
    })?;
    let ipc = super::host_config::ipc_mode(hc)?;
    let root = RootBuilder::default()
        .path("rootfs")
        .readonly(hc.readonly_rootfs)
        .build()
        .map_err(process::built)?;
    // Every field is set: Spec::default() is not Docker's.
    let mut spec = Spec::default();
    spec.set_version("1.0.2".into());
    spec.set_process(Some(process));
    spec.set_root(Some(root));
    let mounts = mounts::mounts(input, &ipc)?;
    let mut linux = linux::linux(input, &ipc, &caps)?;
    linux.set_rootfs_propagation(mounts::rootfs_propagation(&mounts));
    spec.set_mounts(Some(mounts));
    spec.set_linux(Some(linux));
    spec.set_annotations(None);
    spec.set_hooks(None);
    // The host's UTS namespace keeps the host's names; a pod's was named by the pod.
    let private_uts = super::host_config::uts_mode(hc)? == NamespaceMode::Private
        && r.pod.as_ref().is_none_or(|p| p.uts.is_none());
    spec.set_hostname(private_uts.then_some(hostname));
    spec.set_domainname(
        (private_uts && !cfg.domainname.is_empty()).then(|| cfg.domainname.clone()),
    );
    Ok(spec)
}
