//! `docker create`: validate, merge with the image's config, record.

use super::container::{Container, Record};
use super::time::{now, ZERO_TIME};
use super::{names, Engine};
use crate::error::{DaemonError, Result};
use berth_api::container::{ContainerState, CreateRequest, CreateResponse};
use berth_api::strslice::StrSlice;
use std::sync::Arc;

const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// What a create gets besides the request, from inside berth.
#[derive(Debug, Default)]
pub(crate) struct CreateOptions {
    /// The container's pod (CRI).
    pub pod: Option<super::pod::PodLink>,
    /// The client speaks an API before 1.44 (see `Record::read_only_top_only`).
    pub read_only_top_only: bool,
    /// The ID, chosen before the create (CRI: NRI plugins see it in their create hook).
    pub id: Option<String>,
}

impl Engine {
    /// `--volumes-from name[:ro|:rw]`: the other container's volumes, read-only if asked.
    fn volumes_from(
        &self,
        hc: &berth_api::container::HostConfig,
    ) -> Result<Vec<super::volume::VolumeMount>> {
        let mut out = vec![];
        for spec in hc.volumes_from.iter().flatten() {
            let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
            let read_only = match mode {
                "" | "rw" => None,
                "ro" => Some(true),
                other => {
                    return Err(DaemonError::InvalidParameter(format!(
                        "HostConfig.VolumesFrom: invalid mode: {other}"
                    )))
                }
            };
            let source = self.get(name)?;
            for v in source.record().volumes.iter() {
                let mut v = v.clone();
                if let Some(ro) = read_only {
                    v.read_only = ro;
                }
                out.push(v);
            }
        }
        Ok(out)
    }

