//! cgroup v1 and v2 behind one manager. The hierarchy is detected once per process:
//! v2 when `/sys/fs/cgroup` itself is a cgroup2 mount, v1 otherwise (a v2 mount beside
//! the v1 controllers, as on hybrid hosts, carries no controllers and is ignored).

pub mod devices;
pub mod stats;
pub mod update;
pub mod v1;
pub mod v2;

use crate::error::{Result, RuntimeError};
use std::fs;
use std::path::{Path, PathBuf};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Resource limits as the runtime applies them (already in kernel units).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Bytes; none for unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub pids: Option<i64>,
    /// Allow every device (privileged containers).
    pub all_devices: bool,
    /// `--cpuset-cpus` / `--cpuset-mems` in the kernel's list format (`0-2,4`).
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// The allow rules, from the spec: Docker's defaults (which the daemon writes there,
    /// as dockerd does), then `--device` and `--device-cgroup-rule` ones: `c 10:229 rwm`.
    pub device_rules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

pub fn detect() -> Version {
    match nix::sys::statfs::statfs(CGROUP_ROOT) {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => Version::V2,
        _ => Version::V1,
    }
}

/// One container's cgroup (a path relative to each hierarchy's root, e.g. `/berth/<id>`).
#[derive(Debug, Clone)]
pub enum Cgroup {
    V1(v1::V1Cgroup),
    V2(v2::V2Cgroup),
}

impl Cgroup {
    pub fn new(relative: &str) -> Self {
        let rel = relative.trim_start_matches('/');
        match detect() {
            Version::V1 => Cgroup::V1(v1::V1Cgroup::new(rel)),
            Version::V2 => Cgroup::V2(v2::V2Cgroup::new(Path::new(CGROUP_ROOT).join(rel))),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            Cgroup::V1(_) => Version::V1,
            Cgroup::V2(_) => Version::V2,
        }
    }

    pub fn create(&self, limits: &Limits) -> Result<()> {
        match self {
            Cgroup::V1(c) => c.create(limits),
            Cgroup::V2(c) => c.create(limits),
        }
    }

    pub fn add_pid(&self, pid: i32) -> Result<()> {
        match self {
            Cgroup::V1(c) => c.add_pid(pid),
            Cgroup::V2(c) => c.add_pid(pid),
        }
    }

    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        match self {
            Cgroup::V1(c) => c.set_frozen(frozen),
            Cgroup::V2(c) => c.set_frozen(frozen),
        }
    }

    /// Every pid in the container's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let file = match self {
            Cgroup::V1(c) => c.path("pids").join("cgroup.procs"),
            Cgroup::V2(c) => c.path().join("cgroup.procs"),
        };
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// The files a single-threaded process writes `0` to, to move itself in (v1 `tasks`).
    /// Moving the calling thread this way skips the global threadgroup lock, and with it
    /// the RCU grace period (~10 ms) that a `cgroup.procs` write waits for. Empty on v2,
    /// where a child is created inside instead (`CLONE_INTO_CGROUP`).
    pub fn self_join_files(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c
                .existing_paths()
                .into_iter()
                .map(|p| p.join("tasks"))
                .collect(),
            Cgroup::V2(_) => vec![],
        }
    }

    /// Moves the calling single-threaded process into this cgroup: through `tasks` on v1
    /// (no RCU grace period), through `cgroup.procs` on v2.
    pub fn join_self(&self) -> Result<()> {
        let files = self.self_join_files();
        if files.is_empty() {
            return self.add_pid(std::process::id() as i32);
        }
        for f in files {
            write(&f, "0")?;
        }
        Ok(())
    }

    /// The cgroup dir as an `O_PATH` descriptor, for `clone3(CLONE_INTO_CGROUP)` (v2).
    pub fn dir_fd(&self) -> Option<std::os::fd::OwnedFd> {
        let Cgroup::V2(c) = self else { return None };
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(c.path())
            .ok()
            .map(std::os::fd::OwnedFd::from)
    }

    /// Whether the kernel's OOM killer killed something in this cgroup.
    pub fn oom_killed(&self) -> bool {
        match self {
            Cgroup::V1(c) => c.oom_killed(),
            Cgroup::V2(c) => c.oom_killed(),
        }
    }

    /// Kills whatever is left in the cgroup, then removes its dirs: for what a crashed
    /// daemon or a failed start left behind.
    pub fn kill_and_destroy(&self) {
        for p in self.pids() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::SIGKILL);
        }
        self.destroy();
    }

    /// The names of the cgroups directly under `parent` (relative to the hierarchies'
    /// roots), in any hierarchy berth uses.
    pub fn children_of(parent: &str) -> Vec<String> {
        let parent = parent.trim_start_matches('/');
        let roots: Vec<PathBuf> = match detect() {
            Version::V2 => vec![Path::new(CGROUP_ROOT).join(parent)],
            Version::V1 => fs::read_dir(CGROUP_ROOT)
                .map(|d| d.flatten().map(|e| e.path().join(parent)).collect())
                .unwrap_or_default(),
        };
        let mut names: Vec<String> = roots
            .iter()
            .filter_map(|r| fs::read_dir(r).ok())
            .flat_map(|d| d.flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Removes the cgroup dirs; the cgroup must be empty.
    pub fn destroy(&self) {
        match self {
            Cgroup::V1(c) => c.destroy(),
            Cgroup::V2(c) => c.destroy(),
        }
    }
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|source| RuntimeError::Cgroup {
        path: format!("{} = {value}", path.display()),
        source,
    })
}

pub(crate) fn mkdir(path: &PathBuf) -> Result<()> {
    fs::create_dir_all(path).map_err(|source| RuntimeError::Cgroup {
        path: path.display().to_string(),
        source,
    })
}

/// rmdir, retrying briefly: the kernel frees a cgroup a moment after its last task exits.
pub(crate) fn rmdir(path: &Path) {
    for _ in 0..50 {
        match fs::remove_dir(path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Parses `key value` lines (memory.events, memory.oom_control).
pub(crate) fn flat_keyed(path: &Path, key: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}
