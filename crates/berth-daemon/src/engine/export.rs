//! `docker export` and `docker diff`: a container's filesystem as one tar stream, and
//! what it changed over its image.

use super::Engine;
use crate::error::{DaemonError, Result};
use berth_image::changes::Change;
use std::io::Write;
use std::sync::Arc;

impl Engine {
    /// The container's filesystem (its layer over the init layer and the image's,
    /// without its mounts, as dockerd's) as a tar stream into `out`, running or not.
    /// The filesystem is mounted read-only for the copy, and every entry is opened
    /// beneath that mount.
    pub async fn export(
        self: &Arc<Self>,
        name: &str,
        out: impl Write + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>> {
        let c = self.get(name)?;
        let image_id = c.record().image_id.clone();
        let fs = self.container_fs(&c.id, &image_id).await?;
        let mount = self.mount_read_only(&c.id, &fs)?;
        self.container_event(&c, "export", &[]);
        Ok(tokio::task::spawn_blocking(move || {
            // Written as layers are (berth_image::pack): every entry type, hardlinks,
            // extended attributes; a failure is the client gone or the files changed.
            // The mount goes before the stream ends: a client that has read it all
            // finds nothing left mounted.
            if let Ok(mut out) = berth_image::pack::pack_dir(mount.path(), out) {
                let _ = out.flush();
                drop(mount);
                drop(out);
            }
        }))
    }

    /// `GET /containers/{id}/changes`: its layer against the init layer and the image's.
    pub async fn changes(self: &Arc<Self>, name: &str) -> Result<Vec<Change>> {
        let c = self.get(name)?;
        let image_id = c.record().image_id.clone();
        let fs = self.container_fs(&c.id, &image_id).await?;
        tokio::task::spawn_blocking(move || berth_image::changes::changes(&fs.upper, &fs.lower()))
            .await
            .map_err(DaemonError::system)?
            .map_err(|e| DaemonError::System(format!("reading the container's changes: {e}")))
    }
}
