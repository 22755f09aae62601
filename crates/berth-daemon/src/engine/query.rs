//! Read-only views: list, inspect, top, logs.

use super::container::Record;
use super::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::{
    ContainerInspect, ContainerSummary, HostConfig, MountPoint, TopResponse,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

pub fn labels_match(labels: &Option<BTreeMap<String, String>>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| {
        let l = labels.as_ref();
        match w.split_once('=') {
            Some((k, v)) => l.and_then(|m| m.get(k)).is_some_and(|x| x == v),
            None => l.is_some_and(|m| m.contains_key(w)),
        }
    })
}

fn unix_time(rfc: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
pub fn status_text(r: &Record) -> String {
    let now = chrono::Utc::now().timestamp();
    let st = &r.state;
    if st.restarting {
        return format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            berth_api::human_duration(now - unix_time(&st.finished_at))
        );
    }
    if st.running {
        let up = berth_api::human_duration(now - unix_time(&st.started_at));
        return match (&st.health, st.paused) {
            (_, true) => format!("Up {up} (Paused)"),
            (Some(h), _) if h.status == super::health::STARTING => {
                format!("Up {up} (health: starting)")
            }
            (Some(h), _) => format!("Up {up} ({})", h.status),
            (None, _) => format!("Up {up}"),
        };
    }
    match st.status.as_str() {
        "created" if st.finished_at.starts_with("0001") => "Created".into(),
        "removing" => "Removal In Progress".into(),
        _ if st.finished_at.starts_with("0001") => "Created".into(),
        _ => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            berth_api::human_duration(now - unix_time(&st.finished_at))
        ),
    }
}

fn mounts(r: &Record, volumes: &super::volume::Volumes) -> Vec<MountPoint> {
    let binds = r
        .host_config
        .binds
        .iter()
        .flatten()
        // Checked at create: a bind that does not parse was never stored.
        .filter_map(|b| super::bind::Bind::parse(b).ok())
        .filter(|b| !b.volume)
        .map(|b| MountPoint {
            kind: "bind".into(),
            source: b.source,
            destination: b.destination,
            mode: b.mode,
            rw: !b.read_only,
            propagation: b.propagation.into(),
            ..Default::default()
        });
    let vols = r.volumes.iter().map(|v| MountPoint {
        kind: "volume".into(),
        name: v.name.clone(),
        source: volumes.data_dir(&v.name).display().to_string(),
        destination: v.destination.clone(),
        driver: "local".into(),
        mode: if v.read_only { "ro".into() } else { "z".into() },
        rw: !v.read_only,
        propagation: String::new(),
    });
    // `--mount` entries other than volumes (which are in `volumes`).
    let mounts = r
        .host_config
        .mounts
        .iter()
        .flatten()
        .filter(|m| matches!(m.kind.as_str(), "bind" | "tmpfs" | "image"))
        .map(|m| MountPoint {
            kind: m.kind.clone(),
            source: if m.kind == "tmpfs" {
                String::new()
            } else {
                m.source.clone()
            },
            destination: m.target.clone(),
            mode: String::new(),
            rw: !m.read_only && m.kind != "image",
            propagation: match m.kind.as_str() {
                "bind" => m
                    .bind_options
                    .as_ref()
                    .and_then(|o| o.get("Propagation"))
                    .and_then(|p| p.as_str())
                    .filter(|p| !p.is_empty())
                    .unwrap_or("rprivate")
                    .to_string(),
                _ => String::new(),
            },
            ..Default::default()
        });
    binds.chain(vols).chain(mounts).collect()
}

/// Every exposed or published port: its bindings while the container runs, else null.
fn published_ports(r: &Record) -> super::network::PortMap {
    let mut out: super::network::PortMap = BTreeMap::new();
    for key in r.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        let key = if key.contains('/') {
            key.clone()
        } else {
            format!("{key}/tcp")
        };
        out.insert(key, None);
    }
    for key in r.host_config.port_bindings.iter().flatten().map(|(k, _)| k) {
        out.entry(key.clone()).or_insert(None);
    }
    for (key, bindings) in &r.ports {
        out.insert(key.clone(), Some(bindings.clone()));
    }
    out
}

/// `docker ps`'s Ports: each binding of a running container's published ports, and
/// the exposed ports that have none, as dockerd lists them.
fn port_summary(r: &Record) -> Vec<serde_json::Value> {
    let mut out = vec![];
    for (key, bindings) in published_ports(r) {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private) = port.parse::<u16>() else {
            continue;
        };
        match bindings.filter(|b| !b.is_empty()) {
            None => out.push(serde_json::json!({"PrivatePort": private, "Type": proto})),
            Some(list) => {
                for b in list {
                    let public = b
                        .get("HostPort")
                        .and_then(|p| p.as_str())
                        .and_then(|p| p.parse::<u16>().ok());
                    out.push(serde_json::json!({
                        "IP": b.get("HostIp").cloned().unwrap_or_default(),
                        "PrivatePort": private,
                        "PublicPort": public,
                        "Type": proto,
                    }));
                }
            }
        }
    }
    out
}

