//! Pod metrics (ListMetricDescriptors, ListPodSandboxMetrics): cAdvisor's container
//! metrics, read from each container's cgroup, its processes, its writable layer and the
//! pod's network namespace, so the kubelet can serve /metrics/cadvisor from the runtime.

use crate::convert::status::decoded;
use crate::proto::{self, MetricType, UInt64Value};
use crate::service::{now_nanos, Cri};
use berth_daemon::engine::container::Container;
use berth_runtime::cgroups::stats::Stats;
use std::path::{Path, PathBuf};

/// Every metric carries these labels first.
const BASE_LABELS: [&str; 4] = ["container", "id", "image", "name"];

struct Def {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    /// Labels beyond BASE_LABELS.
    extra: &'static [&'static str],
}

const fn gauge(name: &'static str, help: &'static str, extra: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: MetricType::Gauge,
        extra,
    }
}

const fn counter(name: &'static str, help: &'static str, extra: &'static [&'static str]) -> Def {
    Def {
        name,
        help,
        kind: MetricType::Counter,
        extra,
    }
}

const DEVICE: &[&str] = &["device"];
const INTERFACE: &[&str] = &["interface"];

/// What berth reports, with cAdvisor's names, help and labels.
const DEFS: &[Def] = &[
    counter(
        "container_blkio_device_usage_total",
        "Blkio device bytes usage",
        &["device", "major", "minor", "operation"],
    ),
    counter(
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        &[],
    ),
    counter(
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        &[],
    ),
    counter(
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        &[],
    ),
    counter(
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        &[],
    ),
    counter(
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed in seconds.",
        &["cpu"],
    ),
    counter(
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        &[],
    ),
    gauge(
        "container_file_descriptors",
        "Number of open file descriptors for the container.",
        &[],
    ),
    gauge(
        "container_fs_inodes_free",
        "Number of available Inodes",
        DEVICE,
    ),
    gauge("container_fs_inodes_total", "Number of Inodes", DEVICE),
    gauge(
        "container_fs_limit_bytes",
        "Number of bytes that can be consumed by the container on this filesystem.",
        DEVICE,
    ),
    counter(
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        DEVICE,
    ),
    counter(
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        DEVICE,
    ),
    gauge(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        DEVICE,
    ),
    counter(
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        DEVICE,
    ),
    counter(
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        DEVICE,
    ),
    gauge(
        "container_last_seen",
        "Last time a container was seen by the exporter",
        &[],
    ),
    gauge(
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        &[],
    ),
    counter(
        "container_memory_failcnt",
        "Number of memory usage hits limits",
        &[],
    ),
    counter(
        "container_memory_failures_total",
        "Cumulative count of memory allocation failures.",
        &["failure_type", "scope"],
    ),
    gauge(
        "container_memory_kernel_usage",
        "Size of kernel memory allocated in bytes.",
        &[],
    ),
    gauge(
        "container_memory_mapped_file",
        "Size of memory mapped files in bytes.",
        &[],
    ),
    gauge(
        "container_memory_max_usage_bytes",
        "Maximum memory usage recorded in bytes",
        &[],
    ),
    gauge("container_memory_rss", "Size of RSS in bytes.", &[]),
    gauge(
        "container_memory_swap",
        "Container swap usage in bytes.",
        &[],
    ),
    gauge(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        &[],
    ),
    gauge(
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        &[],
    ),
    counter(
        "container_network_receive_bytes_total",
        "Cumulative count of bytes received",
        INTERFACE,
    ),
    counter(
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        INTERFACE,
    ),
    counter(
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        INTERFACE,
    ),
    counter(
        "container_network_receive_packets_total",
        "Cumulative count of packets received",
        INTERFACE,
    ),
    counter(
        "container_network_transmit_bytes_total",
        "Cumulative count of bytes transmitted",
        INTERFACE,
    ),
    counter(
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        INTERFACE,
    ),
    counter(
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        INTERFACE,
    ),
    counter(
        "container_network_transmit_packets_total",
        "Cumulative count of packets transmitted",
        INTERFACE,
    ),
    counter(
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        &[],
    ),
    gauge(
        "container_processes",
        "Number of processes running inside the container.",
        &[],
    ),
    gauge(
        "container_sockets",
        "Number of open sockets for the container.",
        &[],
    ),
    gauge(
        "container_spec_cpu_period",
        "CPU period of the container.",
        &[],
    ),
    gauge(
        "container_spec_cpu_quota",
        "CPU quota of the container.",
        &[],
    ),
    gauge(
        "container_spec_cpu_shares",
        "CPU share of the container.",
        &[],
    ),
    gauge(
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        &[],
    ),
    gauge(
        "container_spec_memory_reservation_limit_bytes",
        "Memory reservation limit for the container.",
        &[],
    ),
    gauge(
        "container_spec_memory_swap_limit_bytes",
        "Memory swap limit for the container.",
        &[],
    ),
    gauge(
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        &[],
    ),
    gauge(
        "container_threads",
        "Number of threads running inside the container",
        &[],
    ),
    gauge(
        "container_threads_max",
        "Maximum number of threads allowed inside the container, infinity if value is zero",
        &[],
    ),
];

