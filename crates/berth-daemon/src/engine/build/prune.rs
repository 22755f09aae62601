//! `docker builder prune`: the build cache forgotten, and the images only it kept (the
//! steps' intermediate images that nothing tags and no container uses) deleted, with
//! the space their layers really took.

use crate::engine::Engine;
use crate::error::{DaemonError, Result};

impl Engine {
    /// The cache entries' images deleted, and the bytes of the layers that went with
    /// them. Without `all`, the entries of images in use (tagged, or a container's) stay.
    pub async fn build_prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let in_use = |id: &str| {
            id.parse::<berth_image::Digest>()
                .is_ok_and(|d| !self.images.references_of(&d).is_empty())
                || !self.image_users(id).is_empty()
        };
        let images: std::collections::BTreeSet<String> = self
            .build_cache
            .remove_where(|id| all || !in_use(id))
            .into_iter()
            .collect();
        let mut deleted = vec![];
        let mut reclaimed = 0;
        for id in &images {
            let Ok(digest) = id.parse::<berth_image::Digest>() else {
                continue;
            };
            if !self.images.references_of(&digest).is_empty() || !self.image_users(id).is_empty() {
                continue;
            }
            let images = self.images.clone();
            let d = digest.clone();
            let removed = tokio::task::spawn_blocking(move || images.delete(&d))
                .await
                .map_err(DaemonError::system)?;
            if let Ok(freed) = removed {
                deleted.push(id.clone());
                reclaimed += freed;
            }
        }
        Ok((deleted, reclaimed))
    }
}
