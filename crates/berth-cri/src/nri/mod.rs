//! NRI, the Node Resource Interface (containerd/nri): plugins connect to a unix socket
//! of the runtime and take part in the lives of pods and containers. They are told of
//! each pod's run, stop and removal and each container's create, start, update, stop
//! and removal; at create they may adjust the container, and a hook's error fails the
//! operation. A plugin that connects is first synchronized with every pod and container
//! there is.
//!
//! `mux` splits the socket into NRI's two connections, `ttrpc` carries the calls on
//! them, `plugin` is one connected plugin and `convert` turns CRI's pods and containers
//! into NRI's and applies adjustments.

pub mod convert;
pub mod mux;
pub mod plugin;
pub mod ttrpc;

/// NRI's messages (containerd/nri v0.12.2, `pkg/api/api.proto`).
pub mod api {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/nri.pkg.api.v1alpha1.rs"));
}

use crate::proto;
use api::Event;
use plugin::Plugin;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The pods and containers a plugin is synchronized with.
pub type Snapshot = (Vec<api::PodSandbox>, Vec<api::Container>);

pub struct Nri {
    /// Synchronized plugins, in the order they are called (index, then name).
    plugins: Mutex<Vec<Arc<Plugin>>>,
    /// Events hold it for reading, together with the change they announce; a plugin's
    /// synchronization holds it for writing, so no pod or container is made between its
    /// snapshot and its first event (none is missed, none is seen twice).
    order: tokio::sync::RwLock<()>,
    /// Containers whose StopContainer was delivered (once, whether stopped or exited).
    stopped: Mutex<HashSet<String>>,
    /// Pods whose StopPodSandbox was delivered (once, however often the pod is stopped).
    stopped_pods: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Evictions a plugin asks for fail the operation: berth does not evict.
fn refuse_evictions(p: &Plugin, evict: &[api::ContainerEviction]) -> Result<(), String> {
    if evict.is_empty() {
        return Ok(());
    }
    Err(format!(
        "NRI plugin {} asked to evict containers, which berth does not do",
        p.full_name()
    ))
}

impl Nri {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            plugins: Mutex::new(vec![]),
            order: tokio::sync::RwLock::new(()),
            stopped: Mutex::new(HashSet::new()),
            stopped_pods: Mutex::new(HashSet::new()),
        })
    }

    /// Listens on `socket` (0600 from its first moment) for plugins;
    /// `snapshot` gives what a new plugin is synchronized with.
    pub fn listen<F, Fut>(self: &Arc<Self>, socket: &Path, snapshot: F) -> std::io::Result<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Snapshot> + Send,
    {
        // Only root may connect a plugin: it sees and adjusts every container.
        let listener = berth_daemon::listen::bind_socket(socket, 0o600, None)?;
        let nri = self.clone();
        let snapshot = Arc::new(snapshot);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let nri = nri.clone();
                let snapshot = snapshot.clone();
                tokio::spawn(async move {
                    match Plugin::accept(stream).await {
                        Ok(p) => nri.synchronize(Arc::new(p), &*snapshot).await,
                        Err(e) => eprintln!("berthd: nri: a plugin failed to connect: {e}"),
                    }
                });
            }
        });
        Ok(())
    }

    /// Tells a new plugin of every pod and container, then adds it to those called.
    /// Nothing is made or removed meanwhile (see `order`): what is made after the
    /// snapshot reaches the plugin as an event.
    async fn synchronize<F, Fut>(&self, p: Arc<Plugin>, snapshot: &F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Snapshot>,
    {
        let _order = self.order.write().await;
        let (pods, containers) = snapshot().await;
        let req = api::SynchronizeRequest {
            pods,
            containers,
            more: false,
        };
        match p
            .call::<_, api::SynchronizeResponse>("Synchronize", &req)
            .await
        {
            // Updates asked at synchronization would change running containers behind
            // the kubelet's back: refused, and the plugin with them.
            Ok(resp) if !resp.update.is_empty() => {
                eprintln!(
                    "berthd: nri: plugin {} asked to update containers at synchronization, \
                     which berth does not do; it is let go",
                    p.full_name()
                );
                p.close().await;
            }
            Ok(_) => {
                let mut plugins = lock(&self.plugins);
                plugins.push(p);
                plugins.sort_by(|a, b| (&a.idx, &a.name).cmp(&(&b.idx, &b.name)));
            }
            Err(e) => {
                eprintln!("berthd: nri: synchronizing plugin {}: {e}", p.full_name());
                p.close().await;
            }
        }
    }

    /// Holds event order for a change and the events announcing it (see `order`).
    pub async fn hold(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.order.read().await
    }

    /// The plugins subscribed to `e`, in order; closed ones are let go.
    fn subscribed(&self, e: Event) -> Vec<Arc<Plugin>> {
        let mut plugins = lock(&self.plugins);
        plugins.retain(|p| !p.is_closed());
        plugins.iter().filter(|p| p.wants(e)).cloned().collect()
    }

    /// Calls `method` on each plugin subscribed to `e`. A plugin's error is the
    /// operation's (when `fatal`); a plugin that does not answer is let go.
    async fn each<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        e: Event,
        method: &str,
        req: &Req,
        fatal: bool,
    ) -> Result<Vec<(Arc<Plugin>, Resp)>, String> {
        let mut out = vec![];
        for p in self.subscribed(e) {
            match p.call::<Req, Resp>(method, req).await {
                Ok(r) => out.push((p, r)),
                Err(ttrpc::TtrpcError::Status { message, .. }) if fatal => {
                    return Err(format!(
                        "NRI plugin {} failed {method}: {message}",
                        p.full_name()
                    ))
                }
                Err(ttrpc::TtrpcError::Status { message, .. }) => eprintln!(
                    "berthd: nri: plugin {} failed {method}: {message}",
                    p.full_name()
                ),
                Err(err) => {
                    eprintln!(
                        "berthd: nri: plugin {} failed {method} ({err}); it is let go",
                        p.full_name()
                    );
                    p.close().await;
                }
            }
        }
        Ok(out)
    }

    /// An event whose plugins' errors are only logged.
    async fn notify<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        e: Event,
        method: &str,
        req: &Req,
    ) {
        let _ = self.each::<Req, Resp>(e, method, req, false).await;
    }

    pub async fn run_pod_sandbox(&self, pod: &api::PodSandbox) -> Result<(), String> {
        let req = api::RunPodSandboxRequest {
            pod: Some(pod.clone()),
        };
        self.each::<_, api::RunPodSandboxResponse>(
            Event::RunPodSandbox,
            "RunPodSandbox",
            &req,
            true,
        )
        .await
        .map(drop)
    }

    /// Delivered once per pod, however often it is stopped.
    pub async fn stop_pod_sandbox(&self, pod: &api::PodSandbox) {
        if !lock(&self.stopped_pods).insert(pod.id.clone()) {
            return;
        }
        let req = api::StopPodSandboxRequest {
            pod: Some(pod.clone()),
        };
        self.notify::<_, api::StopPodSandboxResponse>(
            Event::StopPodSandbox,
            "StopPodSandbox",
            &req,
        )
        .await;
    }

    pub async fn remove_pod_sandbox(&self, pod: &api::PodSandbox) {
        lock(&self.stopped_pods).remove(&pod.id);
        let req = api::RemovePodSandboxRequest {
            pod: Some(pod.clone()),
        };
        self.notify::<_, api::RemovePodSandboxResponse>(
            Event::RemovePodSandbox,
            "RemovePodSandbox",
            &req,
        )
        .await;
    }

    /// The create hooks: each plugin's adjustment is applied to `cfg` in turn; returns
    /// the updates plugins asked for other containers.
    pub async fn create_container(
        &self,
        pod: &api::PodSandbox,
        container: &api::Container,
        cfg: &mut proto::ContainerConfig,
    ) -> Result<Vec<api::ContainerUpdate>, String> {
        let req = api::CreateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(container.clone()),
        };
        let mut updates = vec![];
        for (p, resp) in self
            .each::<_, api::CreateContainerResponse>(
                Event::CreateContainer,
                "CreateContainer",
                &req,
                true,
            )
            .await?
        {
            if let Some(a) = &resp.adjust {
                convert::adjust(&p.full_name(), a, cfg)?;
            }
            refuse_evictions(&p, &resp.evict)?;
            updates.extend(resp.update);
        }
        Ok(updates)
    }

    pub async fn post_create_container(&self, pod: &api::PodSandbox, c: &api::Container) {
        let req = api::PostCreateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.notify::<_, api::PostCreateContainerResponse>(
            Event::PostCreateContainer,
            "PostCreateContainer",
            &req,
        )
        .await;
    }

    pub async fn start_container(
        &self,
        pod: &api::PodSandbox,
        c: &api::Container,
    ) -> Result<(), String> {
        lock(&self.stopped).remove(&c.id);
        let req = api::StartContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.each::<_, api::StartContainerResponse>(
            Event::StartContainer,
            "StartContainer",
            &req,
            true,
        )
        .await
        .map(drop)
    }

    pub async fn post_start_container(&self, pod: &api::PodSandbox, c: &api::Container) {
        let req = api::PostStartContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.notify::<_, api::PostStartContainerResponse>(
            Event::PostStartContainer,
            "PostStartContainer",
            &req,
        )
        .await;
    }

    /// The update hooks; returns the updates plugins asked for other containers.
    pub async fn update_container(
        &self,
        pod: &api::PodSandbox,
        c: &api::Container,
        resources: &api::LinuxResources,
    ) -> Result<Vec<api::ContainerUpdate>, String> {
        let req = api::UpdateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
            linux_resources: Some(resources.clone()),
        };
        let mut updates = vec![];
        for (p, resp) in self
            .each::<_, api::UpdateContainerResponse>(
                Event::UpdateContainer,
                "UpdateContainer",
                &req,
                true,
            )
            .await?
        {
            refuse_evictions(&p, &resp.evict)?;
            updates.extend(resp.update);
        }
        Ok(updates)
    }

    pub async fn post_update_container(&self, pod: &api::PodSandbox, c: &api::Container) {
        let req = api::PostUpdateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.notify::<_, api::PostUpdateContainerResponse>(
            Event::PostUpdateContainer,
            "PostUpdateContainer",
            &req,
        )
        .await;
    }

    /// Delivered once per run of a container, whether it was stopped or exited; returns
    /// the updates plugins asked for other containers.
    pub async fn stop_container(
        &self,
        pod: &api::PodSandbox,
        c: &api::Container,
    ) -> Vec<api::ContainerUpdate> {
        if !lock(&self.stopped).insert(c.id.clone()) {
            return vec![];
        }
        let req = api::StopContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.each::<_, api::StopContainerResponse>(
            Event::StopContainer,
            "StopContainer",
            &req,
            false,
        )
        .await
        .map(|r| r.into_iter().flat_map(|(_, resp)| resp.update).collect())
        .unwrap_or_default()
    }

    pub async fn remove_container(&self, pod: &api::PodSandbox, c: &api::Container) {
        lock(&self.stopped).remove(&c.id);
        let req = api::RemoveContainerRequest {
            pod: Some(pod.clone()),
            container: Some(c.clone()),
        };
        self.notify::<_, api::RemoveContainerResponse>(
            Event::RemoveContainer,
            "RemoveContainer",
            &req,
        )
        .await;
    }
}
