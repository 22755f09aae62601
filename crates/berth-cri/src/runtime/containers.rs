//! A pod's containers: create (as berth containers that join the pod), start, stop,
//! remove, list, status, update, reopen the log, and run a command to its end.

use crate::convert::container::{create_request, idmapped_mounts, pod_pid, update_body};
use crate::convert::labels;
use crate::convert::status::{container, container_status, decoded};
use crate::error::{CriError, Result};
use crate::proto;
use crate::sandbox::SandboxState;
use crate::service::Cri;
use berth_daemon::engine::pod::PodLink;
use berth_daemon::DaemonError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A name berth accepts, unique per pod and attempt, that says what it is in `berth ps`:
/// `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`, as cri-dockerd names them.
fn berth_name(c: &proto::ContainerMetadata, pod: &proto::PodSandboxMetadata) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|ch| {
                if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-') {
                    ch
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "k8s_{}_{}_{}_{}_{}",
        clean(&c.name),
        clean(&pod.name),
        clean(&pod.namespace),
        clean(&pod.uid),
        c.attempt
    )
}

impl Cri {
    /// A CRI container by ID or unique prefix; a berth container not made through CRI is
    /// not one.
    pub fn cri_container(
        &self,
        id: &str,
    ) -> Result<Arc<berth_daemon::engine::container::Container>> {
        let not_found = || CriError::NotFound(format!("container {id:?} not found"));
        if id.is_empty() {
            return Err(not_found());
        }
        let c = self.engine.get(id).map_err(|_| not_found())?;
        if c.record().pod.is_none() {
            return Err(not_found());
        }
        Ok(c)
    }

    pub async fn create_container(
        self: &Arc<Self>,
        sandbox_id: &str,
        mut cfg: proto::ContainerConfig,
    ) -> Result<String> {
        let _order = self.nri_hold().await;
        let s = self.sandboxes.get(sandbox_id)?.lock().await.clone();
        if s.record.state != SandboxState::Ready {
            return Err(CriError::FailedPrecondition(format!(
                "pod sandbox {} is not ready",
                s.record.id
            )));
        }
        let meta = cfg.metadata.clone().ok_or_else(|| {
            CriError::InvalidArgument("the container config has no metadata".into())
        })?;
        if meta.name.is_empty() {
            return Err(CriError::InvalidArgument(
                "the container metadata has no name".into(),
            ));
        }
        let image = cfg
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .filter(|i| !i.is_empty())
            .ok_or_else(|| CriError::InvalidArgument("the container config has no image".into()))?;
        // The image must be here: CRI never pulls at create.
        let img = self.engine.image_get(&image).await.map_err(|e| match e {
            DaemonError::NotFound(_) => CriError::NotFound(format!("image {image:?} not found")),
            e => e.into(),
        })?;
        let user_image = cfg
            .image
            .as_ref()
            .map(|i| {
                if i.user_specified_image.is_empty() {
                    i.image.clone()
                } else {
                    i.user_specified_image.clone()
                }
            })
            .unwrap_or_default();
        // Plugins see the container before anyone else can, and may adjust it; one's
        // error fails the create before anything is made.
        let id = berth_daemon::engine::names::new_id();
        let pod = self.nri_pod_of(&s);
        let seen = pod
            .as_ref()
            .map(|_| crate::nri::convert::new_container(&id, &s.record.id, &cfg));
        let mut updates = vec![];
        if let (Some(nri), Some(pod), Some(seen)) = (&self.nri, &pod, &seen) {
            updates = nri
                .create_container(pod, seen, &mut cfg)
                .await
                .map_err(CriError::FailedPrecondition)?;
        }
        let made = async {
            self.apply_nri_updates(&updates).await?;
            let labels = labels::encode(
                &s.record.id,
                &meta,
                &cfg.labels,
                &cfg.annotations,
                &user_image,
            );
            let req = create_request(&cfg, &s, &img.id.to_string(), labels)?;
            let pod_meta = s.config.metadata.clone().unwrap_or_default();
            let log_path = (!s.config.log_directory.is_empty() && !cfg.log_path.is_empty())
                .then(|| PathBuf::from(&s.config.log_directory).join(&cfg.log_path));
            if let Some(p) = log_path.as_ref().and_then(|p| p.parent()) {
                std::fs::create_dir_all(p).map_err(|e| {
                    CriError::io(format!("creating the log dir {}", p.display()), e)
                })?;
            }
            let held = &s.record.held;
            let link = PodLink {
                sandbox_id: s.record.id.clone(),
                net: held.net.clone(),
                ipc: held.ipc.clone(),
                uts: held.uts.clone(),
                pid: pod_pid(&cfg, &s),
                user: held.user.clone(),
                id_maps: held.id_maps,
                idmapped: idmapped_mounts(&cfg, &s)?,
                shm: held.shm.clone(),
                resolv_conf: s.record.resolv_conf.clone(),
                log_path,
                strict_groups: crate::convert::container::strict_groups(&cfg),
            };
            Ok::<_, CriError>(
                self.engine
                    .create_pod_container(&id, &berth_name(&meta, &pod_meta), req, link)
                    .await?,
            )
        }
        .await;
        let created = match made {
            Ok(c) => c,
            Err(e) => {
                // Plugins that saw the create hear that the container is gone.
                if let (Some(nri), Some(pod), Some(seen)) = (&self.nri, &pod, &seen) {
                    nri.remove_container(pod, seen).await;
                }
                return Err(e);
            }
        };
        if let (Some(nri), Some(pod), Some(c)) = (&self.nri, &pod, self.nri_container(&created.id))
        {
            nri.post_create_container(pod, &c).await;
        }
        Ok(created.id)
    }

