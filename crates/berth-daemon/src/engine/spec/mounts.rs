//! The container's mounts: rootfs overlay, the kernel filesystems, /dev/shm, the files
//! berth writes (/etc/hosts, ...), and the user's binds, tmpfs and `Mounts`.

use super::process::built;
use super::SpecInput;
use crate::engine::bind::Bind;
use crate::engine::container::Record;
use crate::engine::host_config::NamespaceMode;
use crate::error::Result;
use oci_spec::runtime::{Mount, MountBuilder};
use std::path::Path;

/// One mount; `source` is a path or a filesystem's name.
fn mount(
    destination: &str,
    typ: &str,
    source: impl AsRef<Path>,
    options: &[&str],
) -> Result<Mount> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source.as_ref())
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(built)
}

fn bind(destination: &str, source: impl AsRef<Path>) -> Result<Mount> {
    mount(destination, "bind", source, &["rbind", "rprivate"])
}

/// The propagation of the container's root: shared when a bind asks for `rshared`, so
/// mounts made under it in the container reach the host (as Docker does); otherwise the
/// runtime's default (slave: the host's mounts reach the container, not the reverse).
pub(super) fn rootfs_propagation(mounts: &[Mount]) -> Option<String> {
    let shared = mounts.iter().any(|m| {
        m.options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "shared" || o == "rshared")
    });
    shared.then(|| "rshared".to_string())
}

/// Read-only binds are read-only all the way down (mounts under the source too), as
/// Docker makes them since API 1.44, where the kernel can and the propagation is private
/// (a shared or slave bind takes mounts that come later, which no flag set now reaches);
/// a container made by an older client keeps the top-only read-only of its time.
fn recursive_readonly_by_default(record: &Record, propagation: &str) -> bool {
    !record.read_only_top_only
        && matches!(propagation, "rprivate" | "private")
        && berth_runtime::mounts::recursive_readonly_supported()
}

/// A `-v /host:/ctr` bind; its host dir is made if missing, as Docker does.
fn user_bind(record: &Record, b: &Bind) -> Result<Mount> {
    if !Path::new(&b.source).exists() {
        std::fs::create_dir_all(&b.source)?;
    }
    let mut options = vec!["rbind"];
    if b.read_only {
        options.push("ro");
        if recursive_readonly_by_default(record, b.propagation) {
            options.push("rro");
        }
    }
    options.push(b.propagation);
    if idmapped(record, &b.destination) {
        options.push("ridmap");
    }
    mount(&b.destination, "bind", &b.source, &options)
}

/// Whether a pod asked for the bind at `target` to be ID-mapped (see `PodLink`).
fn idmapped(record: &Record, target: impl AsRef<std::path::Path>) -> bool {
    record
        .pod
        .as_ref()
        .is_some_and(|p| p.idmapped.iter().any(|t| t == target.as_ref()))
}

/// `--tmpfs /run:rw,size=64m`: Docker's defaults (noexec, nosuid, nodev), then the user's.
fn tmpfs_mount(dst: &str, opts: &str) -> Result<Mount> {
    let mut options = vec!["nosuid", "nodev", "noexec"];
    options.extend(opts.split(',').filter(|o| !o.is_empty()));
    mount(dst, "tmpfs", "tmpfs", &options)
}

