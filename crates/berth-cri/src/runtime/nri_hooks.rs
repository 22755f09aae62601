//! The CRI service's side of NRI: the pods and containers plugins see, the updates they
//! ask for other containers, and the StopContainer of a container that exits by itself.

use crate::error::{CriError, Result};
use crate::nri::{api, convert, Snapshot};
use crate::service::Cri;
use std::sync::Arc;

impl Cri {
    /// Holds NRI's event order (see `nri::Nri::order`) for one CRI call: taken first,
    /// before any pod's lock, and once per call.
    pub async fn nri_hold(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        match &self.nri {
            Some(n) => Some(n.hold().await),
            None => None,
        }
    }

    /// Every pod and container, for a plugin's synchronization.
    pub async fn nri_snapshot(&self) -> Snapshot {
        let mut pods = vec![];
        for entry in self.sandboxes.all() {
            pods.push(convert::pod(&*entry.lock().await));
        }
        let containers = self
            .engine
            .all()
            .into_iter()
            .filter_map(|c| convert::container(&c.snapshot()))
            .collect();
        (pods, containers)
    }

    /// A pod as plugins see it.
    pub async fn nri_pod(&self, sandbox_id: &str) -> Option<api::PodSandbox> {
        let entry = self.sandboxes.get(sandbox_id).ok()?;
        let s = entry.lock().await;
        Some(convert::pod(&s))
    }

    /// A container as plugins see it; None without NRI (nothing is looked up then).
    pub fn nri_container(&self, id: &str) -> Option<api::Container> {
        self.nri.as_ref()?;
        convert::container(&self.engine.get(id).ok()?.snapshot())
    }

    /// A pod as plugins see it, from its locked record; None without NRI.
    pub fn nri_pod_of(&self, s: &crate::sandbox::Sandbox) -> Option<api::PodSandbox> {
        self.nri.as_ref().map(|_| convert::pod(s))
    }

    /// A container and its pod as plugins see them (takes the pod's lock); None without
    /// NRI.
    pub async fn nri_subject(&self, id: &str) -> Option<(api::PodSandbox, api::Container)> {
        let c = self.nri_container(id)?;
        Some((self.nri_pod(&c.pod_sandbox_id).await?, c))
    }

    /// Applies the resource updates plugins asked for other containers; one that fails
    /// fails the call unless the plugin said to ignore its failure.
    pub async fn apply_nri_updates(&self, updates: &[api::ContainerUpdate]) -> Result<()> {
        for u in updates {
            let applied = async {
                let c = self.cri_container(&u.container_id)?;
                let mut res = crate::proto::LinuxContainerResources::default();
                if let Some(r) = u.linux.as_ref().and_then(|l| l.resources.as_ref()) {
                    convert::apply_resources("update", r, &mut res)
                        .map_err(CriError::InvalidArgument)?;
                }
                let body = crate::convert::container::update_body(&res)?;
                self.engine.update(&c.id, body).await?;
                Ok::<(), CriError>(())
            }
            .await;
            match applied {
                Err(e) if !u.ignore_failure => {
                    return Err(CriError::FailedPrecondition(format!(
                        "an NRI plugin's update of container {}: {e}",
                        u.container_id
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Delivers StopContainer for a container that stopped (once per run); one that never
    /// started has no stop for plugins.
    pub async fn nri_stopped(&self, pod: &api::PodSandbox, c: &api::Container) {
        let Some(nri) = &self.nri else { return };
        if c.state == api::ContainerState::ContainerCreated as i32 {
            return;
        }
        let updates = nri.stop_container(pod, c).await;
        if let Err(e) = self.apply_nri_updates(&updates).await {
            eprintln!("berthd: nri: {e}");
        }
    }

    /// A CRI container that exits by itself is stopped for plugins too.
    pub fn watch_exits_for_nri(self: &Arc<Self>) {
        let mut sub = self.engine.subscribe_events(None);
        let cri = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((m, _)) =
                crate::runtime::events::next_cri_container_event(&mut sub).await
            {
                if m.action != "die" {
                    continue;
                }
                let Some(cri) = cri.upgrade() else { return };
                let _order = cri.nri_hold().await;
                if let Some((pod, c)) = cri.nri_subject(&m.id).await {
                    cri.nri_stopped(&pod, &c).await;
                }
            }
        });
    }
}
