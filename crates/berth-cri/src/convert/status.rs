//! A berth container as CRI sees it: its state, times, exit and labels.

use super::labels::{self, Decoded};
use crate::proto::{self, ContainerState};
use berth_daemon::engine::container::Record;
use berth_daemon::engine::host_config;

/// RFC 3339 (as berth records times) to nanoseconds since the epoch; 0 for Docker's
/// zero time.
pub fn nanos(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

pub fn state(r: &Record) -> ContainerState {
    match r.state.status.as_str() {
        "created" => ContainerState::ContainerCreated,
        "running" | "paused" | "restarting" => ContainerState::ContainerRunning,
        "exited" | "dead" => ContainerState::ContainerExited,
        _ => ContainerState::ContainerUnknown,
    }
}

/// The CRI view of a berth container, if it was made through CRI.
pub fn decoded(r: &Record) -> Option<Decoded> {
    r.pod.as_ref()?;
    labels::decode(r.config.labels.as_ref()?)
}

pub fn image_spec(d: &Decoded) -> proto::ImageSpec {
    proto::ImageSpec {
        image: d.image.clone(),
        user_specified_image: d.image.clone(),
        ..Default::default()
    }
}

pub fn container(r: &Record, d: &Decoded) -> proto::Container {
    proto::Container {
        id: r.id.clone(),
        pod_sandbox_id: d.sandbox_id.clone(),
        metadata: Some(d.metadata.clone()),
        image: Some(image_spec(d)),
        image_ref: r.image_id.clone(),
        image_id: r.image_id.clone(),
        state: state(r) as i32,
        created_at: nanos(&r.created),
        labels: d.labels.clone(),
        annotations: d.annotations.clone(),
    }
}

pub fn container_status(r: &Record, d: &Decoded) -> proto::ContainerStatus {
    let st = state(r);
    let (reason, exit_code) = match st {
        ContainerState::ContainerExited => {
            let code = r.state.exit_code as i32;
            let reason = if r.state.oom_killed {
                "OOMKilled"
            } else if code == 0 {
                "Completed"
            } else {
                "Error"
            };
            (reason.to_string(), code)
        }
        _ => (String::new(), 0),
    };
    let mounts = r
        .host_config
        .mounts
        .iter()
        .flatten()
        .map(|m| proto::Mount {
            container_path: m.target.clone(),
            host_path: if m.kind == "image" {
                String::new()
            } else {
                m.source.clone()
            },
            readonly: m.read_only,
            propagation: match m
                .bind_options
                .as_ref()
                .and_then(|b| b.get("Propagation"))
                .and_then(|p| p.as_str())
            {
                Some("rslave") => proto::MountPropagation::PropagationHostToContainer as i32,
                Some("rshared") => proto::MountPropagation::PropagationBidirectional as i32,
                _ => proto::MountPropagation::PropagationPrivate as i32,
            },
            recursive_read_only: host_config::bind_bool(m, "ReadOnlyForceRecursive"),
            image_sub_path: host_config::image_subpath(m)
                .unwrap_or_default()
                .to_string(),
            // An image volume names its image and the image ID it was resolved to.
            image: (m.kind == "image").then(|| proto::ImageSpec {
                image: m.source.clone(),
                image_ref: r.image_mounts.get(&m.target).cloned().unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let hc = &r.host_config;
    proto::ContainerStatus {
        id: r.id.clone(),
        metadata: Some(d.metadata.clone()),
        state: st as i32,
        created_at: nanos(&r.created),
        started_at: nanos(&r.state.started_at),
        finished_at: nanos(&r.state.finished_at),
        exit_code,
        image: Some(image_spec(d)),
        image_ref: r.image_id.clone(),
        image_id: r.image_id.clone(),
        reason,
        message: r.state.error.clone(),
        labels: d.labels.clone(),
        annotations: d.annotations.clone(),
        mounts,
        log_path: r
            .pod
            .as_ref()
            .and_then(|p| p.log_path.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        resources: Some(proto::ContainerResources {
            linux: Some(proto::LinuxContainerResources {
                cpu_period: hc.cpu_period,
                cpu_quota: hc.cpu_quota,
                cpu_shares: hc.cpu_shares,
                memory_limit_in_bytes: hc.memory,
                memory_swap_limit_in_bytes: hc.memory_swap,
                oom_score_adj: hc.oom_score_adj,
                cpuset_cpus: hc.cpuset_cpus.clone(),
                cpuset_mems: hc.cpuset_mems.clone(),
                ..Default::default()
            }),
            windows: None,
        }),
        user: process_user(r),
        stop_signal: r
            .config
            .stop_signal
            .as_deref()
            .and_then(proto::Signal::from_str_name)
            .map_or(0, |s| s as i32),
    }
}

/// The identity the container's first process runs with (a running container only), as
/// /proc says: uid, gid and its groups (the gid among them, as CRI reports them).
fn process_user(r: &Record) -> Option<proto::ContainerUser> {
    if !r.state.running || r.state.pid <= 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", r.state.pid)).ok()?;
    parse_process_user(&status)
}

fn parse_process_user(status: &str) -> Option<proto::ContainerUser> {
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| {
            v.split_whitespace()
                .filter_map(|n| n.parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
    };
    let uid = *field("Uid:")?.first()?;
    let gid = *field("Gid:")?.first()?;
    let mut groups = field("Groups:").unwrap_or_default();
    groups.push(gid);
    groups.sort_unstable();
    groups.dedup();
    Some(proto::ContainerUser {
        linux: Some(proto::LinuxContainerUser {
            uid,
            gid,
            supplemental_groups: groups,
        }),
    })
}