pub fn descriptors() -> Vec<proto::MetricDescriptor> {
    DEFS.iter()
        .map(|d| proto::MetricDescriptor {
            name: d.name.into(),
            help: d.help.into(),
            label_keys: BASE_LABELS
                .iter()
                .chain(d.extra)
                .map(|s| s.to_string())
                .collect(),
        })
        .collect()
}

/// Metrics of one subject (a container, or the pod for its network), each checked
/// against its descriptor so a label is never missing.
struct Builder {
    base: [String; 4],
    at: i64,
    out: Vec<proto::Metric>,
}

impl Builder {
    fn add(&mut self, name: &str, extra: &[&str], value: u64) {
        let def = DEFS.iter().find(|d| d.name == name);
        debug_assert!(
            def.is_some_and(|d| d.extra.len() == extra.len()),
            "metric {name} and its descriptor disagree"
        );
        let Some(def) = def else { return };
        self.out.push(proto::Metric {
            name: name.into(),
            timestamp: self.at,
            metric_type: def.kind as i32,
            label_values: self
                .base
                .iter()
                .cloned()
                .chain(extra.iter().map(|s| s.to_string()))
                .collect(),
            value: Some(UInt64Value { value }),
        });
    }
}

/// Open file descriptors, sockets and threads of the processes in `pids`.
fn process_counts(pids: &[u32]) -> (u64, u64, u64) {
    let (mut fds, mut sockets, mut threads) = (0, 0, 0);
    for pid in pids {
        if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for e in rd.flatten() {
                fds += 1;
                if std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("socket:"))
                {
                    sockets += 1;
                }
            }
        }
        threads += std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Threads:"))
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
    }
    (fds, sockets, threads)
}

/// (free inodes, inodes, bytes) of the filesystem holding `path`.
fn filesystem(path: &Path) -> (u64, u64, u64) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => (s.files_free(), s.files(), s.blocks() * s.fragment_size()),
        Err(_) => (0, 0, 0),
    }
}

fn seconds(rfc3339: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0)
}

