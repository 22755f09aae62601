//! The engine: containers, execs and images, with no knowledge of HTTP.

//!
//! Each verb of the container API has its own file (`start`, `stop`, `pause`, `remove`,
//! `rename`, `wait`, `attach`, `exec`, `restore`); containers run as tasks of
//! `berth_runtime::task`, whose exit events `monitor` records.

pub mod archive;
mod attach;
pub mod bind;
pub mod build;
pub mod commit;
pub mod container;
pub mod create;
pub mod events;
pub mod exec;
mod export;
pub mod health;
pub mod host_config;
pub mod images;
pub mod log_reader;
pub mod logs;
mod monitor;
pub mod names;
pub mod network;
mod pause;
pub mod pod;
pub mod prune_filter;
mod publish;
pub mod pull;
pub mod query;
pub mod reconcile;
mod remove;
mod rename;
mod restart;
pub mod restart_policy;
mod restore;
pub mod rootfs;
pub mod seccomp;
pub mod security_opt;
pub mod session;
pub mod shm;
pub mod spec;
mod start;
pub mod stats;
pub mod status;
mod stop;
pub mod system;
mod system_df;
pub mod time;
pub mod update;
pub mod user;
pub mod volume;
mod wait;

pub use stop::parse_signal;

use crate::config::DaemonConfig;
use crate::error::{DaemonError, Result};
use berth_image::ImageStore;
use container::Container;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Default)]
struct Index {
    containers: HashMap<String, Arc<Container>>,
    /// name (without slash) → id
    names: HashMap<String, String>,
}

/// Everything the daemon knows and does, behind methods: the API layer sees no fields.
pub struct Engine {
    cfg: DaemonConfig,
    images: Arc<ImageStore>,
    /// Containers by ID and by name under one lock, taken alone and never across an
    /// `.await` or a blocking call: two locks taken in two orders deadlocked the daemon.
    index: RwLock<Index>,
    execs: exec::ExecTable,
    /// Networks and the addresses in use on them.
    networks: network::Networks,
    volumes: volume::Volumes,
    /// Creates the containers' tasks (shims, warm ones among them).
    runtime: Arc<berth_runtime::task::Runtime>,
    registry: berth_registry::client::Client,
    /// Which image each build step made on which parent.
    build_cache: build::cache::BuildCache,
    /// What happened, for `/events`.
    events: events::Events,
}