    pub async fn start_container(self: &Arc<Self>, id: &str) -> Result<()> {
        let _order = self.nri_hold().await;
        let c = self.cri_container(id)?;
        let subject = self.nri_subject(&c.id).await;
        if let (Some(nri), Some((pod, nc))) = (&self.nri, &subject) {
            nri.start_container(pod, nc)
                .await
                .map_err(CriError::FailedPrecondition)?;
        }
        self.engine.start(&c.id).await?;
        if let (Some(nri), Some((pod, _))) = (&self.nri, &subject) {
            if let Some(nc) = self.nri_container(&c.id) {
                nri.post_start_container(pod, &nc).await;
            }
        }
        Ok(())
    }

    pub async fn stop_container(self: &Arc<Self>, id: &str, timeout: i64) -> Result<()> {
        let _order = self.nri_hold().await;
        let c = match self.cri_container(id) {
            Ok(c) => c,
            // Idempotent, as CRI asks: stopping what is gone is done.
            Err(CriError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.engine.stop(&c.id, None, Some(timeout.max(0))).await {
            // Stopping a stopped (or just removed) container is not an error in CRI.
            Ok(()) | Err(DaemonError::NotModified(_)) | Err(DaemonError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some((pod, nc)) = self.nri_subject(&c.id).await {
            self.nri_stopped(&pod, &nc).await;
        }
        Ok(())
    }

    pub async fn remove_container(self: &Arc<Self>, id: &str) -> Result<()> {
        let _order = self.nri_hold().await;
        let c = match self.cri_container(id) {
            Ok(c) => c,
            // Idempotent, as CRI asks.
            Err(CriError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let subject = self.nri_subject(&c.id).await;
        match self.engine.remove(&c.id, true, false).await {
            Ok(()) | Err(DaemonError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if let (Some(nri), Some((pod, nc))) = (&self.nri, subject) {
            // A running container removed by force stopped first.
            self.nri_stopped(&pod, &nc).await;
            nri.remove_container(&pod, &nc).await;
        }
        Ok(())
    }

    pub fn list_containers(&self, f: Option<proto::ContainerFilter>) -> Vec<proto::Container> {
        let mut out: Vec<proto::Container> = self
            .engine
            .all()
            .into_iter()
            .filter_map(|c| {
                let r = c.snapshot();
                let d = decoded(&r)?;
                Some(container(&r, &d))
            })
            .filter(|c| {
                let Some(f) = &f else { return true };
                (f.id.is_empty() || c.id.starts_with(&f.id))
                    && (f.pod_sandbox_id.is_empty()
                        || c.pod_sandbox_id.starts_with(&f.pod_sandbox_id))
                    && f.state.as_ref().is_none_or(|s| s.state == c.state)
                    && f.label_selector
                        .iter()
                        .all(|(k, v)| c.labels.get(k) == Some(v))
            })
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        out
    }

    pub fn container_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<proto::ContainerStatusResponse> {
        let c = self.cri_container(id)?;
        let r = c.snapshot();
        let d =
            decoded(&r).ok_or_else(|| CriError::NotFound(format!("container {id:?} not found")))?;
        let mut info = HashMap::new();
        if verbose {
            let v = serde_json::json!({
                "pid": r.state.pid,
                "sandboxID": d.sandbox_id,
                "config": {"image": r.image, "path": r.path, "args": r.args},
                "runtimeType": "berth",
                "pod": r.pod,
            });
            info.insert("info".to_string(), v.to_string());
        }
        Ok(proto::ContainerStatusResponse {
            status: Some(container_status(&r, &d)),
            info,
        })
    }

    pub async fn update_container_resources(
        self: &Arc<Self>,
        id: &str,
        linux: Option<proto::LinuxContainerResources>,
        windows: bool,
    ) -> Result<()> {
        if windows {
            return Err(CriError::unsupported(
                "windows",
                "berth runs Linux containers",
            ));
        }
        let _order = self.nri_hold().await;
        let c = self.cri_container(id)?;
        let Some(linux) = linux else { return Ok(()) };
        let body = update_body(&linux)?;
        let subject = self.nri_subject(&c.id).await;
        if let (Some(nri), Some((pod, nc))) = (&self.nri, &subject) {
            let updates = nri
                .update_container(pod, nc, &crate::nri::convert::resources(&linux))
                .await
                .map_err(CriError::FailedPrecondition)?;
            self.apply_nri_updates(&updates).await?;
        }
        self.engine.update(&c.id, body).await?;
        if let (Some(nri), Some((pod, _))) = (&self.nri, &subject) {
            if let Some(nc) = self.nri_container(&c.id) {
                nri.post_update_container(pod, &nc).await;
            }
        }
        Ok(())
    }

    pub async fn reopen_container_log(self: &Arc<Self>, id: &str) -> Result<()> {
        let c = self.cri_container(id)?;
        if c.record().pod.as_ref().is_none_or(|p| p.log_path.is_none()) {
            return Err(CriError::FailedPrecondition(format!(
                "container {} has no CRI log",
                c.id
            )));
        }
        if !c.is_running() {
            return Err(CriError::FailedPrecondition(format!(
                "container {} is not running",
                c.id
            )));
        }
        Ok(self.engine.reopen_log(&c.id).await?)
    }

    /// Runs `cmd` in the container to its end (or the timeout, in seconds; 0 for none):
    /// its output and exit code.
    pub async fn exec_sync(
        self: &Arc<Self>,
        id: &str,
        cmd: Vec<String>,
        timeout: i64,
    ) -> Result<proto::ExecSyncResponse> {
        use berth_runtime::task::Output;
        let c = self.cri_container(id)?;
        if cmd.is_empty() {
            return Err(CriError::InvalidArgument("exec needs a command".into()));
        }
        let exec_id = self.engine.exec_create(
            &c.id,
            berth_api::exec::ExecCreateRequest {
                attach_stdout: true,
                attach_stderr: true,
                cmd: Some(cmd),
                ..Default::default()
            },
        )?;
        let mut session = self.engine.exec_start(&exec_id, None).await?;
        let (mut stdout, mut stderr) = (vec![], vec![]);
        // The output ends once the exit code is recorded with the exec.
        let read = async {
            while let Some(o) = session.output.recv().await {
                match o {
                    Output::Stdout(b) => stdout.extend_from_slice(&b),
                    Output::Stderr(b) => stderr.extend_from_slice(&b),
                    Output::Error(e) => stderr.extend_from_slice(e.as_bytes()),
                    Output::Exit(_) => {}
                }
            }
        };
        if timeout > 0 {
            match tokio::time::timeout(std::time::Duration::from_secs(timeout as u64), read).await {
                Ok(()) => {}
                Err(_) => {
                    let _ = self.engine.exec_kill(&exec_id);
                    return Err(CriError::DeadlineExceeded(format!(
                        "command timed out after {timeout}s"
                    )));
                }
            }
        } else {
            read.await
        }
        let code = self.engine.exec_inspect(&exec_id)?.exit_code;
        Ok(proto::ExecSyncResponse {
            stdout,
            stderr,
            exit_code: code.map_or(137, |c| c as i32),
        })
    }
}
