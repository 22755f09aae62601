//! `docker pull`: the engine's side, over the registry client.

use super::Engine;
use crate::error::{DaemonError, Result};
use berth_api::image::{Descriptor, DistributionInspect, Platform as ApiPlatform};
use berth_image::reference::Reference;
use berth_registry::auth::Credentials;
use berth_registry::manifest::{parse_platform, Platform};
use berth_registry::pull::{pull, Progress, PullRequest};
use std::sync::Arc;
use tokio::sync::mpsc;

impl Engine {
    /// Pulls `name` (with `tag` if given apart, as the API sends it); progress goes to `progress`.
    pub async fn pull(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        creds: Option<Credentials>,
        progress: mpsc::Sender<Progress>,
    ) -> Result<String> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with("sha256:") => format!("{name}@{t}"),
            Some(t) => format!("{name}:{t}"),
            None => name.to_string(),
        };
        let reference = Reference::parse_tagged(&full)?;
        let familiar = reference.familiar();
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => parse_platform(p)?,
            None => Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
        };
        let id = pull(
            &self.registry,
            self.images.clone(),
            PullRequest {
                reference,
                platform,
                creds,
            },
            progress,
        )
        .await
        .map_err(DaemonError::from)?;
        self.image_event("pull", &familiar, &familiar_repository(&familiar));
        Ok(id.to_string())
    }
}

impl Engine {
    /// Pushes the local image `name[:tag]` to the registry its name points at.
    pub async fn push(
        self: &Arc<Self>,
        name: &str,
        tag: Option<&str>,
        creds: Option<Credentials>,
        progress: mpsc::Sender<Progress>,
    ) -> Result<String> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{name}:{t}"),
            None => name.to_string(),
        };
        let reference = Reference::parse_tagged(&full)?;
        let image = {
            let images = self.images.clone();
            let r = reference.to_string();
            tokio::task::spawn_blocking(move || images.resolve(&r))
                .await
                .map_err(DaemonError::system)?
                .map_err(|_| {
                    DaemonError::NotFound(format!(
                        "An image does not exist locally with the tag: {}",
                        reference.familiar_repository()
                    ))
                })?
        };
        let familiar = reference.familiar();
        let req = berth_registry::push::PushRequest {
            image,
            reference,
            creds,
        };
        let digest =
            berth_registry::push::push(&self.registry, self.images.clone(), req, progress).await?;
        self.image_event("push", &familiar, &familiar_repository(&familiar));
        Ok(digest.to_string())
    }
}

impl Engine {
    /// `GET /distribution/{name}/json`: the manifest `name` points at on its registry, and
    /// the platforms it offers, without pulling anything.
    pub async fn distribution_inspect(
        self: &Arc<Self>,
        name: &str,
        creds: Option<Credentials>,
    ) -> Result<DistributionInspect> {
        let reference = Reference::parse_tagged(name)?;
        let d = berth_registry::inspect::inspect(&self.registry, &reference, creds).await?;
        Ok(DistributionInspect {
            descriptor: Descriptor {
                media_type: d.media_type,
                digest: d.digest.to_string(),
                size: d.size,
            },
            platforms: d
                .platforms
                .into_iter()
                .map(|p| ApiPlatform {
                    architecture: p.architecture,
                    os: p.os,
                    variant: p.variant,
                })
                .collect(),
        })
    }
}

/// `busybox:latest` → `busybox`, `localhost:5000/x@sha256:…` → `localhost:5000/x`: the
/// `name` attribute of pull and push events.
fn familiar_repository(familiar: &str) -> String {
    let no_digest = familiar.split('@').next().unwrap_or(familiar);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_string(),
        _ => no_digest.to_string(),
    }
}