impl Engine {
    pub fn open(cfg: DaemonConfig) -> Result<Arc<Self>> {
        let images = Arc::new(ImageStore::open(&cfg.data_root)?);
        crate::dirs::secure_roots(&cfg)?;
        Ok(Arc::new(Self {
            registry: berth_registry::client::Client::with_settings(
                berth_registry::client::Settings {
                    insecure: cfg.insecure_registries.clone(),
                    certs_dir: cfg.registry_certs_dir.clone(),
                    loopback_insecure: true,
                    mirrors: cfg
                        .registry_mirrors
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            ),
            runtime: berth_runtime::task::Runtime::new(berth_runtime::task::RuntimeOptions {
                binary: cfg.berth_binary.clone(),
                warm_shims: cfg.warm_shims,
                warm_log: cfg.exec_root.join("warm-shims.log"),
            }),
            networks: network::Networks::open(&cfg)?,
            volumes: volume::Volumes::open(&cfg.data_root)?,
            build_cache: build::cache::BuildCache::open(cfg.data_root.join("build-cache"))?,
            cfg,
            images,
            index: RwLock::new(Index::default()),
            execs: exec::ExecTable::default(),
            events: events::Events::default(),
        }))
    }

    /// The task of a container (whether or not its shim is still there).
    pub(crate) fn task(&self, id: &str) -> berth_runtime::task::Task {
        berth_runtime::task::Task::open(&self.cfg.shim_socket(id), &self.cfg.state_dir(id))
    }

    /// Makes the bridges of the bridge networks on the host (on daemon start).
    pub async fn prepare_networks(&self) -> Result<()> {
        self.networks.create_bridges(self.cfg.ip_forward).await
    }

    /// Starts the pool of warm shims and compiles the default seccomp filter, so that the
    /// first container starts as fast as the rest.
    pub fn prepare_runtime(self: &Arc<Self>) {
        self.runtime.refill_warm();
        let runtime = self.runtime.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(section) = seccomp::default_section() {
                let _ = runtime.precompile_seccomp(&section);
            }
        });
    }

    /// Lets the warm shims go (on shutdown; running containers keep theirs).
    pub async fn shutdown_runtime(&self) {
        self.runtime.shutdown_warm().await;
    }

    pub fn config(&self) -> &DaemonConfig {
        &self.cfg
    }

    /// Checks the credentials against the registry and keeps them for its pulls and pushes.
    pub async fn login(
        &self,
        server: &str,
        creds: berth_registry::auth::Credentials,
    ) -> Result<()> {
        Ok(self.registry.login(server, creds).await?)
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<Arc<Container>> {
        self.read_index().containers.values().cloned().collect()
    }

    /// Finds a container by full ID, name, or unique ID prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<Container>> {
        let key = name_or_id.trim_start_matches('/');
        let not_found = || DaemonError::NotFound(format!("No such container: {name_or_id}"));
        if key.is_empty() {
            return Err(not_found());
        }
        let index = self.read_index();
        if let Some(c) = index.containers.get(key) {
            return Ok(c.clone());
        }
        if let Some(c) = index.names.get(key).and_then(|id| index.containers.get(id)) {
            return Ok(c.clone());
        }
        let matches: Vec<_> = index
            .containers
            .values()
            .filter(|c| c.id.starts_with(key))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(not_found()),
            _ => Err(DaemonError::NotFound(format!(
                "Multiple IDs found with provided prefix: {name_or_id}"
            ))),
        }
    }

    /// Adds a container under its recorded name (restore).
    pub(crate) fn register(&self, c: Arc<Container>) -> Result<()> {
        let name = c.name();
        self.register_as(c, Some(&name)).map(|_| ())
    }

    /// Adds a container under `name`, or under a generated name that is free: the name is
    /// picked and taken under one lock, so two creates never get the same one. Returns the
    /// name, which is also written into the container's record.
    pub(crate) fn register_as(&self, c: Arc<Container>, name: Option<&str>) -> Result<String> {
        let mut index = self.write_index();
        let name = match name {
            Some(n) => {
                if let Some(other) = index.names.get(n) {
                    return Err(DaemonError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n.to_string()
            }
            None => (0..names::NAME_ATTEMPTS)
                .map(names::random_name)
                .find(|n| !index.names.contains_key(n))
                .ok_or_else(|| {
                    DaemonError::System(format!(
                        "error generating a container name: {} tries found only names in use",
                        names::NAME_ATTEMPTS
                    ))
                })?,
        };
        c.record().name = format!("/{name}");
        index.names.insert(name.clone(), c.id.clone());
        index.containers.insert(c.id.clone(), c);
        Ok(name)
    }

    pub(crate) fn unregister(&self, c: &Container) {
        let mut index = self.write_index();
        index.names.retain(|_, id| *id != c.id);
        index.containers.remove(&c.id);
    }

    pub(crate) fn rename_index(&self, c: &Container, new: &str) -> Result<()> {
        let mut index = self.write_index();
        if let Some(other) = index.names.get(new) {
            return Err(DaemonError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        index.names.retain(|_, id| *id != c.id);
        index.names.insert(new.to_string(), c.id.clone());
        c.record().name = format!("/{new}");
        Ok(())
    }

    /// Whether any container was created from this image.
    pub fn image_users(&self, image_id: &str) -> Vec<Arc<Container>> {
        self.all()
            .into_iter()
            .filter(|c| {
                let r = c.record();
                r.image_id == image_id || r.image_mounts.values().any(|i| i == image_id)
            })
            .collect()
    }
}
