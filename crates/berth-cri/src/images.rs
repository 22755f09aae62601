//! CRI's ImageService on berth's image store: list, status, pull (with credentials),
//! remove and the store's use of the disk.

use crate::error::{CriError, Result};
use crate::proto;
use crate::service::{now_nanos, Cri};
use base64::Engine as _;
use berth_api::image::ImageSummary;
use berth_daemon::DaemonError;
use std::collections::HashMap;
use std::sync::Arc;

fn image_proto(s: &ImageSummary, user: &str) -> proto::Image {
    // A numeric user is the uid; anything else is a name.
    let name = user.split(':').next().unwrap_or("");
    let (uid, username) = match name.parse::<i64>() {
        Ok(n) => (Some(proto::Int64Value { value: n }), String::new()),
        Err(_) if name.is_empty() => (Some(proto::Int64Value { value: 0 }), String::new()),
        Err(_) => (None, name.to_string()),
    };
    proto::Image {
        id: s.id.clone(),
        repo_tags: s.repo_tags.clone(),
        repo_digests: s.repo_digests.clone(),
        size: s.size.max(0) as u64,
        uid,
        username,
        spec: Some(proto::ImageSpec {
            image: s.id.clone(),
            ..Default::default()
        }),
        pinned: false,
    }
}

/// The credentials of a pull: a user and password, or `auth` (base64 `user:password`).
fn credentials(a: Option<&proto::AuthConfig>) -> Result<Option<berth_registry::auth::Credentials>> {
    let Some(a) = a else { return Ok(None) };
    if !a.identity_token.is_empty() || !a.registry_token.is_empty() {
        return Err(CriError::unsupported(
            "auth.identity_token/registry_token",
            "token credentials are not implemented; give a username and password",
        ));
    }
    if !a.username.is_empty() {
        return Ok(Some(berth_registry::auth::Credentials {
            username: a.username.clone(),
            password: a.password.clone(),
        }));
    }
    if a.auth.is_empty() {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(a.auth.trim())
        .map_err(|e| CriError::InvalidArgument(format!("auth.auth is not base64: {e}")))?;
    let text = String::from_utf8(raw)
        .map_err(|_| CriError::InvalidArgument("auth.auth is not UTF-8".into()))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| CriError::InvalidArgument("auth.auth is not user:password".into()))?;
    Ok(Some(berth_registry::auth::Credentials {
        username: user.into(),
        password: pass.into(),
    }))
}

impl Cri {
    async fn summaries(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.engine.image_list(HashMap::new(), false).await?)
    }

    async fn image_user(&self, id: &str) -> String {
        self.engine
            .image_get(id)
            .await
            .map(|i| i.config.config.user.clone())
            .unwrap_or_default()
    }

    pub async fn list_images(
        &self,
        filter: Option<proto::ImageFilter>,
    ) -> Result<Vec<proto::Image>> {
        let wanted = match filter.and_then(|f| f.image).filter(|i| !i.image.is_empty()) {
            Some(spec) => match self.engine.image_get(&spec.image).await {
                Ok(img) => Some(img.id.to_string()),
                Err(DaemonError::NotFound(_)) => return Ok(vec![]),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let mut out = vec![];
        for s in self.summaries().await? {
            if wanted.as_ref().is_some_and(|w| *w != s.id) {
                continue;
            }
            let user = self.image_user(&s.id).await;
            out.push(image_proto(&s, &user));
        }
        Ok(out)
    }

    pub async fn image_status(
        &self,
        spec: Option<proto::ImageSpec>,
        verbose: bool,
    ) -> Result<proto::ImageStatusResponse> {
        let name = spec.map(|s| s.image).unwrap_or_default();
        if name.is_empty() {
            return Err(CriError::InvalidArgument(
                "the image spec names no image".into(),
            ));
        }
        // A missing image is an answer without an image, not an error.
        let img = match self.engine.image_get(&name).await {
            Ok(i) => i,
            Err(DaemonError::NotFound(_)) => return Ok(proto::ImageStatusResponse::default()),
            Err(e) => return Err(e.into()),
        };
        let id = img.id.to_string();
        let summary = self
            .summaries()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| CriError::NotFound(format!("image {name:?} not found")))?;
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "info".to_string(),
                serde_json::json!({"imageSpec": img.config, "chainID": img.chain.last().map(|c| c.to_string())})
                    .to_string(),
            );
        }
        Ok(proto::ImageStatusResponse {
            image: Some(image_proto(&summary, &img.config.config.user)),
            info,
        })
    }

    pub async fn pull_image(
        self: &Arc<Self>,
        spec: Option<proto::ImageSpec>,
        auth: Option<proto::AuthConfig>,
    ) -> Result<String> {
        let name = spec.map(|s| s.image).unwrap_or_default();
        if name.is_empty() {
            return Err(CriError::InvalidArgument(
                "the image spec names no image".into(),
            ));
        }
        let creds = credentials(auth.as_ref())?;
        // Progress is for the Engine API's clients; CRI answers when the pull is done.
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let pulled = self.engine.pull(&name, None, None, creds, tx).await;
        let _ = drain.await;
        pulled?;
        Ok(self.engine.image_get(&name).await?.id.to_string())
    }

    pub async fn remove_image(&self, spec: Option<proto::ImageSpec>) -> Result<()> {
        let name = spec.map(|s| s.image).unwrap_or_default();
        if name.is_empty() {
            return Err(CriError::InvalidArgument(
                "the image spec names no image".into(),
            ));
        }
        let id = match self.engine.image_get(&name).await {
            Ok(i) => i.id.to_string(),
            // Idempotent, as CRI asks.
            Err(DaemonError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        // The image goes with all its names, as CRI removes an image (not one tag).
        match self.engine.image_delete(&id, true).await {
            Ok(_) | Err(DaemonError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn image_fs_info(&self) -> Result<proto::ImageFsInfoResponse> {
        let root = self.engine.config().data_root.clone();
        let used: u64 = self
            .summaries()
            .await?
            .iter()
            .map(|s| (s.size - s.shared_size.max(0)).max(0) as u64)
            .sum();
        let fs = |mount: &str, used: u64| proto::FilesystemUsage {
            timestamp: now_nanos(),
            fs_id: Some(proto::FilesystemIdentifier {
                mountpoint: mount.to_string(),
            }),
            used_bytes: Some(proto::UInt64Value { value: used }),
            inodes_used: None,
        };
        Ok(proto::ImageFsInfoResponse {
            image_filesystems: vec![fs(&root.join("layers").display().to_string(), used)],
            container_filesystems: vec![fs(&root.join("containers").display().to_string(), 0)],
        })
    }
}
