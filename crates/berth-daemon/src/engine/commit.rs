//! `docker commit`: a container's changes (its writable layer) as a new image, with its
//! config, the request's Config merged over it and `--change` instructions applied.

use super::build::config::apply_changes;
use super::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::Config;
use berth_image::commit::CommitOptions;
use berth_image::config::RunConfig;
use berth_image::reference::Reference;
use std::sync::Arc;

/// `POST /commit`'s query and body.
#[derive(Debug, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Freeze a running container while its layer is read (Docker's default).
    pub pause: bool,
    pub changes: Vec<String>,
    /// The body: settings that replace the container's own.
    pub config: Option<Config>,
}

/// A container's Config as an image's run config.
fn run_config(c: &Config) -> RunConfig {
    RunConfig {
        user: c.user.clone(),
        exposed_ports: c.exposed_ports.clone().filter(|p| !p.is_empty()),
        env: c.env.clone(),
        entrypoint: c.entrypoint.clone().map(|s| s.0),
        cmd: c.cmd.clone().map(|s| s.0),
        volumes: c.volumes.clone().filter(|v| !v.is_empty()),
        working_dir: c.working_dir.clone(),
        labels: c.labels.clone().filter(|l| !l.is_empty()),
        stop_signal: c.stop_signal.clone(),
        shell: c.shell.clone(),
        healthcheck: c
            .healthcheck
            .clone()
            .filter(|h| !super::host_config::is_unset(h)),
        on_build: c.on_build.clone().filter(|o| !o.is_empty()),
    }
}

/// dockerd's merge: what the request sets replaces the container's.
fn merge(base: &mut RunConfig, user: &RunConfig) {
    if !user.user.is_empty() {
        base.user = user.user.clone();
    }
    if user.exposed_ports.is_some() {
        base.exposed_ports = user.exposed_ports.clone();
    }
    if user.env.is_some() {
        base.env = user.env.clone();
    }
    if user.entrypoint.is_some() {
        base.entrypoint = user.entrypoint.clone();
    }
    if user.cmd.is_some() {
        base.cmd = user.cmd.clone();
    }
    if user.volumes.is_some() {
        base.volumes = user.volumes.clone();
    }
    if !user.working_dir.is_empty() {
        base.working_dir = user.working_dir.clone();
    }
    if user.labels.is_some() {
        base.labels = user.labels.clone();
    }
    if user.stop_signal.is_some() {
        base.stop_signal = user.stop_signal.clone();
    }
    if user.shell.is_some() {
        base.shell = user.shell.clone();
    }
    if user.healthcheck.is_some() {
        base.healthcheck = user.healthcheck.clone();
    }
    if user.on_build.is_some() {
        base.on_build = user.on_build.clone();
    }
}

impl Engine {
    pub async fn commit(self: &Arc<Self>, req: CommitRequest) -> Result<String> {
        let c = self.get(&req.container)?;
        let reference = match &req.repo {
            Some(repo) if !repo.is_empty() => {
                let name = match req.tag.as_deref().filter(|t| !t.is_empty()) {
                    Some(t) => format!("{repo}:{t}"),
                    None => repo.clone(),
                };
                Some(Reference::parse(&name).map_err(DaemonError::from)?)
            }
            _ => None,
        };
        if let Some(body) = &req.config {
            super::host_config::check_commit_config(body)?;
        }
        let _op = c.op_lock.lock().await;
        let rec = c.snapshot();
        let mut config = run_config(&rec.config);
        if let Some(body) = &req.config {
            merge(&mut config, &run_config(body));
        }
        apply_changes(&mut config, &req.changes)?;
        let fs = self.container_fs(&c.id, &rec.image_id).await?;
        let parent_id = rec.image_id.parse().map_err(DaemonError::from)?;
        let images = self.images.clone();
        let freeze = req.pause && rec.state.running && !rec.state.paused;
        let task = self.task(&c.id);
        if freeze {
            task.pause().await?;
        }
        let opts = CommitOptions {
            docker_version: Some(crate::engine::system::BERTH_VERSION.into()),
            config,
            author: req.author.filter(|a| !a.is_empty()),
            comment: req.comment.filter(|m| !m.is_empty()),
            created_by: rec
                .config
                .cmd
                .clone()
                .map(|c| c.0.join(" "))
                .unwrap_or_default(),
            created: None,
            reference,
        };
        let upper = fs.upper.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<_> {
            let parent = images.get(&parent_id)?;
            Ok(images.commit(Some(&parent), Some(&upper), opts)?)
        })
        .await
        .map_err(DaemonError::system);
        if freeze {
            let _ = task.resume().await;
        }
        let id = result??.to_string();
        self.container_event(&c, "commit", &[("imageID", id.clone())]);
        Ok(id)
    }
}
