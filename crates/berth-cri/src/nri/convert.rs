//! Between CRI and NRI: pods and containers as plugins see them, and a plugin's
//! adjustments of a container made on its CRI config before the container is created.
//! What berth cannot apply is refused by name, never dropped.

use super::api;
use crate::proto;
use crate::sandbox::Sandbox;

/// A pod as plugins see it.
pub fn pod(s: &Sandbox) -> api::PodSandbox {
    let meta = s.config.metadata.clone().unwrap_or_default();
    let held = &s.record.held;
    let namespaces = [
        ("network", &held.net),
        ("ipc", &held.ipc),
        ("uts", &held.uts),
        ("pid", &held.pid),
        ("user", &held.user),
    ]
    .into_iter()
    .filter_map(|(typ, path)| {
        path.as_ref().map(|p| api::LinuxNamespace {
            r#type: typ.into(),
            path: p.display().to_string(),
        })
    })
    .collect();
    api::PodSandbox {
        id: s.record.id.clone(),
        name: meta.name,
        uid: meta.uid,
        namespace: meta.namespace,
        labels: s.config.labels.clone(),
        annotations: s.config.annotations.clone(),
        runtime_handler: s.record.runtime_handler.clone(),
        linux: Some(api::LinuxPodSandbox {
            cgroup_parent: s.record.cgroup_parent.clone(),
            namespaces,
            ..Default::default()
        }),
        pid: 0,
        ips: s
            .record
            .network
            .as_ref()
            .map(|n| n.addresses.clone())
            .unwrap_or_default(),
    }
}

/// CRI's resources as NRI's.
pub fn resources(r: &proto::LinuxContainerResources) -> api::LinuxResources {
    let i64_opt = |v: i64| (v != 0).then_some(api::OptionalInt64 { value: v });
    let u64_opt = |v: i64| (v > 0).then_some(api::OptionalUInt64 { value: v as u64 });
    api::LinuxResources {
        memory: Some(api::LinuxMemory {
            limit: i64_opt(r.memory_limit_in_bytes),
            swap: i64_opt(r.memory_swap_limit_in_bytes),
            ..Default::default()
        }),
        cpu: Some(api::LinuxCpu {
            shares: u64_opt(r.cpu_shares),
            quota: i64_opt(r.cpu_quota),
            period: u64_opt(r.cpu_period),
            cpus: r.cpuset_cpus.clone(),
            mems: r.cpuset_mems.clone(),
            ..Default::default()
        }),
        hugepage_limits: r
            .hugepage_limits
            .iter()
            .map(|h| api::HugepageLimit {
                page_size: h.page_size.clone(),
                limit: h.limit,
            })
            .collect(),
        unified: r.unified.clone(),
        ..Default::default()
    }
}

