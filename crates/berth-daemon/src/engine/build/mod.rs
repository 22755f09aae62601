//! `docker build` as Docker's classic builder does it: the context unpacked, the
//! Dockerfile's stages that the target needs run in order, one image per step (RUN in a
//! container, COPY/ADD as a layer of their own, the rest as config), each step taken
//! from the cache when the same step already ran on the same parent.

pub mod cache;
pub mod config;
mod context;
mod copy;
mod prune;
mod stage;

use super::Engine;
use crate::error::{DaemonError, Result};
use berth_build::instruction::Stage;
use berth_image::reference::Reference;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What `POST /build` asks for, checked.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tags: Vec<Reference>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// `--build-arg NAME=value`; None takes the value from the client's environment
    /// (which the client already did) or leaves the default.
    pub build_args: BTreeMap<String, Option<String>>,
    pub no_cache: bool,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The RUN containers' network (`--network`), default the default bridge.
    pub network_mode: String,
    pub extra_hosts: Vec<String>,
    pub shm_size: i64,
    pub memory: i64,
    pub memory_swap: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `--pull`: fetch the base images even when they are here.
    pub pull: bool,
    /// `rm=false`: the build containers stay.
    pub keep_containers: bool,
    /// The context came from a URL (`remote`): a lone Dockerfile is allowed.
    pub remote: bool,
    /// `--cache-from`: images whose history can stand for steps of this build.
    pub cache_from: Vec<String>,
    /// X-Registry-Config: credentials by registry host, for the base images pulled.
    pub registry_auth: BTreeMap<String, berth_registry::auth::Credentials>,
}

/// What a build reports as it goes, in the order Docker's clients print it.
#[derive(Debug, Clone)]
pub enum BuildMessage {
    Stream(String),
    /// The built image's ID (`{"aux":{"ID":...}}`).
    Aux(String),
}

/// The proxy ARGs Docker predefines: usable without an ARG line, never in history.
pub(super) const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The stages `target` needs: itself, its FROM stage and every `COPY --from` stage,
/// transitively.
fn needed_stages(stages: &[Stage], target: usize) -> BTreeSet<usize> {
    let index_of = |name: &str| -> Option<usize> {
        stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&name.to_ascii_lowercase()))
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
    };
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !needed.insert(i) {
            continue;
        }
        let s = &stages[i];
        let from_words: Vec<&str> = match &s.from.args {
            berth_build::parse::Args::Text(t) => t.split_whitespace().collect(),
            _ => vec![],
        };
        if let Some(j) = from_words
            .first()
            .and_then(|w| index_of(w))
            .filter(|j| *j < i)
        {
            todo.push(j);
        }
        for n in &s.nodes {
            for f in &n.flags {
                if let Some(from) = f.strip_prefix("--from=") {
                    if let Some(j) = index_of(from).filter(|j| *j < i) {
                        todo.push(j);
                    }
                }
            }
        }
    }
    needed
}

impl Engine {
    /// A build context given by URL (`remote`): http(s) only; a git repository is
    /// refused by name.
    pub async fn fetch_context(&self, url: &str) -> Result<http::Response<hyper::body::Incoming>> {
        if url.starts_with("git@")
            || url.starts_with("git://")
            || url.ends_with(".git")
            || url.contains(".git#")
        {
            return Err(DaemonError::InvalidParameter(format!(
                "remote {url}: berth does not clone git contexts; clone it and build the directory"
            )));
        }
        self.registry
            .fetch_url(url)
            .await
            .map_err(|e| DaemonError::InvalidParameter(format!("unable to prepare context: {e}")))
    }