/// One `HostConfig.Mounts` entry (bind or tmpfs; the rest was refused at create).
fn api_mount(record: &Record, m: &berth_api::container::Mount) -> Result<Mount> {
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
            if let Some(flags) = t.get("Options") {
                opts.extend(super::super::host_config::tmpfs_flags(flags)?);
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
    let recursive = super::super::host_config::bind_bool(m, "ReadOnlyForceRecursive")
        || (!super::super::host_config::bind_bool(m, "ReadOnlyNonRecursive")
            && recursive_readonly_by_default(record, propagation));
    if m.read_only && recursive {
        options.push("rro");
    }
    if idmapped(record, &m.target) {
        options.push("ridmap");
    }
    mount(&m.target, "bind", &m.source, &options)
}

pub(super) fn mounts(input: &SpecInput, ipc: &NamespaceMode) -> Result<Vec<Mount>> {
    let r = input.record;
    let hc = &r.host_config;
    let privileged = hc.privileged;
    let lower: Vec<String> = input
        .rootfs
        .lower
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut overlay_opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        input.rootfs.upper.display(),
        input.rootfs.work.display()
    );
    if r.ephemeral {
        overlay_opts.push_str(",volatile");
    }
    let mut sys_opts = vec!["nosuid", "noexec", "nodev"];
    let mut cgroup_opts = vec!["nosuid", "noexec", "nodev", "relatime"];
    if !privileged {
        sys_opts.push("ro");
        cgroup_opts.push("ro");
    }
    let shm_size = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        super::DEFAULT_SHM_SIZE
    };
    let shm_size = format!("size={shm_size}");
    let mut mounts = vec![
        mount("/", "overlay", "overlay", &[&overlay_opts])?,
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount("/sys", "sysfs", "sysfs", &sys_opts)?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &cgroup_opts)?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    let pod_shm = r.pod.as_ref().and_then(|p| p.shm.as_ref());
    match ipc {
        _ if pod_shm.is_some() => {
            if let Some(dir) = pod_shm {
                mounts.push(bind("/dev/shm", dir)?);
            }
        }
        NamespaceMode::Private => mounts.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        )?),
        NamespaceMode::Shareable => {
            if let Some(dir) = &input.shared.own_shm {
                mounts.push(bind("/dev/shm", dir)?);
            }
        }
        NamespaceMode::Container(_) => {
            if let Some((_, dir)) = &input.shared.ipc {
                mounts.push(bind("/dev/shm", dir)?);
            }
        }
        NamespaceMode::Host => mounts.push(bind("/dev/shm", "/dev/shm")?),
        _ => {}
    }
    for (dst, src) in [
        ("/etc/resolv.conf", &r.resolv_conf_path),
        ("/etc/hostname", &r.hostname_path),
        ("/etc/hosts", &r.hosts_path),
    ] {
        mounts.push(bind(dst, src)?);
    }
    for b in hc.binds.iter().flatten() {
        let b = Bind::parse(b)?;
        if !b.volume {
            mounts.push(user_bind(r, &b)?);
        }
    }
    for (source, v) in input.volumes {
        let mut options = vec!["rbind"];
        if v.read_only {
            options.push("ro");
        }
        options.push("rprivate");
        mounts.push(mount(&v.destination, "bind", source, &options)?);
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        mounts.push(tmpfs_mount(dst, opts)?);
    }
    for m in hc
        .mounts
        .iter()
        .flatten()
        .filter(|m| !matches!(m.kind.as_str(), "volume" | "image"))
    {
        mounts.push(api_mount(r, m)?);
    }
    // An image, read-only: its layers as an overlay without an upper dir, mounted by
    // the container's init inside its own mount namespace.
    for (target, layers) in input.image_mounts {
        let mut lower: Vec<String> = layers.iter().map(|p| p.display().to_string()).collect();
        if lower.len() < 2 {
            lower.push(input.empty_dir.display().to_string());
        }
        let data = format!("lowerdir={}", lower.join(":"));
        let mut options = vec!["ro".to_string(), "nosuid".into(), "nodev".into(), data];
        // A part of the image: berth's runtime keeps only that dir of the mount.
        if let Some(sub) = hc
            .mounts
            .iter()
            .flatten()
            .find(|m| m.kind == "image" && &m.target == target)
            .and_then(super::super::host_config::image_subpath)
        {
            options.push(format!("{}{sub}", berth_runtime::mounts::SUBPATH_OPTION));
        }
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        mounts.push(mount(target, "overlay", "overlay", &options)?);
    }
    if let Some(binary) = input.init_binary.filter(|_| hc.init == Some(true)) {
        // berth's init, a copy the daemon made (never the host's binary), read-only.
        mounts.push(mount(
            berth_runtime::init_process::PATH,
            "bind",
            binary,
            &["bind", "ro", "nosuid", "nodev"],
        )?);
    }
    Ok(mounts)
}
