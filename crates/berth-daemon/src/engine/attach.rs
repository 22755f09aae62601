//! `docker attach` (and the attach of `docker run`).

use super::container::{Container, PendingAttach};
use super::session::{self, Session};
use super::Engine;
use crate::error::Result;
use berth_runtime::task::AttachStreams;
use std::sync::Arc;

impl Engine {
    /// An attach: connected now if running, or at start if the container has not started.
    /// The registration happens before this returns, so a start that follows is seen.
    pub fn attach(
        self: &Arc<Self>,
        c: &Arc<Container>,
        streams: AttachStreams,
    ) -> impl std::future::Future<Output = Result<Option<Session>>> {
        let pending = if c.is_running() {
            None
        } else {
            let (tx, rx) = tokio::sync::oneshot::channel();
            c.pending_attach
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(PendingAttach {
                    streams,
                    deliver: tx,
                });
            Some(rx)
        };
        let task = self.task(&c.id);
        self.container_event(c, "attach", &[]);
        async move {
            match pending {
                Some(rx) => Ok(rx.await.ok()),
                None => {
                    let io = task.attach(streams).await?;
                    Ok(Some(session::forward(io, |_| {})))
                }
            }
        }
    }
}