    /// Runs the build; its messages go to `tx`. The built image's ID.
    pub async fn build(
        self: &Arc<Self>,
        opts: BuildOptions,
        context: Box<dyn Read + Send>,
        tx: mpsc::Sender<BuildMessage>,
    ) -> Result<String> {
        // Removed with everything in it when the build ends, however it ends.
        let work = self.images.scratch_dir()?;
        std::fs::set_permissions(
            work.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let ctx_dir = work.path().join("context");
        std::fs::create_dir(&ctx_dir)?;
        // As the context's entries are named: relative, without `.`.
        let dockerfile: std::path::PathBuf = std::path::Path::new(if opts.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            opts.dockerfile.as_str()
        })
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
        {
            let ctx_dir = ctx_dir.clone();
            let dockerfile = dockerfile.clone();
            let remote = opts.remote;
            tokio::task::spawn_blocking(move || {
                context::unpack(context, &ctx_dir, &dockerfile, remote)
            })
            .await
            .map_err(DaemonError::system)??;
        }
        let ctx = berth_runtime::root::Root::open(&ctx_dir).map_err(DaemonError::from)?;
        let text = {
            let name = if opts.dockerfile.is_empty() {
                "Dockerfile"
            } else {
                opts.dockerfile.as_str()
            };
            let fd = ctx
                .open_at(std::path::Path::new(name), nix::fcntl::OFlag::O_RDONLY)
                .map_err(|e| {
                    DaemonError::InvalidParameter(format!(
                        "Cannot locate specified Dockerfile: {name} ({e})"
                    ))
                })?;
            let mut s = String::new();
            std::fs::File::from(fd)
                .take(16 << 20)
                .read_to_string(&mut s)
                .map_err(|e| DaemonError::InvalidParameter(format!("reading {name}: {e}")))?;
            s
        };
        let df = berth_build::parse::parse(&text)
            .map_err(|e| DaemonError::InvalidParameter(e.to_string()))?;
        let (global, stages) = berth_build::instruction::stages(&df)
            .map_err(|e| DaemonError::InvalidParameter(e.to_string()))?;
        let target = match &opts.target {
            Some(t) if !t.is_empty() => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
                .ok_or_else(|| {
                    DaemonError::InvalidParameter(format!(
                        "failed to reach build target {t} in Dockerfile"
                    ))
                })?,
            _ => stages.len() - 1,
        };
        let needed = needed_stages(&stages, target);
        // Steps as dockerd counts them: the ARGs before the first FROM, then every
        // instruction of the stages that are built.
        let total: usize = global.len()
            + needed
                .iter()
                .map(|i| 1 + stages[*i].nodes.len())
                .sum::<usize>();
        // ARGs before the first FROM: for the FROM lines, and as defaults of the stages'
        // own ARG lines of the same name.
        let mut global_args: BTreeMap<String, String> = BTreeMap::new();
        for (n, node) in global.iter().enumerate() {
            let _ = tx
                .send(BuildMessage::Stream(format!(
                    "Step {}/{total} : {}\n",
                    n + 1,
                    node.original
                )))
                .await;
            let lookup = |n: &str| global_args.get(n).cloned();
            let ins = berth_build::instruction::Instruction::from_node(node, &lookup, df.escape)
                .map_err(|e| DaemonError::InvalidParameter(e.to_string()))?;
            if let berth_build::instruction::Instruction::Arg(list) = ins {
                for (k, default) in list {
                    let v = match opts.build_args.get(&k) {
                        Some(Some(v)) => v.clone(),
                        _ => default.unwrap_or_default(),
                    };
                    global_args.insert(k, v);
                }
            }
        }
        // --cache-from images must be here, as with dockerd's classic builder; one that is
        // not is said, not silently skipped.
        let mut cache_images = vec![];
        for name in &opts.cache_from {
            match self.image_get(name).await {
                Ok(img) => cache_images.push(img),
                Err(_) => {
                    let _ = tx
                        .send(BuildMessage::Stream(format!(
                            "[Warning] --cache-from image {name} is not here: not used (pull it first)\n"
                        )))
                        .await;
                }
            }
        }
        let mut run = stage::Run {
            cache_images,
            engine: self.clone(),
            opts: &opts,
            tx: &tx,
            work: work.path().to_path_buf(),
            escape: df.escape,
            step: global.len(),
            total,
            built: vec![None; stages.len()],
            stage_names: stages.iter().map(|s| s.name.clone()).collect(),
            global_args,
            used_args: BTreeSet::new(),
            layer_n: 0,
        };
        for i in needed.iter().copied() {
            let id = run.stage(&stages[i]).await?;
            run.built[i] = Some(id);
        }
        let mut image = run.built[target]
            .clone()
            .ok_or_else(|| DaemonError::System("the target stage was not built".into()))?;
        if !opts.labels.is_empty() {
            image = run.label_final(&image).await?;
        }
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| !run.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            let _ = tx
                .send(BuildMessage::Stream(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    list.join(" ")
                )))
                .await;
        }
        let _ = tx.send(BuildMessage::Aux(image.clone())).await;
        let short = image.trim_start_matches("sha256:");
        let _ = tx
            .send(BuildMessage::Stream(format!(
                "Successfully built {}\n",
                &short[..12.min(short.len())]
            )))
            .await;
        let id: berth_image::Digest = image.parse().map_err(DaemonError::from)?;
        for t in &opts.tags {
            self.images.tag_now(&id, t)?;
            self.image_event("tag", id.as_str(), &t.familiar());
            let _ = tx
                .send(BuildMessage::Stream(format!(
                    "Successfully tagged {}\n",
                    t.familiar()
                )))
                .await;
        }
        Ok(image)
    }
}