/// A container being created, from its CRI config, as plugins see it.
pub fn new_container(id: &str, pod_id: &str, c: &proto::ContainerConfig) -> api::Container {
    let meta = c.metadata.clone().unwrap_or_default();
    let resources = c.linux.as_ref().and_then(|l| l.resources.as_ref());
    api::Container {
        id: id.into(),
        pod_sandbox_id: pod_id.into(),
        name: meta.name,
        state: api::ContainerState::ContainerUnknown as i32,
        labels: c.labels.clone(),
        annotations: c.annotations.clone(),
        args: c.command.iter().chain(&c.args).cloned().collect(),
        env: c
            .envs
            .iter()
            .map(|e| format!("{}={}", e.key, String::from_utf8_lossy(&e.value)))
            .collect(),
        mounts: c
            .mounts
            .iter()
            .map(|m| api::Mount {
                destination: m.container_path.clone(),
                r#type: "bind".into(),
                source: m.host_path.clone(),
                options: if m.readonly {
                    vec!["rbind".into(), "ro".into()]
                } else {
                    vec!["rbind".into(), "rw".into()]
                },
            })
            .collect(),
        linux: Some(api::LinuxContainer {
            resources: resources.map(self::resources),
            oom_score_adj: resources.map(|r| api::OptionalInt {
                value: r.oom_score_adj,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container berth has, as plugins see it (in a synchronization or an event).
pub fn container(r: &berth_daemon::engine::container::Record) -> Option<api::Container> {
    let d = crate::convert::status::decoded(r)?;
    let state = if r.state.running {
        api::ContainerState::ContainerRunning
    } else if r.state.started_at != berth_daemon::engine::time::ZERO_TIME {
        api::ContainerState::ContainerStopped
    } else {
        api::ContainerState::ContainerCreated
    };
    Some(api::Container {
        id: r.id.clone(),
        pod_sandbox_id: d.sandbox_id.clone(),
        name: d.metadata.name.clone(),
        state: state as i32,
        labels: d.labels.clone(),
        annotations: d.annotations.clone(),
        args: std::iter::once(r.path.clone())
            .chain(r.args.iter().cloned())
            .collect(),
        env: r.config.env.clone().unwrap_or_default(),
        pid: u32::try_from(r.state.pid).unwrap_or(0),
        exit_code: r.state.exit_code as i32,
        ..Default::default()
    })
}

fn refused(plugin: &str, field: &str) -> String {
    format!("NRI plugin {plugin} adjusted {field}, which berth does not apply")
}

/// `-KEY` removes KEY; anything else sets it.
fn removal(key: &str) -> Option<&str> {
    key.strip_prefix('-')
}

/// Applies `plugin`'s adjustment to the container's CRI config.
pub fn adjust(
    plugin: &str,
    a: &api::ContainerAdjustment,
    c: &mut proto::ContainerConfig,
) -> Result<(), String> {
    for (k, v) in &a.annotations {
        match removal(k) {
            Some(k) => {
                c.annotations.remove(k);
            }
            None => {
                c.annotations.insert(k.clone(), v.clone());
            }
        }
    }
    for kv in &a.env {
        let key = removal(&kv.key).unwrap_or(&kv.key);
        c.envs.retain(|e| e.key != key);
        if removal(&kv.key).is_none() {
            c.envs.push(proto::KeyValue {
                key: kv.key.clone(),
                value: kv.value.clone().into_bytes(),
            });
        }
    }
    if !a.args.is_empty() {
        c.command = a.args.clone();
        c.args.clear();
    }
    for m in &a.mounts {
        if let Some(dest) = removal(&m.destination) {
            c.mounts.retain(|x| x.container_path != dest);
            continue;
        }
        let bind = m.r#type == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
        if !bind {
            return Err(refused(
                plugin,
                &format!("mounts ({} of type {:?})", m.destination, m.r#type),
            ));
        }
        let mut propagation = proto::MountPropagation::PropagationPrivate;
        for o in &m.options {
            match o.as_str() {
                "rslave" | "slave" => {
                    propagation = proto::MountPropagation::PropagationHostToContainer
                }
                "rshared" | "shared" => {
                    propagation = proto::MountPropagation::PropagationBidirectional
                }
                "bind" | "rbind" | "ro" | "rw" | "private" | "rprivate" => {}
                other => {
                    return Err(refused(
                        plugin,
                        &format!("mounts ({}: option {other:?})", m.destination),
                    ))
                }
            }
        }
        c.mounts.retain(|x| x.container_path != m.destination);
        c.mounts.push(proto::Mount {
            container_path: m.destination.clone(),
            host_path: m.source.clone(),
            readonly: m.options.iter().any(|o| o == "ro"),
            propagation: propagation as i32,
            ..Default::default()
        });
    }
    if a.hooks
        .as_ref()
        .is_some_and(|h| *h != api::Hooks::default())
    {
        return Err(refused(plugin, "hooks"));
    }
    if !a.rlimits.is_empty() {
        return Err(refused(plugin, "rlimits"));
    }
    if !a.cdi_devices.is_empty() {
        return Err(refused(plugin, "CDI_devices"));
    }
    if let Some(l) = &a.linux {
        adjust_linux(plugin, l, c)?;
    }
    Ok(())
}

fn adjust_linux(
    plugin: &str,
    l: &api::LinuxContainerAdjustment,
    c: &mut proto::ContainerConfig,
) -> Result<(), String> {
    let unapplied = [
        (!l.devices.is_empty(), "linux.devices"),
        (!l.cgroups_path.is_empty(), "linux.cgroups_path"),
        (l.io_priority.is_some(), "linux.io_priority"),
        (l.seccomp_policy.is_some(), "linux.seccomp_policy"),
        (!l.namespaces.is_empty(), "linux.namespaces"),
        (!l.sysctl.is_empty(), "linux.sysctl"),
        (!l.net_devices.is_empty(), "linux.net_devices"),
        (l.scheduler.is_some(), "linux.scheduler"),
        (l.rdt.is_some(), "linux.rdt"),
        (l.memory_policy.is_some(), "linux.memory_policy"),
    ];
    if let Some((_, field)) = unapplied.iter().find(|(set, _)| *set) {
        return Err(refused(plugin, field));
    }
    let linux = c.linux.get_or_insert_with(Default::default);
    let res = linux.resources.get_or_insert_with(Default::default);
    if let Some(o) = &l.oom_score_adj {
        res.oom_score_adj = o.value;
    }
    if let Some(r) = &l.resources {
        apply_resources(plugin, r, res)?;
    }
    Ok(())
}

/// NRI's resources on CRI's; what CRI's cannot say is refused.
pub fn apply_resources(
    plugin: &str,
    r: &api::LinuxResources,
    res: &mut proto::LinuxContainerResources,
) -> Result<(), String> {
    let unapplied = [
        (r.blockio_class.is_some(), "linux.resources.blockio_class"),
        (r.rdt_class.is_some(), "linux.resources.rdt_class"),
        (!r.devices.is_empty(), "linux.resources.devices"),
        (r.pids.is_some(), "linux.resources.pids"),
    ];
    if let Some((_, field)) = unapplied.iter().find(|(set, _)| *set) {
        return Err(refused(plugin, field));
    }
    if let Some(m) = &r.memory {
        let unapplied = [
            (
                m.reservation.is_some(),
                "linux.resources.memory.reservation",
            ),
            (m.kernel.is_some(), "linux.resources.memory.kernel"),
            (m.kernel_tcp.is_some(), "linux.resources.memory.kernel_tcp"),
            (m.swappiness.is_some(), "linux.resources.memory.swappiness"),
            (
                m.disable_oom_killer.is_some(),
                "linux.resources.memory.disable_oom_killer",
            ),
            (
                m.use_hierarchy.is_some(),
                "linux.resources.memory.use_hierarchy",
            ),
        ];
        if let Some((_, field)) = unapplied.iter().find(|(set, _)| *set) {
            return Err(refused(plugin, field));
        }
        if let Some(v) = &m.limit {
            res.memory_limit_in_bytes = v.value;
        }
        if let Some(v) = &m.swap {
            res.memory_swap_limit_in_bytes = v.value;
        }
    }
    if let Some(cpu) = &r.cpu {
        if cpu.realtime_runtime.is_some() || cpu.realtime_period.is_some() {
            return Err(refused(plugin, "linux.resources.cpu.realtime_*"));
        }
        let to_i64 = |v: u64, field: &str| {
            i64::try_from(v).map_err(|_| refused(plugin, &format!("{field} ({v}, out of range)")))
        };
        if let Some(v) = &cpu.shares {
            res.cpu_shares = to_i64(v.value, "linux.resources.cpu.shares")?;
        }
        if let Some(v) = &cpu.quota {
            res.cpu_quota = v.value;
        }
        if let Some(v) = &cpu.period {
            res.cpu_period = to_i64(v.value, "linux.resources.cpu.period")?;
        }
        if !cpu.cpus.is_empty() {
            res.cpuset_cpus = cpu.cpus.clone();
        }
        if !cpu.mems.is_empty() {
            res.cpuset_mems = cpu.mems.clone();
        }
    }
    for h in &r.hugepage_limits {
        res.hugepage_limits.retain(|x| x.page_size != h.page_size);
        res.hugepage_limits.push(proto::HugepageLimit {
            page_size: h.page_size.clone(),
            limit: h.limit,
        });
    }
    res.unified.extend(r.unified.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjustments_change_the_config_or_are_refused_by_name() {
        let mut c = proto::ContainerConfig {
            envs: vec![
                proto::KeyValue {
                    key: "KEEP".into(),
                    value: b"1".to_vec(),
                },
                proto::KeyValue {
                    key: "DROP".into(),
                    value: b"1".to_vec(),
                },
            ],
            command: vec!["sh".into()],
            args: vec!["-c".into(), "true".into()],
            ..Default::default()
        };
        let a = api::ContainerAdjustment {
            env: vec![
                api::KeyValue {
                    key: "-DROP".into(),
                    value: String::new(),
                },
                api::KeyValue {
                    key: "NEW".into(),
                    value: "2".into(),
                },
            ],
            annotations: [("a".to_string(), "b".to_string())].into(),
            mounts: vec![api::Mount {
                destination: "/data".into(),
                r#type: "bind".into(),
                source: "/srv/data".into(),
                options: vec!["rbind".into(), "ro".into()],
            }],
            linux: Some(api::LinuxContainerAdjustment {
                resources: Some(api::LinuxResources {
                    memory: Some(api::LinuxMemory {
                        limit: Some(api::OptionalInt64 { value: 1 << 30 }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                oom_score_adj: Some(api::OptionalInt { value: 500 }),
                ..Default::default()
            }),
            ..Default::default()
        };
        adjust("00-test", &a, &mut c).unwrap();
        let env: Vec<_> = c
            .envs
            .iter()
            .map(|e| format!("{}={}", e.key, String::from_utf8_lossy(&e.value)))
            .collect();
        assert_eq!(env, ["KEEP=1", "NEW=2"]);
        assert_eq!(c.annotations["a"], "b");
        assert_eq!(c.mounts[0].host_path, "/srv/data");
        assert!(c.mounts[0].readonly);
        let res = c.linux.unwrap().resources.unwrap();
        assert_eq!(
            (res.memory_limit_in_bytes, res.oom_score_adj),
            (1 << 30, 500)
        );
        let hooks = api::ContainerAdjustment {
            rlimits: vec![api::PosixRlimit {
                r#type: "RLIMIT_NOFILE".into(),
                hard: 1,
                soft: 1,
            }],
            ..Default::default()
        };
        let e = adjust("00-test", &hooks, &mut proto::ContainerConfig::default()).unwrap_err();
        assert!(e.contains("rlimits") && e.contains("00-test"), "{e}");
        let tmpfs = api::ContainerAdjustment {
            mounts: vec![api::Mount {
                destination: "/t".into(),
                r#type: "tmpfs".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(adjust("p", &tmpfs, &mut proto::ContainerConfig::default()).is_err());
    }
}
