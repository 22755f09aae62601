//! Resource use of a pod's containers and of pods, from the containers' cgroups.

use crate::convert::status::decoded;
use crate::error::Result;
use crate::proto::{self, UInt64Value};
use crate::service::{now_nanos, Cri};
use berth_daemon::engine::container::Container;
use std::sync::Arc;

fn u(v: u64) -> Option<UInt64Value> {
    Some(UInt64Value { value: v })
}

/// CPU time at a moment, remembered to turn the next sample into a rate.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuMark {
    at_ns: i64,
    used_ns: u64,
}

/// CPU use per second of a container since its last sample (nanocores).
fn nano_cores(prev: Option<CpuMark>, now: CpuMark) -> Option<u64> {
    let prev = prev?;
    let dt = now.at_ns.checked_sub(prev.at_ns).filter(|d| *d > 0)? as u128;
    let used = now.used_ns.checked_sub(prev.used_ns)? as u128;
    Some((used * 1_000_000_000 / dt) as u64)
}

impl Cri {
    fn usage(&self, c: &Container) -> (proto::CpuUsage, proto::MemoryUsage, u64) {
        let sample = self.engine.stats_sample(c);
        let ts = now_nanos();
        let Some(st) = sample.cgroup else {
            return (
                proto::CpuUsage {
                    timestamp: ts,
                    ..Default::default()
                },
                proto::MemoryUsage {
                    timestamp: ts,
                    ..Default::default()
                },
                0,
            );
        };
        let mark = CpuMark {
            at_ns: ts,
            used_ns: st.cpu_usage_ns,
        };
        let prev = self
            .cpu_marks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(c.id.clone(), mark);
        let m = &st.detail.memory_stat;
        let stat = |v1: &str, v2: &str| m.get(v1).or_else(|| m.get(v2)).copied().unwrap_or(0);
        // The working set, as the kubelet counts it: usage without the inactive file cache.
        let inactive = stat("total_inactive_file", "inactive_file");
        let cpu = proto::CpuUsage {
            timestamp: ts,
            usage_core_nano_seconds: u(st.cpu_usage_ns),
            usage_nano_cores: nano_cores(prev, mark).and_then(u),
            psi: None,
        };
        let memory = proto::MemoryUsage {
            timestamp: ts,
            working_set_bytes: u(st.memory_usage.saturating_sub(inactive)),
            available_bytes: st
                .memory_limit
                .map(|l| l.saturating_sub(st.memory_usage))
                .and_then(u),
            usage_bytes: u(st.memory_usage),
            rss_bytes: u(stat("total_rss", "anon")),
            page_faults: u(stat("total_pgfault", "pgfault")),
            major_page_faults: u(stat("total_pgmajfault", "pgmajfault")),
            psi: None,
        };
        (cpu, memory, st.pids)
    }

    /// One sample of a container (and its process count): each call moves its CPU mark,
    /// so a pod's figures are summed from these, never sampled a second time.
    fn container_stats(&self, c: &Container) -> Option<(proto::ContainerStats, u64)> {
        let r = c.snapshot();
        let d = decoded(&r)?;
        let (cpu, memory, pids) = self.usage(c);
        let stats = proto::ContainerStats {
            attributes: Some(proto::ContainerAttributes {
                id: r.id.clone(),
                metadata: Some(d.metadata),
                labels: d.labels,
                annotations: d.annotations,
            }),
            cpu: Some(cpu),
            memory: Some(memory),
            writable_layer: None,
            swap: None,
            io: None,
        };
        Some((stats, pids))
    }

    pub fn stats_of(&self, id: &str) -> Result<proto::ContainerStats> {
        let c = self.cri_container(id)?;
        self.container_stats(&c)
            .map(|(s, _)| s)
            .ok_or_else(|| crate::error::CriError::NotFound(format!("container {id:?} not found")))
    }

