//! A pod's user namespace options (`hostUsers: false`), checked: the mode is POD (its
//! own, with one uid and one gid range) or NODE (the host's); the ranges map the pod's
//! root and never the host's.

use crate::error::{CriError, Result};
use crate::proto::{self, NamespaceMode};
use berth_runtime::pod_userns::IdMap;

const FIELD: &str = "linux.security_context.namespace_options.userns_options";

fn one_range(maps: &[proto::IdMapping], which: &str) -> Result<IdMap> {
    let [m] = maps else {
        return Err(CriError::InvalidArgument(format!(
            "{FIELD}.{which}: exactly one range is supported, {} given",
            maps.len()
        )));
    };
    if m.container_id != 0 {
        return Err(CriError::InvalidArgument(format!(
            "{FIELD}.{which}: the range must map the pod's id 0 (it starts at {})",
            m.container_id
        )));
    }
    if m.length == 0 || m.host_id.checked_add(m.length).is_none() {
        return Err(CriError::InvalidArgument(format!(
            "{FIELD}.{which}: the range {}+{} is empty or overflows",
            m.host_id, m.length
        )));
    }
    // The host's root inside a pod would undo what the user namespace is for.
    if m.host_id == 0 {
        return Err(CriError::InvalidArgument(format!(
            "{FIELD}.{which}: the range must not map the host's id 0"
        )));
    }
    Ok(IdMap {
        container: 0,
        host: m.host_id,
        size: m.length,
    })
}

/// The pod's uid and gid ranges when it has a user namespace of its own; None for the
/// host's.
pub fn requested(ns: &proto::NamespaceOption) -> Result<Option<(IdMap, IdMap)>> {
    let Some(u) = &ns.userns_options else {
        return Ok(None);
    };
    let mode = NamespaceMode::try_from(u.mode)
        .map_err(|_| CriError::InvalidArgument(format!("{FIELD}.mode {} is unknown", u.mode)))?;
    match mode {
        NamespaceMode::Node => {
            if !u.uids.is_empty() || !u.gids.is_empty() {
                return Err(CriError::InvalidArgument(format!(
                    "{FIELD}: the host's user namespace (NODE) takes no id ranges"
                )));
            }
            Ok(None)
        }
        NamespaceMode::Pod => {
            if !berth_runtime::userns::supported() {
                return Err(CriError::unsupported(
                    FIELD,
                    "this kernel cannot ID-map an overlay's layers (Linux 5.19 or later)",
                ));
            }
            for (shared, what) in [
                (ns.network == NamespaceMode::Node as i32, "network"),
                (ns.ipc == NamespaceMode::Node as i32, "IPC"),
                (ns.pid == NamespaceMode::Node as i32, "PID"),
            ] {
                if shared {
                    return Err(CriError::InvalidArgument(format!(
                        "{FIELD}: a pod in its own user namespace cannot use the host's {what} namespace"
                    )));
                }
            }
            Ok(Some((
                one_range(&u.uids, "uids")?,
                one_range(&u.gids, "gids")?,
            )))
        }
        NamespaceMode::Container | NamespaceMode::Target => {
            Err(CriError::InvalidArgument(format!(
                "{FIELD}.mode {}: a user namespace is the pod's (POD) or the host's (NODE)",
                mode.as_str_name()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(container_id: u32, host_id: u32, length: u32) -> proto::IdMapping {
        proto::IdMapping {
            host_id,
            container_id,
            length,
        }
    }

    fn pod(uids: Vec<proto::IdMapping>) -> proto::NamespaceOption {
        proto::NamespaceOption {
            userns_options: Some(proto::UserNamespace {
                mode: NamespaceMode::Pod as i32,
                gids: uids.clone(),
                uids,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_ranges_are_checked() {
        if !berth_runtime::userns::supported() {
            return;
        }
        let (u, g) = requested(&pod(vec![map(0, 1000, 65536)])).unwrap().unwrap();
        assert_eq!((u.host, u.size, g.host), (1000, 65536, 1000));
        assert!(requested(&pod(vec![map(0, 1000, 10), map(0, 2000, 10)])).is_err());
        assert!(requested(&pod(vec![map(1, 1000, 10)])).is_err());
        assert!(requested(&pod(vec![map(0, 0, 10)])).is_err());
        assert!(requested(&pod(vec![map(0, u32::MAX, 10)])).is_err());
        let mut host_net = pod(vec![map(0, 1000, 10)]);
        host_net.network = NamespaceMode::Node as i32;
        assert!(requested(&host_net).is_err());
    }

    #[test]
    fn container_and_target_modes_are_refused() {
        for mode in [NamespaceMode::Container, NamespaceMode::Target] {
            let ns = proto::NamespaceOption {
                userns_options: Some(proto::UserNamespace {
                    mode: mode as i32,
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert!(requested(&ns).is_err());
        }
        assert_eq!(requested(&proto::NamespaceOption::default()).unwrap(), None);
    }
}
