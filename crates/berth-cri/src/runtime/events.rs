//! GetContainerEvents: the engine's container events for CRI's containers, as the
//! kubelet's evented PLEG reads them.

use crate::convert::status::{container_status, decoded};
use crate::proto::{self, ContainerEventType};
use crate::service::Cri;
use berth_daemon::engine::events::Kind;
use std::sync::Arc;
use tokio::sync::mpsc;

impl Cri {
    /// Sends each event of a CRI container until the receiver goes away.
    pub fn container_events(
        self: &Arc<Self>,
        tx: mpsc::Sender<Result<proto::ContainerEventResponse, tonic::Status>>,
    ) {
        let mut sub = self.engine.subscribe_events(None);
        let cri = self.clone();
        tokio::spawn(async move {
            while let Some((m, sandbox_id)) = next_cri_container_event(&mut sub).await {
                let kind = match m.action.as_str() {
                    "create" => ContainerEventType::ContainerCreatedEvent,
                    "start" => ContainerEventType::ContainerStartedEvent,
                    "die" => ContainerEventType::ContainerStoppedEvent,
                    "destroy" => ContainerEventType::ContainerDeletedEvent,
                    _ => continue,
                };
                let pod = cri.pod_sandbox_status(&sandbox_id, false).await.ok();
                let mut statuses = vec![];
                if let Ok(c) = cri.engine.get(&m.id) {
                    let r = c.snapshot();
                    if let Some(d) = decoded(&r) {
                        statuses.push(container_status(&r, &d));
                    }
                }
                let ev = proto::ContainerEventResponse {
                    container_id: m.id.clone(),
                    container_event_type: kind as i32,
                    created_at: m.time_nano,
                    pod_sandbox_status: pod.and_then(|p| p.status),
                    containers_statuses: statuses,
                };
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The engine's next event of a CRI container, with its pod's ID; None when the stream
/// ends (events missed by a slow reader are skipped).
pub(crate) async fn next_cri_container_event(
    sub: &mut berth_daemon::engine::events::Subscription,
) -> Option<(Arc<berth_daemon::engine::events::Message>, String)> {
    loop {
        let m = match sub.live.recv().await {
            Ok(m) => m,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return None,
        };
        if m.kind != Kind::Container {
            continue;
        }
        if let Some(sandbox_id) = m.attributes.get(crate::convert::labels::SANDBOX).cloned() {
            return Some((m, sandbox_id));
        }
    }
}