    pub async fn create_container(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<CreateResponse> {
        self.create_container_with(name, req, CreateOptions::default())
            .await
    }

    pub(crate) async fn create_container_with(
        self: &Arc<Self>,
        name: Option<&str>,
        mut req: CreateRequest,
        options: CreateOptions,
    ) -> Result<CreateResponse> {
        // None: a name is generated when the container is registered.
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => Some(names::validate(n)?),
            None => None,
        };
        if req.config.image.is_empty() {
            return Err(DaemonError::InvalidParameter(
                "no image specified: an image is required to create a container".into(),
            ));
        }
        super::host_config::validate(&req)?;
        req.host_config.runtime = self
            .cfg
            .resolve_runtime(&req.host_config.runtime)
            .map_err(DaemonError::InvalidParameter)?;
        // Only berth's own runtime mounts a part of an image (an OCI mount has no field
        // for it).
        let subpath = req
            .host_config
            .mounts
            .iter()
            .flatten()
            .any(|m| super::host_config::image_subpath(m).is_some());
        if subpath && req.host_config.runtime != crate::config::BUILTIN_RUNTIME {
            return Err(DaemonError::InvalidParameter(format!(
                "HostConfig.Mounts[].ImageOptions.Subpath needs berth's built-in runtime, not {:?}",
                req.host_config.runtime
            )));
        }
        let images = self.images.clone();
        let image_name = req.config.image.clone();
        let image = tokio::task::spawn_blocking(move || -> Result<_> {
            let id = images.resolve(&image_name)?;
            Ok(images.get(&id)?)
        })
        .await
        .map_err(DaemonError::system)??;
        let ic = &image.config.config;
        let cfg = &mut req.config;
        // Merge with the image, as Docker does.
        let mut env = ic.env.clone().unwrap_or_default();
        for e in cfg.env.clone().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        cfg.env = Some(env);
        // Docker's merge: an empty (or absent) entrypoint takes the image's command when
        // none is given; only an absent one takes the image's entrypoint.
        if cfg.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
            if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
                cfg.cmd = ic.cmd.clone().map(StrSlice);
            }
            if cfg.entrypoint.is_none() {
                cfg.entrypoint = ic.entrypoint.clone().map(StrSlice);
            }
        }
        if cfg.working_dir.is_empty() {
            cfg.working_dir = ic.working_dir.clone();
        }
        if !cfg.working_dir.is_empty() && !cfg.working_dir.starts_with('/') {
            return Err(DaemonError::InvalidParameter(format!(
                "the working directory '{}' is invalid, it needs to be an absolute path",
                cfg.working_dir
            )));
        }
        if cfg.user.is_empty() {
            cfg.user = ic.user.clone();
        }
        if cfg.stop_signal.is_none() {
            cfg.stop_signal = ic.stop_signal.clone();
        }
        cfg.healthcheck =
            super::health::config::merge(cfg.healthcheck.as_ref(), ic.healthcheck.as_ref());
        let mut labels = ic.labels.clone().unwrap_or_default();
        labels.extend(cfg.labels.clone().unwrap_or_default());
        cfg.labels = Some(labels);
        if cfg.exposed_ports.is_none() {
            cfg.exposed_ports = ic.exposed_ports.clone();
        }
        // The image's VOLUMEs join the container's: each gets an anonymous volume.
        let mut declared: Vec<String> = ic
            .volumes
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        for k in cfg.volumes.iter().flatten().map(|(k, _)| k) {
            if !declared.contains(k) {
                declared.push(k.clone());
            }
        }
        if !declared.is_empty() {
            cfg.volumes = Some(
                declared
                    .iter()
                    .map(|k| (k.clone(), serde_json::json!({})))
                    .collect(),
            );
        }
        let mut argv: Vec<String> = cfg.entrypoint.clone().unwrap_or_default().0;
        argv.extend(cfg.cmd.clone().unwrap_or_default().0);
        if argv.is_empty() {
            return Err(DaemonError::InvalidParameter("no command specified".into()));
        }
        let id = options.id.clone().unwrap_or_else(names::new_id);
        if cfg.hostname.is_empty() {
            cfg.hostname = if req.host_config.network_mode == "host" {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| id[..12].to_string())
            } else {
                id[..12].to_string()
            };
        }
        // The log driver with the options in force (the container's over the daemon's
        // `--log-opt`), recorded for start.
        let driver = super::logs::Driver::parse(&req.host_config.log_config.kind)?;
        let log = super::logs::LogOptions::parse_for(
            driver,
            req.host_config.log_config.config.as_ref(),
            &self.cfg.log_opts,
        )?;
        req.host_config.log_config.kind = driver.name().into();
        req.host_config.log_config.config = Some(log.to_config_for(driver));
        if req.host_config.network_mode.is_empty() {
            req.host_config.network_mode = "default".into();
        }
        let networking: Option<berth_api::network::NetworkingConfig> = match &req.networking_config
        {
            Some(v) if !v.is_null() => Some(serde_json::from_value(v.clone()).map_err(|e| {
                DaemonError::InvalidParameter(format!("invalid NetworkingConfig: {e}"))
            })?),
            _ => None,
        };
        let networks = self.networks.endpoints_for_create(
            &req.host_config,
            networking.as_ref(),
            req.config.mac_address.as_deref(),
        )?;
        let mac_requests = networks
            .iter()
            .filter(|(_, ep)| !ep.mac_address.is_empty())
            .map(|(n, ep)| (n.clone(), ep.mac_address.clone()))
            .collect();
        let from = self.volumes_from(&req.host_config)?;
        let (volumes, created) =
            super::volume::plan(&self.volumes, &req.host_config, &declared, from)?;
        for name in &created {
            self.volume_event("create", name, &[]);
        }
        let dir = self.cfg.container_dir(&id);
        crate::dirs::ensure(&dir, crate::dirs::PRIVATE_MODE)?;
        let hosts = if req.host_config.network_mode == "host" {
            std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| HOSTS.to_string())
        } else {
            format!("{HOSTS}127.0.1.1\t{}\n", req.config.hostname)
        };
        std::fs::write(dir.join("hosts"), hosts)?;
        std::fs::write(dir.join("hostname"), format!("{}\n", req.config.hostname))?;
        // A pod's container reads the pod's resolver file; others a copy of the host's.
        let pod_resolv = options.pod.as_ref().and_then(|p| p.resolv_conf.clone());
        if pod_resolv.is_none() {
            std::fs::write(
                dir.join("resolv.conf"),
                std::fs::read("/etc/resolv.conf").unwrap_or_default(),
            )?;
        }
        let pod_log = options.pod.as_ref().and_then(|p| p.log_path.clone());
        // Image mounts name their image as the user did; what they show is fixed here.
        let mut image_mounts = std::collections::BTreeMap::new();
        for m in req
            .host_config
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.kind == "image")
        {
            // A 400, not a 404: clients take a 404 at create for the container's own
            // image missing, and pull that.
            let img = self.image_get(&m.source).await.map_err(|e| match e {
                DaemonError::NotFound(_) => DaemonError::InvalidParameter(format!(
                    "invalid mount config for type \"image\": No such image: {}",
                    m.source
                )),
                other => other,
            })?;
            if let Some(sub) = super::host_config::image_subpath(m) {
                self.check_image_subpath(&img, &m.source, sub).await?;
            }
            image_mounts.insert(m.target.clone(), img.id.to_string());
        }
        let record = Record {
            id: id.clone(),
            name: String::new(),
            created: now(),
            image: req.config.image.clone(),
            image_id: image.id.to_string(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            state: ContainerState {
                status: "created".into(),
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            // dockerd's LogPath is empty for a driver that keeps nothing.
            log_path: if let Some(p) = &pod_log {
                p.display().to_string()
            } else if driver == super::logs::Driver::None {
                String::new()
            } else {
                dir.join(format!("{id}-json.log")).display().to_string()
            },
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            resolv_conf_path: pod_resolv
                .unwrap_or_else(|| dir.join("resolv.conf"))
                .display()
                .to_string(),
            config: req.config,
            host_config: req.host_config,
            restart_count: 0,
            networks,
            ports: Default::default(),
            mac_requests,
            ephemeral: false,
            manually_stopped: false,
            volumes,
            image_mounts,
            pod: options.pod,
            read_only_top_only: options.read_only_top_only,
        };
        let c = Arc::new(Container::new(record));
        if let Err(e) = self.register_as(c.clone(), name.as_deref()) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        if let Err(e) = c.save(&dir) {
            self.unregister(&c);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.container_event(&c, "create", &[]);
        let mut warnings = vec![];
        let rec = c.snapshot();
        if rec.host_config.network_mode == "host"
            && super::network::port_requests(&rec.host_config, &rec.config)
                .is_ok_and(|p| !p.is_empty())
        {
            warnings.push("Published ports are discarded when using host network mode".into());
        }
        Ok(CreateResponse { id, warnings })
    }
}

impl Engine {
    /// A mount of part of an image needs that part to be a directory of the image: a
    /// 400 at create, as Docker gives, rather than a failed start.
    async fn check_image_subpath(
        &self,
        img: &berth_image::store::Image,
        name: &str,
        sub: &str,
    ) -> Result<()> {
        let lower = self.images.layer_dirs(img);
        let empty = self.empty_lower_dir()?;
        let scratch = self
            .cfg
            .exec_root
            .join(format!("subpath-{}", super::names::new_id()));
        crate::dirs::ensure(&scratch, crate::dirs::PRIVATE_MODE)?;
        let sub_path = std::path::PathBuf::from(sub);
        let s = scratch.clone();
        let found = tokio::task::spawn_blocking(move || {
            berth_runtime::mounts::overlay_has_dir(&lower, &empty, &s, &sub_path)
        })
        .await
        .map_err(DaemonError::system);
        let _ = std::fs::remove_dir(&scratch);
        if found?? {
            Ok(())
        } else {
            Err(DaemonError::InvalidParameter(format!(
                "invalid mount config for type \"image\": subpath {sub:?} is not a directory in image {name}"
            )))
        }
    }
}
