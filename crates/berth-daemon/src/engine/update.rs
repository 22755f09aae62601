//! `docker update`: a container's resources and restart policy changed, running or not.
//! Each field of the request is applied or refused by name; the new limits are checked
//! as create checks them, written into the live cgroup, and kept in its HostConfig.

use super::restart_policy::Policy;
use super::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::{HostConfig, RestartPolicy};
use berth_runtime::cgroups::update::Update;
use berth_runtime::cgroups::Cgroup;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Fields berth can change; the docker CLI sends all of `Resources`, zeros for what the
/// user did not set, and those are ignored as dockerd ignores them.
const SUPPORTED: &[&str] = &[
    "CpuShares",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "RestartPolicy",
];

fn is_unset(v: &Value) -> bool {
    super::host_config::is_unset_deep(v)
}

fn int(body: &Map<String, Value>, key: &str) -> Result<Option<i64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(|n| (n != 0).then_some(n))
            .ok_or_else(|| DaemonError::InvalidParameter(format!("{key}: not an integer"))),
    }
}

fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The HostConfig after the update, and what changes in the cgroup.
pub fn apply(hc: &HostConfig, body: &Map<String, Value>) -> Result<(HostConfig, Update)> {
    if let Some((k, _)) = body
        .iter()
        .find(|(k, v)| !SUPPORTED.contains(&k.as_str()) && !is_unset(v))
    {
        return Err(DaemonError::InvalidParameter(format!(
            "{k} cannot be updated by berth"
        )));
    }
    let mut new = hc.clone();
    let mut u = Update::default();
    if let Some(m) = int(body, "Memory")? {
        new.memory = m;
        u.memory = Some(m);
    }
    if let Some(s) = int(body, "MemorySwap")? {
        new.memory_swap = s;
        u.memory_swap = Some(s);
    }
    if u.memory.is_some()
        && u.memory_swap.is_none()
        && hc.memory_swap > 0
        && new.memory > hc.memory_swap
    {
        return Err(DaemonError::InvalidParameter(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
        ));
    }
    if let Some(s) = int(body, "CpuShares")? {
        new.cpu_shares = s;
        u.cpu_shares = Some(s.max(0) as u64);
    }
    if let Some(n) = int(body, "NanoCpus")? {
        if hc.cpu_quota != 0 || hc.cpu_period != 0 {
            return Err(DaemonError::InvalidParameter(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                    .into(),
            ));
        }
        new.nano_cpus = n;
        u.cpu_period = Some(100_000);
        u.cpu_quota = Some(n * 100_000 / 1_000_000_000);
    }
    let quota = int(body, "CpuQuota")?;
    let period = int(body, "CpuPeriod")?;
    if (quota.is_some() || period.is_some()) && hc.nano_cpus != 0 {
        return Err(DaemonError::InvalidParameter(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
                .into(),
        ));
    }
    if let Some(q) = quota {
        new.cpu_quota = q;
        u.cpu_quota = Some(q);
    }
    if let Some(p) = period {
        new.cpu_period = p;
        u.cpu_period = Some(p.max(0) as u64);
    }
    if let Some(c) = text(body, "CpusetCpus") {
        new.cpuset_cpus = c.clone();
        u.cpuset_cpus = Some(c);
    }
    if let Some(m) = text(body, "CpusetMems") {
        new.cpuset_mems = m.clone();
        u.cpuset_mems = Some(m);
    }
    if let Some(p) = int(body, "PidsLimit")? {
        new.pids_limit = Some(p);
        u.pids = Some(p);
    }
    if let Some(rp) = body.get("RestartPolicy").filter(|v| !is_unset(v)) {
        let rp: RestartPolicy = serde_json::from_value(rp.clone())
            .map_err(|e| DaemonError::InvalidParameter(format!("RestartPolicy: {e}")))?;
        Policy::parse(&rp)?;
        if hc.auto_remove && !matches!(rp.name.as_str(), "" | "no") {
            return Err(DaemonError::InvalidParameter(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        new.restart_policy = rp;
    }
    super::host_config::validate_resources(&new)?;
    Ok((new, u))
}

impl Engine {
    pub async fn update(
        self: &Arc<Self>,
        name: &str,
        body: Map<String, Value>,
    ) -> Result<Vec<String>> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        let (hc, update) = apply(&c.record().host_config, &body)?;
        if c.is_running() && update != Update::default() {
            let path =
                super::reconcile::cgroup_path(&hc.cgroup_parent, &self.cfg.cgroup_parent, &c.id);
            tokio::task::spawn_blocking(move || Cgroup::new(&path).update(&update))
                .await
                .map_err(DaemonError::system)?
                .map_err(|e| {
                    DaemonError::InvalidParameter(format!("Cannot update container {}: {e}", c.id))
                })?;
        }
        c.record().host_config = hc;
        c.save(&self.cfg.container_dir(&c.id))?;
        self.container_event(&c, "update", &[]);
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_docker_cli_s_zeros_change_nothing() {
        let hc = HostConfig::default();
        let (new, u) = apply(
            &hc,
            &body(json!({"CpuShares": 0, "Memory": 0, "BlkioWeight": 0, "Devices": null, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}})),
        )
        .unwrap();
        assert_eq!(u, Update::default());
        assert_eq!(new, hc);
    }

    #[test]
    fn limits_and_policy_change_and_unsupported_fields_are_refused() {
        let hc = HostConfig::default();
        let (new, u) = apply(
            &hc,
            &body(json!({"Memory": 64 << 20, "MemorySwap": -1, "NanoCpus": 500_000_000, "PidsLimit": 20, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})),
        )
        .unwrap();
        assert_eq!(u.memory, Some(64 << 20));
        assert_eq!((u.cpu_quota, u.cpu_period), (Some(50_000), Some(100_000)));
        assert_eq!(u.pids, Some(20));
        assert_eq!(new.restart_policy.name, "on-failure");
        assert_eq!(new.nano_cpus, 500_000_000);
        let err = apply(&hc, &body(json!({"BlkioWeight": 300}))).unwrap_err();
        assert!(err.to_string().contains("BlkioWeight"), "{err}");
        assert!(apply(&hc, &body(json!({"Memory": 1024}))).is_err());
        let mut auto = hc.clone();
        auto.auto_remove = true;
        assert!(apply(&auto, &body(json!({"RestartPolicy": {"Name": "always"}}))).is_err());
        let mut nano = hc.clone();
        nano.nano_cpus = 1_000_000_000;
        assert!(apply(&nano, &body(json!({"CpuQuota": 50_000}))).is_err());
    }
}
