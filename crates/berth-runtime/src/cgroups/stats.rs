//! What a container's cgroup says it uses: CPU time, memory, processes.

use super::{flat_keyed, Cgroup};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One reading of a container's resource use.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// CPU time used by all its processes, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory in use, in bytes.
    pub memory_usage: u64,
    /// The memory limit in bytes; None when unlimited.
    pub memory_limit: Option<u64>,
    /// Processes (and threads) in the cgroup.
    pub pids: u64,
    /// The detail dockerd's stats report beside the totals.
    #[serde(default)]
    pub detail: Detail,
}

/// What `docker stats` and the stats API show beyond the totals; each reads as 0 or
/// empty where a controller or kernel does not have it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Detail {
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// Per CPU (v1 only, as dockerd).
    pub cpu_percpu_ns: Vec<u64>,
    pub throttle_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time_ns: u64,
    /// The most memory used at once (v1 `max_usage_in_bytes`, v2 `memory.peak`).
    pub memory_max_usage: u64,
    /// `memory.stat`, as its keys and numbers.
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    pub pids_limit: Option<u64>,
    /// Block IO: (major, minor, operation, bytes) and (major, minor, operation, count).
    pub io_bytes: Vec<IoEntry>,
    pub io_ops: Vec<IoEntry>,
    /// Times the memory limit was hit (v1 `memory.failcnt`, v2 `memory.events` max).
    pub memory_failcnt: u64,
    /// Processes the OOM killer ended (`oom_kill` in v1 `memory.oom_control`, v2
    /// `memory.events`).
    pub oom_kills: u64,
    /// Kernel memory (v1 `memory.kmem.usage_in_bytes`, v2 `kernel` in memory.stat).
    pub kernel_memory: u64,
    /// The processes in the cgroup (`cgroup.procs`).
    pub procs: Vec<u32>,
}

/// One device's count for one operation: (major, minor, operation, value).
pub type IoEntry = (u64, u64, String, u64);

