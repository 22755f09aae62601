//! `docker update`: new limits written into a live container's cgroup. Only what the
//! update names changes; "unlimited" is each version's own word for it.

use super::{write, Cgroup, Result};
use std::path::Path;

/// The settings an update changes; None leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// Microseconds per period; -1 for no quota.
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    /// 0 or -1: no limit.
    pub pids: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
}

fn read(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Cgroup {
    pub fn update(&self, u: &Update) -> Result<()> {
        match self {
            Cgroup::V1(c) => {
                let mem = c.path("memory");
                let limit = mem.join("memory.limit_in_bytes");
                let memsw = mem.join("memory.memsw.limit_in_bytes");
                match (u.memory, u.memory_swap) {
                    (Some(m), Some(s)) if memsw.exists() => {
                        // memory ≤ memory+swap at every step: the one that grows first.
                        let current_sw = read(&memsw).unwrap_or(i64::MAX);
                        if s == -1 || s > current_sw {
                            write(&memsw, &s.to_string())?;
                            write(&limit, &m.to_string())?;
                        } else {
                            write(&limit, &m.to_string())?;
                            write(&memsw, &s.to_string())?;
                        }
                    }
                    (Some(m), _) => write(&limit, &m.to_string())?,
                    (None, Some(s)) if memsw.exists() => write(&memsw, &s.to_string())?,
                    _ => {}
                }
                let cpu = c.path("cpu");
                if let Some(s) = u.cpu_shares {
                    write(&cpu.join("cpu.shares"), &s.to_string())?;
                }
                if let Some(p) = u.cpu_period {
                    write(&cpu.join("cpu.cfs_period_us"), &p.to_string())?;
                }
                if let Some(q) = u.cpu_quota {
                    write(&cpu.join("cpu.cfs_quota_us"), &q.to_string())?;
                }
                if let Some(p) = u.pids {
                    let v = if p > 0 { p.to_string() } else { "max".into() };
                    write(&c.path("pids").join("pids.max"), &v)?;
                }
                if u.cpuset_cpus.is_some() || u.cpuset_mems.is_some() {
                    c.create_cpuset(&super::Limits {
                        cpuset_cpus: u.cpuset_cpus.clone(),
                        cpuset_mems: u.cpuset_mems.clone(),
                        ..Default::default()
                    })?;
                }
            }
            Cgroup::V2(c) => {
                let dir = c.path();
                if let Some(m) = u.memory {
                    write(&dir.join("memory.max"), &m.to_string())?;
                }
                if let Some(s) = u.memory_swap {
                    let swap = match (s, u.memory.or_else(|| read(&dir.join("memory.max")))) {
                        (-1, _) | (_, None) => "max".to_string(),
                        (s, Some(m)) => (s - m).max(0).to_string(),
                    };
                    let f = dir.join("memory.swap.max");
                    if f.exists() {
                        write(&f, &swap)?;
                    }
                }
                if let Some(s) = u.cpu_shares {
                    write(
                        &dir.join("cpu.weight"),
                        &super::v2::shares_to_weight(s).to_string(),
                    )?;
                }
                if u.cpu_quota.is_some() || u.cpu_period.is_some() {
                    let current = std::fs::read_to_string(dir.join("cpu.max")).unwrap_or_default();
                    let mut parts = current.split_whitespace();
                    let (cur_quota, cur_period) = (
                        parts.next().unwrap_or("max").to_string(),
                        parts.next().unwrap_or("100000").to_string(),
                    );
                    let quota = match u.cpu_quota {
                        Some(q) if q > 0 => q.to_string(),
                        Some(_) => "max".to_string(),
                        None => cur_quota,
                    };
                    let period = u.cpu_period.map_or(cur_period, |p| p.to_string());
                    write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
                }
                if let Some(p) = u.pids {
                    let v = if p > 0 { p.to_string() } else { "max".into() };
                    write(&dir.join("pids.max"), &v)?;
                }
                for (file, value) in [
                    ("cpuset.cpus", &u.cpuset_cpus),
                    ("cpuset.mems", &u.cpuset_mems),
                ] {
                    if let Some(v) = value {
                        write(&dir.join(file), v)?;
                    }
                }
            }
        }
        Ok(())
    }
}
