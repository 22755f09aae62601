//! `docker stats`: a container's use of CPU, memory, processes, network and block IO,
//! read from its cgroup and its network namespace, in dockerd's JSON (the fields each
//! cgroup version fills), one sample or one a second.

use super::container::Container;
use super::Engine;
use berth_runtime::cgroups::{stats::Stats, Cgroup, Version};
use serde_json::{json, Value};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One sample, with what the JSON needs beside the cgroup's numbers.
#[derive(Debug, Clone)]
pub struct Sample {
    pub read: String,
    pub cgroup: Option<Stats>,
    pub v1: bool,
    pub system_cpu_ns: u64,
    pub online_cpus: u64,
    pub networks: Vec<(String, [u64; 8])>,
}

/// The host's CPU time (all CPUs, all states) in nanoseconds, from `/proc/stat`, as
/// dockerd's `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|n| n.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

/// `/proc/<pid>/net/dev` of the container's init: each interface but `lo`, with rx
/// bytes, packets, errors, dropped and tx bytes, packets, errors, dropped.
fn networks(pid: i64) -> Vec<(String, [u64; 8])> {
    if pid <= 0 {
        return vec![];
    }
    parse_net_dev(&std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default())
}

pub fn parse_net_dev(text: &str) -> Vec<(String, [u64; 8])> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let n: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if n.len() < 16 {
                return None;
            }
            Some((
                name.to_string(),
                [n[0], n[1], n[2], n[3], n[8], n[9], n[10], n[11]],
            ))
        })
        .collect()
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn blkio(entries: &[(u64, u64, String, u64)]) -> Value {
    if entries.is_empty() {
        return Value::Null;
    }
    entries
        .iter()
        .map(|(major, minor, op, value)| json!({"major": major, "minor": minor, "op": op, "value": value}))
        .collect()
}

fn cpu_json(s: &Sample) -> Value {
    let Some(st) = &s.cgroup else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    };
    let d = &st.detail;
    let mut usage = json!({
        "total_usage": st.cpu_usage_ns,
        "usage_in_kernelmode": d.cpu_system_ns,
        "usage_in_usermode": d.cpu_user_ns,
    });
    if s.v1 && !d.cpu_percpu_ns.is_empty() {
        usage["percpu_usage"] = json!(d.cpu_percpu_ns);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {
            "periods": d.throttle_periods,
            "throttled_periods": d.throttled_periods,
            "throttled_time": d.throttled_time_ns,
        },
    })
}

/// The stats JSON of one sample after `pre` (None for the first).
pub fn to_json(c_name: &str, id: &str, s: &Sample, pre: Option<&Sample>) -> Value {
    let (memory, pids, blk) = match &s.cgroup {
        None => (json!({}), json!({}), json!({})),
        Some(st) => {
            let d = &st.detail;
            let mut memory = json!({
                "usage": st.memory_usage,
                "stats": d.memory_stat,
                "limit": st.memory_limit.unwrap_or_else(host_memory),
            });
            if s.v1 {
                memory["max_usage"] = json!(d.memory_max_usage);
            }
            let mut pids = json!({"current": st.pids});
            if let Some(l) = d.pids_limit {
                pids["limit"] = json!(l);
            }
            let blk = json!({
                "io_service_bytes_recursive": blkio(&d.io_bytes),
                "io_serviced_recursive": blkio(&d.io_ops),
                "io_queue_recursive": null,
                "io_service_time_recursive": null,
                "io_wait_time_recursive": null,
                "io_merged_recursive": null,
                "io_time_recursive": null,
                "sectors_recursive": null,
            });
            (memory, pids, blk)
        }
    };
    let mut v = json!({
        "name": format!("/{c_name}"),
        "id": id,
        "read": s.read,
        "preread": pre.map_or(ZERO_TIME.to_string(), |p| p.read.clone()),
        "pids_stats": pids,
        "blkio_stats": blk,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(s),
        "precpu_stats": pre.map_or_else(
            || json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
            cpu_json,
        ),
        "memory_stats": memory,
    });
    if s.cgroup.is_some() {
        let nets: serde_json::Map<String, Value> = s
            .networks
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    json!({
                        "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                        "tx_bytes": n[4], "tx_packets": n[5], "tx_errors": n[6], "tx_dropped": n[7],
                    }),
                )
            })
            .collect();
        if !nets.is_empty() {
            v["networks"] = Value::Object(nets);
        }
    }
    v
}

impl Engine {
    /// One sample of the container's use (all zeros while it is not running).
    pub fn stats_sample(&self, c: &Container) -> Sample {
        let (running, pid, parent) = {
            let r = c.record();
            (
                r.state.running,
                r.state.pid,
                r.host_config.cgroup_parent.clone(),
            )
        };
        let read = super::time::now();
        if !running {
            return Sample {
                read,
                cgroup: None,
                v1: false,
                system_cpu_ns: 0,
                online_cpus: 0,
                networks: vec![],
            };
        }
        let path = super::reconcile::cgroup_path(&parent, &self.cfg.cgroup_parent, &c.id);
        let cgroup = Cgroup::new(&path);
        Sample {
            read,
            v1: cgroup.version() == Version::V1,
            cgroup: Some(cgroup.detailed_stats()),
            system_cpu_ns: system_cpu_ns(),
            online_cpus: online_cpus(),
            networks: networks(pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let n = parse_net_dev(text);
        assert_eq!(n, [("eth0".to_string(), [5000, 40, 1, 2, 3000, 30, 3, 4])]);
    }

    #[test]
    fn json_of_a_stopped_container_has_zeros_and_no_networks() {
        let s = Sample {
            read: "2024-01-01T00:00:00Z".into(),
            cgroup: None,
            v1: false,
            system_cpu_ns: 0,
            online_cpus: 0,
            networks: vec![],
        };
        let v = to_json("web", "abc", &s, None);
        assert_eq!(v["name"], "/web");
        assert_eq!(v["preread"], ZERO_TIME);
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(v.get("networks").is_none());
    }

    #[test]
    fn json_of_a_running_container() {
        let mut st = Stats {
            cpu_usage_ns: 500,
            memory_usage: 4096,
            memory_limit: Some(1 << 20),
            pids: 2,
            ..Default::default()
        };
        st.detail.cpu_percpu_ns = vec![300, 200];
        st.detail.pids_limit = Some(10);
        let s = Sample {
            read: "2024-01-01T00:00:01Z".into(),
            cgroup: Some(st),
            v1: true,
            system_cpu_ns: 9000,
            online_cpus: 2,
            networks: vec![("eth0".into(), [1, 2, 3, 4, 5, 6, 7, 8])],
        };
        let v = to_json("web", "abc", &s, Some(&s));
        assert_eq!(v["cpu_stats"]["cpu_usage"]["percpu_usage"][1], 200);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["limit"], 1 << 20);
        assert_eq!(v["pids_stats"]["limit"], 10);
        assert_eq!(v["networks"]["eth0"]["tx_bytes"], 5);
        assert_eq!(v["preread"], "2024-01-01T00:00:01Z");
    }
}
