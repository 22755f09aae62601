//! Pod sandboxes: run (namespaces, resolver file, CNI network), stop (containers, then
//! network), remove, status and list.

use crate::convert::status::{container_status, decoded};
use crate::error::{CriError, Result};
use crate::proto::{self, PodSandboxConfig};
use crate::sandbox::namespaces::{self, Wanted};
use crate::sandbox::{network, Sandbox, SandboxRecord, SandboxState};
use crate::service::{now_nanos, Cri};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

const DEFAULT_SHM_SIZE: u64 = 64 << 20;

fn namespace_options(cfg: &PodSandboxConfig) -> proto::NamespaceOption {
    cfg.linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone())
        .unwrap_or_default()
}

/// The pod's resolv.conf from its DNS config; None keeps the host's.
fn resolv_conf(dns: Option<&proto::DnsConfig>) -> Option<String> {
    let dns = dns?;
    if dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty() {
        return None;
    }
    let mut out = String::new();
    if !dns.searches.is_empty() {
        out.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for s in &dns.servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    Some(out)
}

fn check_config(cfg: &PodSandboxConfig, runtime_handler: &str) -> Result<()> {
    if !runtime_handler.is_empty() && runtime_handler != "berth" {
        return Err(CriError::NotFound(format!(
            "no runtime for {runtime_handler:?} is configured (berth has the handler \"berth\")"
        )));
    }
    if cfg.windows.is_some() {
        return Err(CriError::unsupported("windows", "berth runs Linux pods"));
    }
    let meta = cfg
        .metadata
        .as_ref()
        .ok_or_else(|| CriError::InvalidArgument("the sandbox config has no metadata".into()))?;
    if meta.name.is_empty() || meta.namespace.is_empty() {
        return Err(CriError::InvalidArgument(
            "the sandbox metadata needs a name and a namespace".into(),
        ));
    }
    Ok(())
}

impl Cri {
    pub async fn run_pod_sandbox(
        self: &Arc<Self>,
        cfg: PodSandboxConfig,
        runtime_handler: String,
    ) -> Result<String> {
        check_config(&cfg, &runtime_handler)?;
        let _order = self.nri_hold().await;
        let ns = namespace_options(&cfg);
        let wanted = Wanted {
            net: ns.network != proto::NamespaceMode::Node as i32,
            ipc: ns.ipc != proto::NamespaceMode::Node as i32,
            // A pod on the host's network keeps the host's name, as in Kubernetes.
            uts: ns.network != proto::NamespaceMode::Node as i32,
            pid: ns.pid == proto::NamespaceMode::Pod as i32,
            user: crate::sandbox::userns::requested(&ns)?,
        };
        let id = berth_daemon::engine::names::new_id();
        let run_dir = self.pods_run_dir.join(&id);
        let sysctls: Vec<(String, String)> = cfg
            .linux
            .as_ref()
            .map(|l| {
                l.sysctls
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let hostname = cfg.hostname.clone();
        let dir = run_dir.clone();
        let berth = self.engine.config().berth_binary.clone();
        let held = tokio::task::spawn_blocking(move || {
            namespaces::hold(&berth, &dir, wanted, &hostname, &sysctls, DEFAULT_SHM_SIZE)
        })
        .await
        .map_err(|e| CriError::Internal(e.to_string()))??;
        let mut record = SandboxRecord {
            id: id.clone(),
            state: SandboxState::Ready,
            created_at: now_nanos(),
            runtime_handler,
            held,
            resolv_conf: None,
            network: None,
            cgroup_parent: cfg
                .linux
                .as_ref()
                .map(|l| l.cgroup_parent.clone())
                .unwrap_or_default(),
        };
        let undo = |record: &SandboxRecord| {
            namespaces::release(&run_dir, &record.held);
        };
        if let Some(text) = resolv_conf(cfg.dns_config.as_ref()) {
            let dir = self.pods_data_dir.join(&id);
            let path = dir.join("resolv.conf");
            let written = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text));
            if let Err(e) = written {
                undo(&record);
                return Err(CriError::io("writing the pod's resolv.conf", e));
            }
            record.resolv_conf = Some(path);
        }
        if let Some(netns) = record.held.net.clone() {
            let meta = cfg.metadata.clone().unwrap_or_default();
            let args = vec![
                ("K8S_POD_NAMESPACE".to_string(), meta.namespace.clone()),
                ("K8S_POD_NAME".to_string(), meta.name.clone()),
                ("K8S_POD_INFRA_CONTAINER_ID".to_string(), id.clone()),
                ("K8S_POD_UID".to_string(), meta.uid.clone()),
            ];
            let mut caps = Map::new();
            let ports: Vec<Value> = cfg
                .port_mappings
                .iter()
                .filter(|p| p.host_port > 0)
                .map(|p| {
                    let proto = match proto::Protocol::try_from(p.protocol) {
                        Ok(proto::Protocol::Udp) => "udp",
                        Ok(proto::Protocol::Sctp) => "sctp",
                        _ => "tcp",
                    };
                    let mut m = serde_json::json!({
                        "hostPort": p.host_port, "containerPort": p.container_port, "protocol": proto,
                    });
                    if !p.host_ip.is_empty() {
                        m["hostIP"] = p.host_ip.clone().into();
                    }
                    m
                })
                .collect();
            if !ports.is_empty() {
                caps.insert("portMappings".into(), Value::Array(ports));
            }
            match network::set_up(&self.cfg, &id, &netns, args, caps).await {
                Ok(a) => record.network = Some(a),
                Err(e) => {
                    undo(&record);
                    let _ = std::fs::remove_dir_all(self.pods_data_dir.join(&id));
                    return Err(e);
                }
            }
        }
        let sandbox = Sandbox {
            record,
            config: cfg,
        };
        // Plugins hear of the pod before anyone can see it; one's error undoes it.
        let hooked = match &self.nri {
            Some(nri) => nri
                .run_pod_sandbox(&crate::nri::convert::pod(&sandbox))
                .await
                .map_err(CriError::FailedPrecondition),
            None => Ok(()),
        };
        if let Err(e) = hooked.and_then(|()| self.sandboxes.insert(sandbox.clone()).map(drop)) {
            self.release_network(&sandbox).await;
            undo(&sandbox.record);
            let _ = std::fs::remove_dir_all(self.pods_data_dir.join(&id));
            return Err(e);
        }
        Ok(id)
    }

    async fn release_network(&self, s: &Sandbox) {
        if let (Some(netns), Some(a)) = (&s.record.held.net, &s.record.network) {
            if let Err(e) = network::tear_down(&self.cfg, &s.record.id, netns, a).await {
                eprintln!(
                    "berthd: cri: pod {}: tearing down its network: {e}",
                    s.record.id
                );
            }
        }
    }

    /// The berth containers of a pod.
    pub fn pod_containers(
        &self,
        sandbox_id: &str,
    ) -> Vec<Arc<berth_daemon::engine::container::Container>> {
        self.engine
            .all()
            .into_iter()
            .filter(|c| {
                c.record()
                    .pod
                    .as_ref()
                    .is_some_and(|p| p.sandbox_id == sandbox_id)
            })
            .collect()
    }

    pub async fn stop_pod_sandbox(self: &Arc<Self>, id: &str) -> Result<()> {
        let _order = self.nri_hold().await;
        let entry = match self.sandboxes.get(id) {
            Ok(e) => e,
            // Idempotent: a pod that is gone is stopped.
            Err(CriError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut s = entry.lock().await;
        let pod = self.nri_pod_of(&s);
        for c in self.pod_containers(&s.record.id) {
            if c.is_running() {
                self.engine
                    .stop(&c.id, None, Some(0))
                    .await
                    .or_else(|e| match e {
                        berth_daemon::DaemonError::NotModified(_) => Ok(()),
                        e => Err(e),
                    })?;
            }
            if let (Some(pod), Some(nc)) = (&pod, self.nri_container(&c.id)) {
                self.nri_stopped(pod, &nc).await;
            }
        }
        namespaces::end_init(&self.pods_run_dir.join(&s.record.id), &s.record.held);
        // Plugins hear of the stop while the pod's network is still there and its
        // status can be read (the pod's lock is let go meanwhile).
        if let (Some(nri), Some(pod), SandboxState::Ready) = (&self.nri, &pod, s.record.state) {
            drop(s);
            nri.stop_pod_sandbox(pod).await;
            s = entry.lock().await;
        }
        if s.record.state == SandboxState::Ready {
            self.release_network(&s).await;
            s.record.network = None;
            s.record.state = s.record.state.stop();
            self.sandboxes.save(&s)?;
        }
        Ok(())
    }

    pub async fn remove_pod_sandbox(self: &Arc<Self>, id: &str) -> Result<()> {
        let entry = match self.sandboxes.get(id) {
            Ok(e) => e,
            Err(CriError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let _order = self.nri_hold().await;
        let mut s = entry.lock().await;
        let pod = self.nri_pod_of(&s);
        for c in self.pod_containers(&s.record.id) {
            let seen = self.nri_container(&c.id);
            if let (Some(pod), Some(nc)) = (&pod, &seen) {
                self.nri_stopped(pod, nc).await;
            }
            self.engine.remove(&c.id, true, false).await?;
            if let (Some(nri), Some(pod), Some(nc)) = (&self.nri, &pod, seen) {
                nri.remove_container(pod, &nc).await;
            }
        }
        if let (Some(nri), Some(pod)) = (&self.nri, &pod) {
            if s.record.state == SandboxState::Ready {
                nri.stop_pod_sandbox(pod).await;
            }
            nri.remove_pod_sandbox(pod).await;
        }
        if s.record.state == SandboxState::Ready {
            self.release_network(&s).await;
            s.record.state = s.record.state.stop();
        }
        namespaces::release(&self.pods_run_dir.join(&s.record.id), &s.record.held);
        self.sandboxes.remove(&s.record.id);
        Ok(())
    }

    pub fn sandbox_proto(s: &Sandbox) -> proto::PodSandbox {
        proto::PodSandbox {
            id: s.record.id.clone(),
            metadata: s.config.metadata.clone(),
            state: s.record.state.to_proto() as i32,
            created_at: s.record.created_at,
            labels: s.config.labels.clone(),
            annotations: s.config.annotations.clone(),
            runtime_handler: s.record.runtime_handler.clone(),
        }
    }

    pub async fn pod_sandbox_status(
        self: &Arc<Self>,
        id: &str,
        verbose: bool,
    ) -> Result<proto::PodSandboxStatusResponse> {
        let s = self.sandboxes.get(id)?.lock().await.clone();
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "info".to_string(),
                serde_json::to_string(&s.record).unwrap_or_default(),
            );
        }
        let containers_statuses = self
            .pod_containers(&s.record.id)
            .iter()
            .filter_map(|c| {
                let r = c.snapshot();
                decoded(&r).map(|d| container_status(&r, &d))
            })
            .collect();
        let ip = s.ip().unwrap_or("").to_string();
        let additional_ips = s
            .record
            .network
            .as_ref()
            .map(|n| {
                n.addresses
                    .iter()
                    .skip(1)
                    .map(|a| proto::PodIp { ip: a.clone() })
                    .collect()
            })
            .unwrap_or_default();
        Ok(proto::PodSandboxStatusResponse {
            status: Some(proto::PodSandboxStatus {
                id: s.record.id.clone(),
                metadata: s.config.metadata.clone(),
                state: s.record.state.to_proto() as i32,
                created_at: s.record.created_at,
                network: Some(proto::PodSandboxNetworkStatus { ip, additional_ips }),
                linux: Some(proto::LinuxPodSandboxStatus {
                    namespaces: Some(proto::Namespace {
                        options: Some(namespace_options(&s.config)),
                    }),
                }),
                labels: s.config.labels.clone(),
                annotations: s.config.annotations.clone(),
                runtime_handler: s.record.runtime_handler.clone(),
            }),
            info,
            containers_statuses,
            timestamp: now_nanos(),
        })
    }

    pub async fn list_pod_sandbox(
        self: &Arc<Self>,
        filter: Option<proto::PodSandboxFilter>,
    ) -> Vec<proto::PodSandbox> {
        let mut out = vec![];
        for entry in self.sandboxes.all() {
            let s = entry.lock().await;
            let p = Self::sandbox_proto(&s);
            if let Some(f) = &filter {
                if !f.id.is_empty() && !p.id.starts_with(&f.id) {
                    continue;
                }
                if f.state.as_ref().is_some_and(|st| st.state != p.state) {
                    continue;
                }
                if !f
                    .label_selector
                    .iter()
                    .all(|(k, v)| p.labels.get(k) == Some(v))
                {
                    continue;
                }
            }
            out.push(p);
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.created_at));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_config_makes_the_resolver_file() {
        assert_eq!(resolv_conf(None), None);
        let dns = proto::DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(Some(&dns)).unwrap(),
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }
}