fn keyed(path: &Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `pids.max`: a number, or `max` for none.
fn pids_limit(path: &Path) -> Option<u64> {
    number(path).filter(|n| *n > 0)
}

/// v1 `blkio.throttle.io_service*_recursive`: `8:0 Read 4096` lines (and `Total 4096`).
fn v1_blkio(path: &Path) -> Vec<IoEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (maj, min) = f.next()?.split_once(':')?;
            Some((
                maj.parse().ok()?,
                min.parse().ok()?,
                f.next()?.to_string(),
                f.next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`, as dockerd turns it into
/// `read`/`write` entries.
fn v2_io(path: &Path) -> (Vec<IoEntry>, Vec<IoEntry>) {
    let mut bytes = vec![];
    let mut ops = vec![];
    for l in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(maj), Ok(min)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(v) = v.parse::<u64>() else { continue };
            match k {
                "rbytes" => bytes.push((maj, min, "read".to_string(), v)),
                "wbytes" => bytes.push((maj, min, "write".to_string(), v)),
                "rios" => ops.push((maj, min, "read".to_string(), v)),
                "wios" => ops.push((maj, min, "write".to_string(), v)),
                _ => {}
            }
        }
    }
    (bytes, ops)
}

fn procs(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// v1 reports "no limit" as a huge page-aligned number.
fn v1_limit(bytes: Option<u64>) -> Option<u64> {
    bytes.filter(|b| *b < (1 << 62))
}

/// v1: `cpuacct.usage`, `memory.usage_in_bytes`, `memory.limit_in_bytes`, `pids.current`,
/// each in its controller's dir.
pub(crate) fn v1(cpuacct: &Path, memory: &Path, pids: &Path) -> Stats {
    Stats {
        cpu_usage_ns: number(&cpuacct.join("cpuacct.usage")).unwrap_or(0),
        memory_usage: number(&memory.join("memory.usage_in_bytes")).unwrap_or(0),
        memory_limit: v1_limit(number(&memory.join("memory.limit_in_bytes"))),
        pids: number(&pids.join("pids.current")).unwrap_or(0),
        detail: Detail::default(),
    }
}

/// v1's detail, from the cpu, cpuacct, memory, pids and blkio hierarchies.
fn v1_detail(cpu: &Path, cpuacct: &Path, memory: &Path, pids: &Path, blkio: &Path) -> Detail {
    let throttle = keyed(&cpu.join("cpu.stat"));
    Detail {
        cpu_user_ns: number(&cpuacct.join("cpuacct.usage_user")).unwrap_or(0),
        cpu_system_ns: number(&cpuacct.join("cpuacct.usage_sys")).unwrap_or(0),
        cpu_percpu_ns: std::fs::read_to_string(cpuacct.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect(),
        throttle_periods: throttle.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: throttle.get("nr_throttled").copied().unwrap_or(0),
        throttled_time_ns: throttle.get("throttled_time").copied().unwrap_or(0),
        memory_max_usage: number(&memory.join("memory.max_usage_in_bytes")).unwrap_or(0),
        memory_stat: keyed(&memory.join("memory.stat")),
        pids_limit: pids_limit(&pids.join("pids.max")),
        io_bytes: v1_blkio(&blkio.join("blkio.throttle.io_service_bytes_recursive")),
        io_ops: v1_blkio(&blkio.join("blkio.throttle.io_serviced_recursive")),
        memory_failcnt: number(&memory.join("memory.failcnt")).unwrap_or(0),
        oom_kills: keyed(&memory.join("memory.oom_control"))
            .get("oom_kill")
            .copied()
            .unwrap_or(0),
        kernel_memory: number(&memory.join("memory.kmem.usage_in_bytes")).unwrap_or(0),
        procs: procs(&pids.join("cgroup.procs")),
    }
}

/// v2's detail, all from the one dir.
fn v2_detail(dir: &Path) -> Detail {
    let cpu = keyed(&dir.join("cpu.stat"));
    let (io_bytes, io_ops) = v2_io(&dir.join("io.stat"));
    let memory_stat = keyed(&dir.join("memory.stat"));
    let events = keyed(&dir.join("memory.events"));
    Detail {
        cpu_user_ns: cpu.get("user_usec").copied().unwrap_or(0) * 1000,
        cpu_system_ns: cpu.get("system_usec").copied().unwrap_or(0) * 1000,
        cpu_percpu_ns: vec![],
        throttle_periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time_ns: cpu.get("throttled_usec").copied().unwrap_or(0) * 1000,
        memory_max_usage: number(&dir.join("memory.peak")).unwrap_or(0),
        kernel_memory: memory_stat.get("kernel").copied().unwrap_or(0),
        memory_stat,
        pids_limit: pids_limit(&dir.join("pids.max")),
        io_bytes,
        io_ops,
        memory_failcnt: events.get("max").copied().unwrap_or(0),
        oom_kills: events.get("oom_kill").copied().unwrap_or(0),
        procs: procs(&dir.join("cgroup.procs")),
    }
}

/// v2: `cpu.stat` (usage_usec), `memory.current`, `memory.max` ("max": none),
/// `pids.current`, all in the one dir.
pub(crate) fn v2(dir: &Path) -> Stats {
    Stats {
        cpu_usage_ns: flat_keyed(&dir.join("cpu.stat"), "usage_usec")
            .map_or(0, |us| us.max(0) as u64 * 1000),
        memory_usage: number(&dir.join("memory.current")).unwrap_or(0),
        memory_limit: number(&dir.join("memory.max")),
        pids: number(&dir.join("pids.current")).unwrap_or(0),
        detail: Detail::default(),
    }
}

impl Cgroup {
    /// What the container uses now. Files a controller does not have read as 0.
    pub fn stats(&self) -> Stats {
        match self {
            Cgroup::V1(c) => v1(&c.path("cpuacct"), &c.path("memory"), &c.path("pids")),
            Cgroup::V2(c) => v2(c.path()),
        }
    }

    /// The totals with dockerd's detail (more files read: for the stats API).
    pub fn detailed_stats(&self) -> Stats {
        match self {
            Cgroup::V1(c) => Stats {
                detail: v1_detail(
                    &c.path("cpu"),
                    &c.path("cpuacct"),
                    &c.path("memory"),
                    &c.path("pids"),
                    &c.path("blkio"),
                ),
                ..self.stats()
            },
            Cgroup::V2(c) => Stats {
                detail: v2_detail(c.path()),
                ..self.stats()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) {
        std::fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn v1_files() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "cpuacct.usage", "123456789\n");
        write(d.path(), "memory.usage_in_bytes", "4096\n");
        write(d.path(), "memory.limit_in_bytes", "9223372036854771712\n");
        write(d.path(), "pids.current", "3\n");
        let s = v1(d.path(), d.path(), d.path());
        assert_eq!(
            s,
            Stats {
                cpu_usage_ns: 123_456_789,
                memory_usage: 4096,
                memory_limit: None,
                pids: 3,
                detail: Detail::default(),
            }
        );
        write(d.path(), "memory.limit_in_bytes", "67108864\n");
        assert_eq!(
            v1(d.path(), d.path(), d.path()).memory_limit,
            Some(64 << 20)
        );
    }

    #[test]
    fn v2_files() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        );
        write(d.path(), "memory.current", "8192\n");
        write(d.path(), "memory.max", "max\n");
        write(d.path(), "pids.current", "1\n");
        assert_eq!(
            v2(d.path()),
            Stats {
                cpu_usage_ns: 2_500_000,
                memory_usage: 8192,
                memory_limit: None,
                pids: 1,
                detail: Detail::default(),
            }
        );
        write(d.path(), "memory.max", "1048576\n");
        assert_eq!(v2(d.path()).memory_limit, Some(1 << 20));
        // A cgroup without the files (a controller not mounted): zeros, not an error.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(v2(empty.path()), Stats::default());
    }

    #[test]
    fn detail_v1_and_v2() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        write(p, "cpuacct.usage_user", "70\n");
        write(p, "cpuacct.usage_sys", "30\n");
        write(p, "cpuacct.usage_percpu", "60 40 \n");
        write(
            p,
            "cpu.stat",
            "nr_periods 5\nnr_throttled 2\nthrottled_time 900\n",
        );
        write(p, "memory.stat", "cache 10\ntotal_inactive_file 4\n");
        write(p, "pids.max", "max\n");
        write(
            p,
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n",
        );
        let v = v1_detail(p, p, p, p, p);
        assert_eq!((v.cpu_user_ns, v.cpu_system_ns), (70, 30));
        assert_eq!(v.cpu_percpu_ns, [60, 40]);
        assert_eq!(
            (v.throttle_periods, v.throttled_periods, v.throttled_time_ns),
            (5, 2, 900)
        );
        assert_eq!(v.memory_stat["total_inactive_file"], 4);
        assert_eq!(v.pids_limit, None);
        assert_eq!(
            v.io_bytes,
            [(8, 0, "Read".into(), 4096), (8, 0, "Write".into(), 512)]
        );

        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        write(p, "cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 1\nnr_throttled 0\nthrottled_usec 0\n");
        write(
            p,
            "io.stat",
            "259:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        write(p, "pids.max", "64\n");
        let v = v2_detail(p);
        assert_eq!((v.cpu_user_ns, v.cpu_system_ns), (6000, 4000));
        assert_eq!(v.pids_limit, Some(64));
        assert_eq!(
            v.io_bytes,
            [(259, 0, "read".into(), 100), (259, 0, "write".into(), 200)]
        );
        assert_eq!(
            v.io_ops,
            [(259, 0, "read".into(), 1), (259, 0, "write".into(), 2)]
        );
    }
}