/// Docker's NetworkSettings: the endpoints by network, and (deprecated, still read by
/// clients) the default bridge's address at the top level.
fn network_settings(r: &Record) -> serde_json::Value {
    let bridge = r.networks.get("bridge").cloned().unwrap_or_default();
    serde_json::json!({
        "Bridge": "", "SandboxID": "", "SandboxKey": "", "HairpinMode": false,
        "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": published_ports(r), "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.endpoint_id, "Gateway": bridge.gateway,
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.ip_address, "IPPrefixLen": bridge.ip_prefix_len,
        "IPv6Gateway": "", "MacAddress": bridge.mac_address,
        "Networks": r.networks,
    })
}

/// `ps`'s COMMAND as dockerd writes it: the path, then the arguments, those with a
/// space in single quotes.
fn command_line(r: &Record) -> String {
    std::iter::once(r.path.clone())
        .chain(r.args.iter().map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The HostConfig inspect shows: every key dockerd shows, each with what is in force
/// (berth's defaults where the request left a setting out), so that tools reading
/// inspect find what they read on dockerd.
pub fn reported_host_config(hc: &HostConfig) -> HostConfig {
    use serde_json::{json, Value};
    let mut out = hc.clone();
    if out.shm_size == 0 {
        out.shm_size = super::spec::DEFAULT_SHM_SIZE;
    }
    if out.ipc_mode.is_empty() {
        out.ipc_mode = "private".into();
    }
    if out.cgroupns_mode.is_empty() {
        out.cgroupns_mode = "private".into();
    }
    if out.runtime.is_empty() {
        out.runtime = "berth".into();
    }
    if !hc.privileged {
        let own = |v: &Option<Vec<String>>, d: &[&str]| {
            Some(
                v.clone()
                    .unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect()),
            )
        };
        out.masked_paths = own(&hc.masked_paths, super::spec::MASKED_PATHS);
        out.readonly_paths = own(&hc.readonly_paths, super::spec::READONLY_PATHS);
    }
    let present = serde_json::to_value(&out).unwrap_or_default();
    let defaults: [(&str, Value); 18] = [
        ("BlkioWeight", json!(0)),
        ("BlkioWeightDevice", json!([])),
        ("BlkioDeviceReadBps", json!([])),
        ("BlkioDeviceWriteBps", json!([])),
        ("BlkioDeviceReadIOps", json!([])),
        ("BlkioDeviceWriteIOps", json!([])),
        ("CpuCount", json!(0)),
        ("CpuPercent", json!(0)),
        ("IOMaximumIOps", json!(0)),
        ("IOMaximumBandwidth", json!(0)),
        ("DeviceCgroupRules", Value::Null),
        ("DeviceRequests", Value::Null),
        ("ContainerIDFile", json!("")),
        ("VolumeDriver", json!("")),
        ("OomKillDisable", json!(false)),
        ("MemorySwappiness", Value::Null),
        ("PidsLimit", Value::Null),
        ("Annotations", Value::Null),
    ];
    for (key, value) in defaults {
        if present.get(key).is_none() {
            out.other.insert(key.to_string(), value);
        }
    }
    out
}

impl Engine {
    pub fn list(
        &self,
        all: bool,
        filters: &HashMap<String, Vec<String>>,
        limit: Option<i64>,
    ) -> Result<Vec<ContainerSummary>> {
        let ancestors: Vec<String> = filters
            .get("ancestor")
            .into_iter()
            .flatten()
            .filter_map(|a| self.images.resolve(a).ok().map(|d| d.to_string()))
            .collect();
        if filters.get("ancestor").is_some_and(|a| !a.is_empty()) && ancestors.is_empty() {
            return Ok(vec![]);
        }
        for k in filters.keys() {
            if ![
                "id", "name", "label", "status", "ancestor", "exited", "before", "since", "health",
                "network", "volume", "publish", "expose", "is-task",
            ]
            .contains(&k.as_str())
            {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid filter '{k}'"
                )));
            }
        }
        // `limit` (ps -n, -l): the newest containers of all, running or not.
        let all = all || limit.is_some_and(|n| n > 0);
        // before= and since= name a container; the others are compared by creation.
        let created_of = |key: &str| -> Result<Option<String>> {
            match filters.get(key).and_then(|v| v.first()) {
                None => Ok(None),
                Some(n) => Ok(Some(self.get(n)?.record().created.clone())),
            }
        };
        let (before, since) = (created_of("before")?, created_of("since")?);
        for h in filters.get("health").into_iter().flatten() {
            if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
                return Err(DaemonError::InvalidParameter(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        let networks: Vec<String> = filters
            .get("network")
            .into_iter()
            .flatten()
            .map(|n| {
                self.networks
                    .find(n)
                    .map(|r| r.name)
                    .unwrap_or_else(|_| n.clone())
            })
            .collect();
        let port_key = |p: &str| -> String {
            if p.contains('/') {
                p.to_string()
            } else {
                format!("{p}/tcp")
            }
        };
        let statuses = filters.get("status").cloned().unwrap_or_default();
        for s in &statuses {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&s.as_str())
            {
                return Err(DaemonError::InvalidParameter(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
        let mut out: Vec<(String, ContainerSummary)> = vec![];
        for c in self.all() {
            let r = c.snapshot();
            let status = if r.state.paused {
                "paused".to_string()
            } else {
                r.state.status.clone()
            };
            if !all && !r.state.running && !r.state.restarting && statuses.is_empty() {
                continue;
            }
            if before.as_ref().is_some_and(|b| r.created >= *b)
                || since.as_ref().is_some_and(|s| r.created <= *s)
            {
                continue;
            }
            if let Some(hs) = filters.get("health") {
                let h = r
                    .state
                    .health
                    .as_ref()
                    .map_or("none", |h| h.status.as_str());
                if !hs.iter().any(|x| x == h) {
                    continue;
                }
            }
            if !networks.is_empty() && !networks.iter().any(|n| r.networks.contains_key(n)) {
                continue;
            }
            let mount_points = mounts(&r, &self.volumes);
            if let Some(vs) = filters.get("volume") {
                // A volume by name, any mount by where it goes, a bind by its host path.
                let hit = vs.iter().any(|v| {
                    mount_points.iter().any(|m| {
                        (!m.name.is_empty() && m.name == *v)
                            || m.destination == *v
                            || (m.kind == "bind" && m.source == *v)
                    })
                });
                if !hit {
                    continue;
                }
            }
            let has_port =
                |wanted: &[String], keys: Option<&HashMap<String, serde_json::Value>>| {
                    wanted
                        .iter()
                        .any(|p| keys.is_some_and(|k| k.contains_key(&port_key(p))))
                };
            if let Some(ps) = filters.get("publish") {
                if !has_port(ps, r.host_config.port_bindings.as_ref()) {
                    continue;
                }
            }
            if let Some(es) = filters.get("expose") {
                if !has_port(es, r.config.exposed_ports.as_ref()) {
                    continue;
                }
            }
            // No container of berth's is a swarm task.
            if filters
                .get("is-task")
                .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"))
            {
                continue;
            }
            if !statuses.is_empty() && !statuses.contains(&status) {
                continue;
            }
            if let Some(ids) = filters.get("id") {
                if !ids.iter().any(|i| r.id.starts_with(i.as_str())) {
                    continue;
                }
            }
            if let Some(names) = filters.get("name") {
                let n = r.name.trim_start_matches('/');
                if !names.iter().any(|x| n.contains(x.trim_start_matches('/'))) {
                    continue;
                }
            }
            if !labels_match(
                &r.config.labels,
                filters.get("label").map(|v| v.as_slice()).unwrap_or(&[]),
            ) {
                continue;
            }
            if !ancestors.is_empty() && !ancestors.contains(&r.image_id) {
                continue;
            }
            if let Some(codes) = filters.get("exited") {
                if r.state.running
                    || !codes
                        .iter()
                        .any(|x| x.parse::<i64>().ok() == Some(r.state.exit_code))
                {
                    continue;
                }
            }
            out.push((
                r.created.clone(),
                ContainerSummary {
                    id: r.id.clone(),
                    names: vec![r.name.clone()],
                    image: r.image.clone(),
                    image_id: r.image_id.clone(),
                    command: command_line(&r),
                    created: unix_time(&r.created),
                    ports: port_summary(&r),
                    labels: r.config.labels.clone().unwrap_or_default(),
                    state: status,
                    status: status_text(&r),
                    host_config: serde_json::json!({"NetworkMode": r.host_config.network_mode}),
                    network_settings: serde_json::json!({"Networks": network_settings(&r)["Networks"]}),
                    mounts: mount_points,
                    health: Some(match r.state.health.as_ref().filter(|_| r.state.running) {
                        Some(h) => serde_json::json!({"Status": h.status, "FailingStreak": h.failing_streak}),
                        None => serde_json::json!({"Status": "none", "FailingStreak": 0}),
                    }),
                    size_rw: None,
                    size_root_fs: None,
                },
            ));
        }
        // Newest first, as docker ps shows them.
        out.sort_by(|a, b| b.0.cmp(&a.0));
        let mut list: Vec<_> = out.into_iter().map(|(_, s)| s).collect();
        if let Some(n) = limit.filter(|n| *n > 0) {
            list.truncate(n as usize);
        }
        Ok(list)
    }

    pub fn inspect(&self, name: &str) -> Result<ContainerInspect> {
        let c = self.get(name)?;
        let r = c.snapshot();
        let dir = self.cfg.container_dir(&r.id);
        let exec_ids = self.execs.ids_for(&r.id);
        Ok(ContainerInspect {
            id: r.id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state: berth_api::container::ContainerState {
                status: if r.state.paused {
                    "paused".into()
                } else {
                    r.state.status.clone()
                },
                // Docker counts a container waiting to restart as running.
                running: r.state.running || r.state.restarting,
                ..r.state.clone()
            },
            image: r.image_id.clone(),
            resolv_conf_path: r.resolv_conf_path.clone(),
            hostname_path: r.hostname_path.clone(),
            hosts_path: r.hosts_path.clone(),
            log_path: r.log_path.clone(),
            name: r.name.clone(),
            restart_count: r.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            exec_ids: (!exec_ids.is_empty()).then_some(exec_ids),
            host_config: reported_host_config(&r.host_config),
            graph_driver: serde_json::json!({
                "Name": "overlay2",
                "Data": {
                    "LowerDir": self.lower_dirs(&r.image_id, &dir),
                    "UpperDir": dir.join("fs/upper"), "WorkDir": dir.join("fs/work"),
                    "MergedDir": dir.join("bundle/rootfs"),
                }
            }),
            mounts: mounts(&r, &self.volumes),
            config: r.config.clone(),
            network_settings: network_settings(&r),
            ..Default::default()
        })
    }

    /// Overlay's lower dirs for a container as dockerd shows them: its init layer, then
    /// its image's layers, top first, joined by `:`.
    fn lower_dirs(&self, image_id: &str, container_dir: &std::path::Path) -> String {
        let mut dirs = vec![container_dir.join("fs/init")];
        if let Some(img) = image_id
            .parse()
            .ok()
            .and_then(|id| self.images.get(&id).ok())
        {
            dirs.extend(self.images.layer_dirs(&img));
        }
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub async fn top(self: &Arc<Self>, name: &str, ps_args: &str) -> Result<TopResponse> {
        let c = self.get(name)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids = self.task(&c.id).pids().await?;
        let args: Vec<&str> = if ps_args.is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        // As dockerd: ps is asked for the container's processes (`-q`), so that
        // arguments without `-e` (`-o pid,comm`) still list them; a ps without `-q`
        // (busybox's) lists all, filtered below.
        let run = |extra: Option<String>| {
            let mut cmd = tokio::process::Command::new("ps");
            cmd.args(&args);
            if let Some(q) = extra {
                cmd.arg("-q").arg(q);
            }
            cmd.output()
        };
        let listed: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
        let mut out = run((!listed.is_empty()).then(|| listed.join(",")))
            .await
            .map_err(|e| DaemonError::System(format!("running ps: {e}")))?;
        if !out.status.success() {
            out = run(None)
                .await
                .map_err(|e| DaemonError::System(format!("running ps: {e}")))?;
        }
        self.container_event(&c, "top", &[]);
        if !out.status.success() {
            return Err(DaemonError::System(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }

    /// Streams the container's json-file log. With `follow`, keeps going until it stops.
    pub fn logs(
        self: &Arc<Self>,
        name: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogChunk>)> {
        let c = self.get(name)?;
        let r = c.snapshot();
        super::logs::Driver::parse(&r.host_config.log_config.kind)?.readable()?;
        let tty = r.config.tty;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(super::log_reader::stream(c, r.log_path.into(), opts, tx));
        Ok((tty, rx))
    }
}

pub use super::log_reader::{LogChunk, LogOptions};

/// Keeps the rows of `ps` output whose PID is one of `pids`.
pub fn parse_ps(out: &str, pids: &[i32]) -> Result<TopResponse> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        DaemonError::InvalidParameter("Couldn't find PID field in ps output".into())
    })?;
    let mut processes = vec![];
    for l in lines {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let n = titles.len();
        let mut row: Vec<String> = fields
            .iter()
            .take(n.saturating_sub(1))
            .map(|s| s.to_string())
            .collect();
        row.push(
            fields
                .get(n.saturating_sub(1)..)
                .map(|r| r.join(" "))
                .unwrap_or_default(),
        );
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_filtered_by_pid() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n";
        let t = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
    }

    #[test]
    fn label_filters() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), "1".to_string());
        let l = Some(m);
        assert!(labels_match(&l, &["a".into()]));
        assert!(labels_match(&l, &["a=1".into()]));
        assert!(!labels_match(&l, &["a=2".into()]));
        assert!(!labels_match(&None, &["a".into()]));
    }
}