fn add_container(b: &mut Builder, c: &Container, st: &Stats, writable: (PathBuf, u64)) {
    let d = &st.detail;
    let m = &d.memory_stat;
    let stat = |v1: &str, v2: &str| m.get(v1).or_else(|| m.get(v2)).copied().unwrap_or(0);
    const NS: u64 = 1_000_000_000;
    for (maj, min, op, v) in &d.io_bytes {
        let (maj, min) = (maj.to_string(), min.to_string());
        let dev = format!("/dev/block/{maj}:{min}");
        b.add(
            "container_blkio_device_usage_total",
            &[&dev, &maj, &min, op],
            *v,
        );
    }
    b.add("container_cpu_cfs_periods_total", &[], d.throttle_periods);
    b.add(
        "container_cpu_cfs_throttled_periods_total",
        &[],
        d.throttled_periods,
    );
    b.add(
        "container_cpu_cfs_throttled_seconds_total",
        &[],
        d.throttled_time_ns / NS,
    );
    b.add(
        "container_cpu_system_seconds_total",
        &[],
        d.cpu_system_ns / NS,
    );
    b.add(
        "container_cpu_usage_seconds_total",
        &["total"],
        st.cpu_usage_ns / NS,
    );
    b.add("container_cpu_user_seconds_total", &[], d.cpu_user_ns / NS);
    let (fds, sockets, threads) = process_counts(&d.procs);
    b.add("container_file_descriptors", &[], fds);
    b.add("container_sockets", &[], sockets);
    b.add("container_threads", &[], threads);
    b.add("container_processes", &[], st.pids);
    b.add("container_threads_max", &[], d.pids_limit.unwrap_or(0));
    let (upper, used) = writable;
    let dev = upper.display().to_string();
    let (ifree, itotal, bytes) = filesystem(&upper);
    b.add("container_fs_inodes_free", &[&dev], ifree);
    b.add("container_fs_inodes_total", &[&dev], itotal);
    b.add("container_fs_limit_bytes", &[&dev], bytes);
    b.add("container_fs_usage_bytes", &[&dev], used);
    let sum = |entries: &[berth_runtime::cgroups::stats::IoEntry], op: &str| {
        entries
            .iter()
            .filter(|e| e.2.eq_ignore_ascii_case(op))
            .map(|e| e.3)
            .sum::<u64>()
    };
    b.add(
        "container_fs_reads_bytes_total",
        &[&dev],
        sum(&d.io_bytes, "read"),
    );
    b.add("container_fs_reads_total", &[&dev], sum(&d.io_ops, "read"));
    b.add(
        "container_fs_writes_bytes_total",
        &[&dev],
        sum(&d.io_bytes, "write"),
    );
    b.add(
        "container_fs_writes_total",
        &[&dev],
        sum(&d.io_ops, "write"),
    );
    b.add("container_last_seen", &[], (b.at / NS as i64).max(0) as u64);
    b.add("container_memory_cache", &[], stat("total_cache", "file"));
    b.add("container_memory_failcnt", &[], d.memory_failcnt);
    let (minor, major) = (
        stat("total_pgfault", "pgfault"),
        stat("total_pgmajfault", "pgmajfault"),
    );
    b.add(
        "container_memory_failures_total",
        &["pgfault", "container"],
        minor,
    );
    b.add(
        "container_memory_failures_total",
        &["pgmajfault", "container"],
        major,
    );
    b.add("container_memory_kernel_usage", &[], d.kernel_memory);
    b.add(
        "container_memory_mapped_file",
        &[],
        stat("total_mapped_file", "file_mapped"),
    );
    b.add("container_memory_max_usage_bytes", &[], d.memory_max_usage);
    b.add("container_memory_rss", &[], stat("total_rss", "anon"));
    b.add("container_memory_swap", &[], stat("total_swap", "swap"));
    b.add("container_memory_usage_bytes", &[], st.memory_usage);
    let inactive = stat("total_inactive_file", "inactive_file");
    b.add(
        "container_memory_working_set_bytes",
        &[],
        st.memory_usage.saturating_sub(inactive),
    );
    b.add("container_oom_events_total", &[], d.oom_kills);
    let r = c.record();
    let hc = &r.host_config;
    let positive = |v: i64| v.max(0) as u64;
    // The kernel's defaults where the container set none, as cAdvisor reads them.
    let period = if hc.cpu_period > 0 {
        hc.cpu_period as u64
    } else {
        100_000
    };
    let shares = if hc.cpu_shares > 0 {
        hc.cpu_shares as u64
    } else {
        1024
    };
    b.add("container_spec_cpu_period", &[], period);
    b.add("container_spec_cpu_quota", &[], positive(hc.cpu_quota));
    b.add("container_spec_cpu_shares", &[], shares);
    b.add(
        "container_spec_memory_limit_bytes",
        &[],
        positive(hc.memory),
    );
    b.add(
        "container_spec_memory_reservation_limit_bytes",
        &[],
        positive(hc.memory_reservation),
    );
    b.add(
        "container_spec_memory_swap_limit_bytes",
        &[],
        positive(hc.memory_swap),
    );
    b.add(
        "container_start_time_seconds",
        &[],
        seconds(&r.state.started_at),
    );
}

