//! cgroup v1: one dir per controller hierarchy under `/sys/fs/cgroup/<controller>`.

use super::{flat_keyed, mkdir, rmdir, write, Limits, CGROUP_ROOT};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// The controllers berth places containers in; each must be mounted to be used.
const CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "freezer", "devices", "blkio",
];

#[derive(Debug, Clone)]
pub struct V1Cgroup {
    relative: String,
}

impl V1Cgroup {
    pub fn new(relative: &str) -> Self {
        Self {
            relative: relative.to_string(),
        }
    }

    pub fn path(&self, controller: &str) -> PathBuf {
        Path::new(CGROUP_ROOT).join(controller).join(&self.relative)
    }

    /// The hierarchies the container lives in: cpuset only once it has its own dir there
    /// (made when a cpuset is asked for).
    fn controllers(&self) -> impl Iterator<Item = &'static str> + '_ {
        let cpuset = self.path("cpuset").exists().then_some("cpuset");
        CONTROLLERS
            .iter()
            .copied()
            .filter(|c| Path::new(CGROUP_ROOT).join(c).join("cgroup.procs").exists())
            .chain(cpuset)
    }

    /// The container's dir in every mounted hierarchy, each once (`cpu` and `cpuacct`
    /// may be one hierarchy reached by two names).
    pub fn existing_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = vec![];
        for c in self.controllers() {
            let p = self.path(c);
            let real = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            if !out
                .iter()
                .any(|o| std::fs::canonicalize(o).unwrap_or_else(|_| o.clone()) == real)
            {
                out.push(p);
            }
        }
        out
    }

    pub fn create(&self, l: &Limits) -> Result<()> {
        for c in self.controllers() {
            mkdir(&self.path(c))?;
        }
        let mem = self.path("memory");
        if let Some(m) = l.memory.filter(|m| *m > 0) {
            write(&mem.join("memory.limit_in_bytes"), &m.to_string())?;
            let memsw = mem.join("memory.memsw.limit_in_bytes");
            if let Some(s) = l.memory_swap {
                // Without swap accounting the file is absent and swap is not limited.
                if memsw.exists() {
                    write(&memsw, &s.to_string())?;
                }
            }
        }
        let cpu = self.path("cpu");
        if let Some(s) = l.cpu_shares.filter(|s| *s > 0) {
            write(&cpu.join("cpu.shares"), &s.to_string())?;
        }
        if let Some(p) = l.cpu_period.filter(|p| *p > 0) {
            write(&cpu.join("cpu.cfs_period_us"), &p.to_string())?;
        }
        if let Some(q) = l.cpu_quota.filter(|q| *q != 0) {
            write(&cpu.join("cpu.cfs_quota_us"), &q.to_string())?;
        }
        if let Some(p) = l.pids.filter(|p| *p > 0) {
            write(&self.path("pids").join("pids.max"), &p.to_string())?;
        }
        if l.cpuset_cpus.is_some() || l.cpuset_mems.is_some() {
            self.create_cpuset(l)?;
        }
        let dev = self.path("devices");
        if dev.exists() {
            if l.all_devices {
                write(&dev.join("devices.allow"), "a")?;
            } else {
                write(&dev.join("devices.deny"), "a")?;
                for d in &l.device_rules {
                    write(&dev.join("devices.allow"), d)?;
                }
            }
        }
        Ok(())
    }

    /// The cpuset hierarchy only when asked for: a new v1 cpuset starts with no CPUs and
    /// no memory nodes, so each missing ancestor gets its parent's before the container's
    /// own are written.
    pub(crate) fn create_cpuset(&self, l: &Limits) -> Result<()> {
        let root = Path::new(CGROUP_ROOT).join("cpuset");
        let mut dir = root.clone();
        for part in Path::new(&self.relative).components() {
            let parent = dir.clone();
            dir.push(part);
            mkdir(&dir)?;
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let own = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                if own.trim().is_empty() {
                    let inherited = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                    write(&dir.join(f), inherited.trim())?;
                }
            }
        }
        if let Some(c) = &l.cpuset_cpus {
            write(&dir.join("cpuset.cpus"), c)?;
        }
        if let Some(m) = &l.cpuset_mems {
            write(&dir.join("cpuset.mems"), m)?;
        }
        Ok(())
    }

    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for c in self.controllers() {
            write(&self.path(c).join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        let f = self.path("freezer").join("freezer.state");
        write(&f, if frozen { "FROZEN" } else { "THAWED" })?;
        // Freezing is asynchronous on v1: wait until the state settles.
        let want = if frozen { "FROZEN" } else { "THAWED" };
        for _ in 0..500 {
            if std::fs::read_to_string(&f).unwrap_or_default().trim() == want {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    pub fn oom_killed(&self) -> bool {
        flat_keyed(&self.path("memory").join("memory.oom_control"), "oom_kill").unwrap_or(0) > 0
    }

    pub fn destroy(&self) {
        for c in self.controllers() {
            rmdir(&self.path(c));
        }
        // An external runtime (runc) also makes the container's dir in the named and the
        // unified hierarchies of a hybrid host: berth chose the path, berth removes it.
        for h in ["systemd", "unified"] {
            let p = self.path(h);
            if p.exists() {
                rmdir(&p);
            }
        }
    }
}
