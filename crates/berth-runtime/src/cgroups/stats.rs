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
                pids: 3
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
                pids: 1
            }
        );
        write(d.path(), "memory.max", "1048576\n");
        assert_eq!(v2(d.path()).memory_limit, Some(1 << 20));
        // A cgroup without the files (a controller not mounted): zeros, not an error.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(v2(empty.path()), Stats::default());
    }
}