/// The pod's interfaces (all but `lo`), read from inside its network namespace.
async fn pod_networks(netns: Option<PathBuf>) -> Vec<(String, [u64; 8])> {
    let Some(ns) = netns else { return vec![] };
    crate::sandbox::namespaces::in_network_namespace(Some(ns), || {
        std::fs::read_to_string("/proc/thread-self/net/dev")
    })
    .await
    .map(|text| berth_daemon::engine::stats::parse_net_dev(&text))
    .unwrap_or_default()
}

impl Cri {
    pub async fn pod_sandbox_metrics(&self) -> Vec<proto::PodSandboxMetrics> {
        let mut out = vec![];
        for entry in self.sandboxes.all() {
            let (id, name, netns) = {
                let s = entry.lock().await;
                let name = s
                    .config
                    .metadata
                    .as_ref()
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                (s.record.id.clone(), name, s.record.held.net.clone())
            };
            let at = now_nanos();
            let mut pod = Builder {
                base: ["POD".into(), id.clone(), String::new(), name],
                at,
                out: vec![],
            };
            for (iface, n) in pod_networks(netns).await {
                let i = [iface.as_str()];
                for (metric, v) in [
                    ("container_network_receive_bytes_total", n[0]),
                    ("container_network_receive_packets_total", n[1]),
                    ("container_network_receive_errors_total", n[2]),
                    ("container_network_receive_packets_dropped_total", n[3]),
                    ("container_network_transmit_bytes_total", n[4]),
                    ("container_network_transmit_packets_total", n[5]),
                    ("container_network_transmit_errors_total", n[6]),
                    ("container_network_transmit_packets_dropped_total", n[7]),
                ] {
                    pod.add(metric, &i, v);
                }
            }
            let mut containers = vec![];
            for c in self.pod_containers(&id) {
                let snapshot = c.snapshot();
                let Some(d) = decoded(&snapshot) else {
                    continue;
                };
                let Some(st) = self.engine.stats_sample(&c).cgroup else {
                    continue;
                };
                let (rw, _) = self.engine.container_sizes(&c.id, &snapshot.image_id).await;
                let upper = self.engine.container_upper_dir(&c.id);
                let mut b = Builder {
                    base: [
                        d.metadata.name.clone(),
                        c.id.clone(),
                        snapshot.config.image.clone(),
                        snapshot.name.trim_start_matches('/').to_string(),
                    ],
                    at,
                    out: vec![],
                };
                add_container(&mut b, &c, &st, (upper, rw.max(0) as u64));
                containers.push(proto::ContainerMetrics {
                    container_id: c.id.clone(),
                    metrics: b.out,
                });
            }
            out.push(proto::PodSandboxMetrics {
                pod_sandbox_id: id,
                metrics: pod.out,
                container_metrics: containers,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_labelled() {
        let mut names: Vec<_> = DEFS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFS.len());
        assert!(descriptors()
            .iter()
            .all(|d| d.label_keys.len() >= 4 && !d.help.is_empty()));
    }

    #[test]
    fn values_carry_their_descriptors_labels() {
        let mut b = Builder {
            base: ["c".into(), "id".into(), "img".into(), "n".into()],
            at: 5_000_000_000,
            out: vec![],
        };
        b.add("container_network_receive_bytes_total", &["eth0"], 7);
        b.add("container_processes", &[], 2);
        assert_eq!(b.out[0].label_values, ["c", "id", "img", "n", "eth0"]);
        assert_eq!(b.out[0].metric_type, MetricType::Counter as i32);
        assert_eq!(b.out[1].value, Some(UInt64Value { value: 2 }));
        assert_eq!(b.out[1].metric_type, MetricType::Gauge as i32);
    }

    #[test]
    fn process_counts_see_this_process() {
        let (fds, _, threads) = process_counts(&[std::process::id()]);
        assert!(fds >= 3 && threads >= 1);
    }
}
