//! A container as the daemon records it: the persisted record plus live state.

use crate::error::Result;
use berth_api::container::{Config, ContainerState, HostConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

/// What is written to `containers/<id>/config.v2.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// With Docker's leading slash: `/web`.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub config: Config,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub restart_count: i64,
    pub log_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    /// The container's endpoint on each network it is on, by network name: what create
    /// asked for, and while it runs its address.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, berth_api::network::EndpointSettings>,
    /// While it runs: its published ports as Docker reports them (`80/tcp` →
    /// `[{"HostIp": "0.0.0.0", "HostPort": "8080"}]`).
    #[serde(default)]
    pub ports: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
    /// The MAC address asked for on a network (`--mac-address`), by network name: kept
    /// while the container is stopped, when its other endpoint settings are cleared.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub mac_requests: std::collections::BTreeMap<String, String>,
    /// A build step's container, removed after one run: its filesystem is mounted
    /// `volatile`, so its unmount does not sync the whole host filesystem (a build
    /// context just written would be flushed at every RUN).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ephemeral: bool,
    /// The volumes it mounts, decided at create.
    #[serde(default)]
    pub volumes: Vec<super::volume::VolumeMount>,
    /// A user stopped or killed it (`unless-stopped` then leaves it stopped, also
    /// across daemon restarts); cleared by a user's start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manually_stopped: bool,
    /// `--mount type=image` (API 1.48): the image each target shows, resolved to its
    /// ID at create, as the container's own image is.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub image_mounts: std::collections::BTreeMap<String, String>,
    /// A container of a Kubernetes pod (made through CRI): what it takes from the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<super::pod::PodLink>,
    /// Made by a client before API 1.44, whose read-only binds were read-only at their top
    /// mount only (mounts beneath them stay writable unless the bind says otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only_top_only: bool,
}

/// Observed by `wait`, `stop` and attach: changes on every start, exit and removal.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub exits: u64,
    pub running: bool,
    pub removed: bool,
    pub exit_code: i64,
}

pub struct Container {
    pub id: String,
    record: Mutex<Record>,
    pub lifecycle: watch::Sender<Lifecycle>,
    /// Serializes start, stop, restart and remove of this container.
    pub op_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Attach requests waiting for the container to start.
    pub pending_attach: Mutex<Vec<PendingAttach>>,
    /// Its restart policy's backoff, and whether a user cancelled the restarts.
    pub backoff: Mutex<super::restart_policy::Backoff>,
}

/// An attach that arrived before start: start connects it to the shim first.
pub struct PendingAttach {
    pub streams: berth_runtime::task::AttachStreams,
    pub deliver: tokio::sync::oneshot::Sender<crate::engine::session::Session>,
}

impl Container {
    pub fn new(record: Record) -> Self {
        let running = record.state.running;
        let exit_code = record.state.exit_code;
        Self {
            id: record.id.clone(),
            record: Mutex::new(record),
            lifecycle: watch::Sender::new(Lifecycle {
                running,
                exit_code,
                ..Default::default()
            }),
            op_lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            pending_attach: Mutex::new(vec![]),
            backoff: Mutex::new(Default::default()),
        }
    }

    pub fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> Record {
        self.record().clone()
    }

    pub fn name(&self) -> String {
        self.record().name.trim_start_matches('/').to_string()
    }

    pub fn backoff(&self) -> MutexGuard<'_, super::restart_policy::Backoff> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_running(&self) -> bool {
        self.record().state.running
    }

    /// Writes the record atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec_pretty(&*self.record())?;
        berth_image::atomic::write_file(&dir.join("config.v2.json"), &data)?;
        Ok(())
    }

    /// Writes a state change (start, exit): atomic against a daemon crash through the
    /// rename, without the fsync that only a machine crash would need — after which no
    /// container is running anyway.
    pub fn save_state(&self, dir: &Path) -> Result<()> {
        let data = serde_json::to_vec_pretty(&*self.record())?;
        berth_image::atomic::replace_file(&dir.join("config.v2.json"), &data)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Record> {
        let data = std::fs::read(dir.join("config.v2.json"))?;
        Ok(serde_json::from_slice(&data)?)
    }
}

impl From<serde_json::Error> for crate::error::DaemonError {
    fn from(e: serde_json::Error) -> Self {
        Self::System(e.to_string())
    }
}
