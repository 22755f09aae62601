//! cgroup v2: one unified dir. Controllers must be enabled in every ancestor's
//! `cgroup.subtree_control` before a child can use them.

use super::{flat_keyed, mkdir, rmdir, write, Limits, CGROUP_ROOT};
use crate::error::Result;
use std::path::{Path, PathBuf};

const CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "pids", "io"];

#[derive(Debug, Clone)]
pub struct V2Cgroup {
    path: PathBuf,
}

/// cgroup v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000), as runc converts it.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

impl V2Cgroup {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn enable_controllers(&self) -> Result<()> {
        let root = Path::new(CGROUP_ROOT);
        let available =
            std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let wanted: Vec<String> = CONTROLLERS
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Every ancestor from the root down to the parent of the container's cgroup.
        let mut dirs = vec![];
        let mut p = self.path.parent();
        while let Some(d) = p {
            if !d.starts_with(root) {
                break;
            }
            dirs.push(d.to_path_buf());
            if d == root {
                break;
            }
            p = d.parent();
        }
        for d in dirs.iter().rev() {
            mkdir(d)?;
            write(&d.join("cgroup.subtree_control"), &wanted.join(" "))?;
        }
        Ok(())
    }

    pub fn create(&self, l: &Limits) -> Result<()> {
        self.enable_controllers()?;
        mkdir(&self.path)?;
        if let Some(m) = l.memory.filter(|m| *m > 0) {
            write(&self.path.join("memory.max"), &m.to_string())?;
            if let Some(s) = l.memory_swap {
                let swap = if s < 0 {
                    "max".to_string()
                } else {
                    (s - m).max(0).to_string()
                };
                let f = self.path.join("memory.swap.max");
                if f.exists() {
                    write(&f, &swap)?;
                }
            }
        }
        if let Some(s) = l.cpu_shares.filter(|s| *s > 0) {
            write(
                &self.path.join("cpu.weight"),
                &shares_to_weight(s).to_string(),
            )?;
        }
        if l.cpu_quota.is_some() || l.cpu_period.is_some() {
            let period = l.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
            let quota = match l.cpu_quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            write(&self.path.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(p) = l.pids.filter(|p| *p > 0) {
            write(&self.path.join("pids.max"), &p.to_string())?;
        }
        for (file, value) in [
            ("cpuset.cpus", &l.cpuset_cpus),
            ("cpuset.mems", &l.cpuset_mems),
        ] {
            if let Some(v) = value {
                write(&self.path.join(file), v)?;
            }
        }
        // v2 has no devices controller: access is checked by an eBPF program attached to
        // the cgroup, from the spec's allow list (privileged containers get every device).
        if !l.all_devices {
            let dir = std::fs::File::open(&self.path).map_err(|e| {
                crate::error::RuntimeError::sys(format!("opening {}", self.path.display()), e)
            })?;
            let rules = l
                .device_rules
                .iter()
                .map(|r| super::devices::Rule::parse(r))
                .collect::<Result<Vec<_>>>()?;
            super::devices::attach_filter(&dir.into(), &rules)?;
        }
        Ok(())
    }

    pub fn add_pid(&self, pid: i32) -> Result<()> {
        write(&self.path.join("cgroup.procs"), &pid.to_string())
    }

    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        write(
            &self.path.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )?;
        let want = if frozen { Some(1) } else { Some(0) };
        for _ in 0..500 {
            if flat_keyed(&self.path.join("cgroup.events"), "frozen") == want {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    pub fn oom_killed(&self) -> bool {
        flat_keyed(&self.path.join("memory.events"), "oom_kill").unwrap_or(0) > 0
    }

    pub fn destroy(&self) {
        rmdir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