    pub fn list_stats(&self, f: Option<proto::ContainerStatsFilter>) -> Vec<proto::ContainerStats> {
        let wanted: std::collections::HashSet<String> = self
            .list_containers(f.map(|f| proto::ContainerFilter {
                id: f.id,
                pod_sandbox_id: f.pod_sandbox_id,
                label_selector: f.label_selector,
                state: None,
            }))
            .into_iter()
            .map(|c| c.id)
            .collect();
        self.engine
            .all()
            .iter()
            .filter(|c| wanted.contains(&c.id))
            .filter_map(|c| self.container_stats(c).map(|(s, _)| s))
            .collect()
    }

    async fn pod_stats(&self, id: &str) -> Result<proto::PodSandboxStats> {
        let s = self.sandboxes.get(id)?.lock().await.clone();
        let ts = now_nanos();
        let containers: Vec<Arc<Container>> = self.pod_containers(&s.record.id);
        let mut cpu_ns = 0;
        let mut nano = 0;
        let mut mem = (0u64, 0u64, 0u64);
        let mut procs = 0;
        let mut stats = vec![];
        for c in &containers {
            let Some((cs, pids)) = self.container_stats(c) else {
                continue;
            };
            let value = |v: &Option<UInt64Value>| v.as_ref().map_or(0, |v| v.value);
            if let Some(cpu) = &cs.cpu {
                cpu_ns += value(&cpu.usage_core_nano_seconds);
                nano += value(&cpu.usage_nano_cores);
            }
            if let Some(m) = &cs.memory {
                mem.0 += value(&m.working_set_bytes);
                mem.1 += value(&m.usage_bytes);
                mem.2 += value(&m.rss_bytes);
            }
            procs += pids;
            stats.push(cs);
        }
        Ok(proto::PodSandboxStats {
            attributes: Some(proto::PodSandboxAttributes {
                id: s.record.id.clone(),
                metadata: s.config.metadata.clone(),
                labels: s.config.labels.clone(),
                annotations: s.config.annotations.clone(),
            }),
            linux: Some(proto::LinuxPodSandboxStats {
                cpu: Some(proto::CpuUsage {
                    timestamp: ts,
                    usage_core_nano_seconds: u(cpu_ns),
                    usage_nano_cores: u(nano),
                    psi: None,
                }),
                memory: Some(proto::MemoryUsage {
                    timestamp: ts,
                    working_set_bytes: u(mem.0),
                    usage_bytes: u(mem.1),
                    rss_bytes: u(mem.2),
                    ..Default::default()
                }),
                network: None,
                process: Some(proto::ProcessUsage {
                    timestamp: ts,
                    process_count: u(procs),
                }),
                containers: stats,
                io: None,
            }),
            windows: None,
        })
    }

    pub async fn pod_sandbox_stats(&self, id: &str) -> Result<proto::PodSandboxStats> {
        self.pod_stats(id).await
    }

    pub async fn list_pod_sandbox_stats(
        &self,
        f: Option<proto::PodSandboxStatsFilter>,
    ) -> Vec<proto::PodSandboxStats> {
        let mut out = vec![];
        for entry in self.sandboxes.all() {
            let (id, labels) = {
                let s = entry.lock().await;
                (s.record.id.clone(), s.config.labels.clone())
            };
            if let Some(f) = &f {
                if !f.id.is_empty() && !id.starts_with(&f.id) {
                    continue;
                }
                if !f
                    .label_selector
                    .iter()
                    .all(|(k, v)| labels.get(k) == Some(v))
                {
                    continue;
                }
            }
            if let Ok(s) = self.pod_stats(&id).await {
                out.push(s);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanocores_are_cpu_time_over_wall_time() {
        let a = CpuMark {
            at_ns: 1_000_000_000,
            used_ns: 0,
        };
        let b = CpuMark {
            at_ns: 3_000_000_000,
            used_ns: 1_000_000_000,
        };
        assert_eq!(nano_cores(Some(a), b), Some(500_000_000));
        assert_eq!(nano_cores(None, b), None);
        assert_eq!(nano_cores(Some(b), a), None);
    }
}
