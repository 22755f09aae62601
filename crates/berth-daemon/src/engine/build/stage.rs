//! One stage of a build: its base, then each step, taken from the cache or run.

use super::cache::key;
use super::copy::{self, CopyJob};
use super::{BuildMessage, BuildOptions};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::{Config, CreateRequest, HostConfig};
use berth_api::strslice::StrSlice;
use berth_build::instruction::{Command, CopySpec, Instruction, Stage};
use berth_build::parse::Node;
use berth_image::commit::CommitOptions;
use berth_image::config::RunConfig;
use berth_image::store::Image;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

pub(super) struct Run<'a> {
    pub engine: Arc<Engine>,
    pub opts: &'a BuildOptions,
    pub tx: &'a mpsc::Sender<BuildMessage>,
    /// The build's private scratch dir.
    pub work: PathBuf,
    pub escape: char,
    pub step: usize,
    pub total: usize,
    /// The image each stage made, by index.
    pub built: Vec<Option<String>>,
    pub stage_names: Vec<Option<String>>,
    pub global_args: BTreeMap<String, String>,
    /// `--cache-from` images, found here.
    pub cache_images: Vec<Image>,
    pub used_args: BTreeSet<String>,
    pub layer_n: usize,
}

/// What a stage has built so far.
struct State {
    image: Image,
    config: RunConfig,
    author: Option<String>,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
    /// CMD was set in this stage (ENTRYPOINT does not clear it then).
    cmd_set: bool,
}

impl State {
    fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.config
            .env
            .iter()
            .flatten()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
            .or_else(|| self.args.get(name).cloned())
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn id(&self) -> String {
        self.image.id.to_string()
    }
}

fn short(id: &str) -> &str {
    let h = id.trim_start_matches("sha256:");
    &h[..12.min(h.len())]
}

fn invalid(e: berth_build::BuildError) -> DaemonError {
    DaemonError::InvalidParameter(e.to_string())
}

impl Run<'_> {
    async fn say(&self, s: String) {
        let _ = self.tx.send(BuildMessage::Stream(s)).await;
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&berth_image::ImageStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let images = self.engine.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(DaemonError::system)?
    }

    async fn image(&self, id: &str) -> Result<Image> {
        let id: berth_image::Digest = id.parse().map_err(DaemonError::from)?;
        self.blocking(move |s| Ok(s.get(&id)?)).await
    }

    /// Builds the stage; the ID of its image.
    pub async fn stage(&mut self, stage: &Stage) -> Result<String> {
        self.step += 1;
        self.say(format!(
            "Step {}/{} : {}\n",
            self.step, self.total, stage.from.original
        ))
        .await;
        let global = self.global_args.clone();
        let lookup = |n: &str| global.get(n).cloned();
        let Instruction::From {
            image, platform, ..
        } = Instruction::from_node(&stage.from, &lookup, self.escape).map_err(invalid)?
        else {
            return Err(DaemonError::System("a stage without FROM".into()));
        };
        if let Some(p) = platform.filter(|p| !p.is_empty() && p != "linux/amd64" && p != "linux") {
            return Err(DaemonError::InvalidParameter(format!(
                "FROM --platform={p}: berth builds for linux/amd64 only"
            )));
        }
        let base = self.base(&image).await?;
        let state = State {
            config: base.config.config.clone(),
            author: base.config.author.clone(),
            image: base,
            args: BTreeMap::new(),
            cmd_set: false,
        };
        self.say(format!(" ---> {}\n", short(&state.id()))).await;
        let mut state = state;
        // The base image's ONBUILD triggers run first, and are not inherited.
        if let Some(triggers) = state.config.on_build.take().filter(|t| !t.is_empty()) {
            self.say(format!("# Executing {} build trigger(s)\n", triggers.len()))
                .await;
            for t in triggers {
                let df = berth_build::parse::parse(&t).map_err(invalid)?;
                for node in &df.nodes {
                    state = self.step_on(state, node).await?;
                }
            }
            self.say(format!(" ---> {}\n", short(&state.id()))).await;
        }
        for node in &stage.nodes {
            self.step += 1;
            self.say(format!(
                "Step {}/{} : {}\n",
                self.step, self.total, node.original
            ))
            .await;
            state = self.step_on(state, node).await?;
            self.say(format!(" ---> {}\n", short(&state.id()))).await;
        }
        Ok(state.id())
    }

    /// The base of a stage: an earlier stage, `scratch` (an image without layers), or an
    /// image here (pulled if missing, or with `--pull`).
    async fn base(&self, name: &str) -> Result<Image> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self
            .stage_names
            .iter()
            .position(|n| n.as_deref() == Some(&lower))
        {
            let id = self.built[i].clone().ok_or_else(|| {
                DaemonError::InvalidParameter(format!("stage {name} is used before it is built"))
            })?;
            return self.image(&id).await;
        }
        if lower == "scratch" {
            let id = self
                .blocking(|s| {
                    Ok(s.commit(
                        None,
                        None,
                        CommitOptions {
                            docker_version: Some(crate::engine::system::BERTH_VERSION.into()),
                            created_by: String::new(),
                            created: Some("1970-01-01T00:00:00Z".into()),
                            ..Default::default()
                        },
                    )?)
                })
                .await?;
            return self.image(&id.to_string()).await;
        }
        let local = {
            let n = name.to_string();
            self.blocking(move |s| Ok(s.resolve(&n).ok())).await?
        };
        match local {
            Some(id) if !self.opts.pull => self.image(&id.to_string()).await,
            _ => {
                let (ptx, mut prx) = mpsc::channel(64);
                let engine = self.engine.clone();
                let n = name.to_string();
                // The client's credentials for that registry, as the docker CLI sends them.
                let creds = berth_image::reference::Reference::parse(name)
                    .ok()
                    .and_then(|r| self.opts.registry_auth.get(&r.domain).cloned());
                let pull =
                    tokio::spawn(async move { engine.pull(&n, None, None, creds, ptx).await });
                while prx.recv().await.is_some() {}
                pull.await.map_err(DaemonError::system)??;
                let n = name.to_string();
                let id = self.blocking(move |s| Ok(s.resolve(&n)?)).await?;
                self.image(&id.to_string()).await
            }
        }
    }

    /// A step: from the cache if it ran before on this parent, else run.
    async fn step_on(&mut self, mut state: State, node: &Node) -> Result<State> {
        let ins =
            Instruction::from_node(node, &|n| state.lookup(n), self.escape).map_err(invalid)?;
        match ins {
            Instruction::Arg(list) => {
                for (k, default) in list {
                    let value = match self.opts.build_args.get(&k) {
                        Some(Some(v)) => {
                            self.used_args.insert(k.clone());
                            v.clone()
                        }
                        _ => default
                            .or_else(|| self.global_args.get(&k).cloned())
                            .unwrap_or_default(),
                    };
                    state.args.insert(k, value);
                }
                let desc = format!("/bin/sh -c #(nop)  {}", node.original);
                self.nop(state, &desc).await
            }
            Instruction::Env(_)
            | Instruction::Label(_)
            | Instruction::User(_)
            | Instruction::StopSignal(_)
            | Instruction::Expose(_)
            | Instruction::Volume(_)
            | Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Shell(_)
            | Instruction::Healthcheck(_)
            | Instruction::Onbuild(_) => {
                let shown = super::config::apply(&mut state.config, &ins)?;
                match ins {
                    Instruction::Cmd(_) => state.cmd_set = true,
                    // As Docker: a CMD from the base image does not go with a new
                    // ENTRYPOINT.
                    Instruction::Entrypoint(_) if !state.cmd_set => state.config.cmd = None,
                    _ => {}
                }
                self.nop(state, &format!("/bin/sh -c #(nop)  {shown}"))
                    .await
            }
            Instruction::Maintainer(m) => {
                state.author = Some(m.clone());
                self.nop(state, &format!("/bin/sh -c #(nop)  MAINTAINER {m}"))
                    .await
            }
            Instruction::Workdir(w) => self.workdir(state, &w).await,
            Instruction::Run(c) => self.run(state, &c).await,
            Instruction::Copy(spec) => self.copy(state, &spec, "COPY").await,
            Instruction::Add(spec) => self.copy(state, &spec, "ADD").await,
            Instruction::From { .. } => Err(DaemonError::System("FROM inside a stage".into())),
        }
    }

    /// A cached image for this step on this parent, if any.
    async fn cached(&self, state: &State, step: &str, desc: &str) -> Option<State> {
        if self.opts.no_cache {
            return None;
        }
        let local = match self.engine.build_cache.get(&key(&state.id(), step)) {
            Some(id) => self.image(&id).await.ok(),
            None => None,
        };
        let image = match local {
            Some(i) => i,
            None => self.cache_image_step(state, step, desc).await?,
        };
        self.say(" ---> Using cache\n".into()).await;
        Some(State {
            config: image.config.config.clone(),
            author: image.config.author.clone(),
            image,
            args: state.args.clone(),
            cmd_set: state.cmd_set,
        })
    }

    /// `--cache-from`: an image whose history goes on from this step's parent with this
    /// very step gives the step's image, remade from the parent, the step's config, that
    /// history entry and (for a step with a layer) that layer, which the image has.
    async fn cache_image_step(&self, state: &State, step: &str, desc: &str) -> Option<Image> {
        let parent = &state.image.config;
        let same = |a: &berth_image::config::History, b: &berth_image::config::History| {
            a.created_by == b.created_by && a.empty_layer == b.empty_layer
        };
        for c in &self.cache_images {
            let (h, d) = (parent.history.len(), parent.rootfs.diff_ids.len());
            let cc = &c.config;
            let Some(next) = cc.history.get(h) else {
                continue;
            };
            if next.created_by.as_deref() != Some(desc)
                || !parent
                    .history
                    .iter()
                    .zip(&cc.history)
                    .all(|(a, b)| same(a, b))
                || cc.rootfs.diff_ids.get(..d) != Some(&parent.rootfs.diff_ids[..])
            {
                continue;
            }
            let mut config = parent.clone();
            config.config = state.config.clone();
            // As `commit` records a step: no comment of its own.
            config.author = state.author.clone();
            config.comment = None;
            // Recorded per step by commit; the cached image carries the step's.
            config.docker_version = cc.docker_version.clone();
            config.created = next.created.clone();
            config.history.push(next.clone());
            if !next.empty_layer {
                let Some(diff) = cc.rootfs.diff_ids.get(d) else {
                    continue;
                };
                config.rootfs.diff_ids.push(diff.clone());
            }
            let id = self
                .blocking(move |s| Ok(s.create(&config)?))
                .await
                .ok()?
                .to_string();
            let _ = self.remember(state, step, &id).await;
            return self.image(&id).await.ok();
        }
        None
    }

    async fn remember(&self, state: &State, step: &str, id: &str) -> Result<()> {
        self.engine.build_cache.put(&key(&state.id(), step), id)
    }

    /// A step that changes the config only: a new image without a layer.
    async fn nop(&mut self, state: State, desc: &str) -> Result<State> {
        let step = format!("{desc}\n{}", config_key(&state.config));
        if let Some(hit) = self.cached(&state, &step, desc).await {
            return Ok(hit);
        }
        self.commit(state, None, desc, &step).await
    }

    async fn commit(
        &mut self,
        state: State,
        layer: Option<PathBuf>,
        desc: &str,
        step: &str,
    ) -> Result<State> {
        let opts = CommitOptions {
            docker_version: Some(crate::engine::system::BERTH_VERSION.into()),
            config: state.config.clone(),
            author: state.author.clone(),
            comment: None,
            created_by: desc.to_string(),
            created: None,
            reference: None,
        };
        let parent = state.image.clone();
        let id = self
            .blocking(move |s| Ok(s.commit(Some(&parent), layer.as_deref(), opts)?))
            .await?
            .to_string();
        self.remember(&state, step, &id).await?;
        let image = self.image(&id).await?;
        Ok(State { image, ..state })
    }

    /// A fresh, private directory for a layer being made.
    fn layer_dir(&mut self) -> Result<PathBuf> {
        self.layer_n += 1;
        let dir = self.work.join(format!("layer-{}", self.layer_n));
        crate::dirs::ensure(&dir, 0o755)?;
        Ok(dir)
    }

    async fn workdir(&mut self, mut state: State, w: &str) -> Result<State> {
        let base = if state.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            state.config.working_dir.clone()
        };
        let path = clean_abs(&Path::new(&base).join(w));
        state.config.working_dir = path.display().to_string();
        let desc = format!("/bin/sh -c #(nop) WORKDIR {}", path.display());
        let step = format!("{desc}\n{}", config_key(&state.config));
        if let Some(hit) = self.cached(&state, &step, &desc).await {
            return Ok(hit);
        }
        // The directory is made in a layer of its own when the image lacks it.
        let layers = self.engine.images.layer_dirs(&state.image);
        let rel = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        let exists =
            rel.as_os_str().is_empty() || berth_image::changes::lookup(&layers, &rel).is_some();
        let layer = if exists {
            None
        } else {
            let dir = self.layer_dir()?;
            copy::make_parents(&dir, &rel, &layers)?;
            Some(dir)
        };
        self.commit(state, layer, &desc, &step).await
    }

    async fn run(&mut self, state: State, c: &Command) -> Result<State> {
        let argv = c.argv(&state.shell());
        // The stage's ARGs are in the RUN's environment (and its history line), ENV wins.
        let arg_env: Vec<String> = state
            .args
            .iter()
            .filter(|(k, _)| state.lookup(k).as_deref() == state.args.get(*k).map(|s| s.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let desc = if arg_env.is_empty() {
            argv.join(" ")
        } else {
            format!(
                "|{} {} {}",
                arg_env.len(),
                arg_env.join(" "),
                argv.join(" ")
            )
        };
        let step = format!("RUN {desc}\n{}", config_key(&state.config));
        if let Some(hit) = self.cached(&state, &step, &desc).await {
            return Ok(hit);
        }
        // The proxy ARGs given with --build-arg reach RUN without an ARG line, and stay
        // out of the history and the cache key, as dockerd does.
        let mut env: Vec<String> = super::PREDEFINED_ARGS
            .iter()
            .filter(|k| !state.args.contains_key(**k))
            .filter_map(|k| match self.opts.build_args.get(*k) {
                Some(Some(v)) => Some(format!("{k}={v}")),
                _ => None,
            })
            .collect();
        env.extend(arg_env.clone());
        env.extend(state.config.env.clone().unwrap_or_default());
        let req = CreateRequest {
            config: Config {
                image: state.id(),
                cmd: Some(StrSlice(argv.clone())),
                entrypoint: Some(StrSlice(vec![])),
                env: Some(env),
                user: state.config.user.clone(),
                working_dir: state.config.working_dir.clone(),
                ..Default::default()
            },
            host_config: HostConfig {
                network_mode: self.opts.network_mode.clone(),
                extra_hosts: (!self.opts.extra_hosts.is_empty())
                    .then(|| self.opts.extra_hosts.clone()),
                shm_size: self.opts.shm_size,
                memory: self.opts.memory,
                memory_swap: self.opts.memory_swap,
                cpu_shares: self.opts.cpu_shares,
                cpu_period: self.opts.cpu_period,
                cpu_quota: self.opts.cpu_quota,
                cpuset_cpus: self.opts.cpuset_cpus.clone(),
                cpuset_mems: self.opts.cpuset_mems.clone(),
                ..Default::default()
            },
            networking_config: None,
            other: Default::default(),
        };
        let created = self.engine.create_container(None, req).await?;
        let cid = created.id;
        self.engine.get(&cid)?.record().ephemeral = true;
        self.say(format!(" ---> Running in {}\n", short(&cid)))
            .await;
        let result = self.run_container(&cid).await;
        let outcome = match result {
            Ok(0) => {
                let fs = self.engine.container_fs(&cid, &state.id()).await?;
                let opts_desc = desc.clone();
                let s = self
                    .commit(state, Some(fs.upper.clone()), &opts_desc, &step)
                    .await;
                Some(s)
            }
            Ok(code) => {
                self.drop_container(&cid).await;
                return Err(DaemonError::BuildFailed {
                    message: format!(
                        "The command '{}' returned a non-zero code: {code}",
                        argv.join(" ")
                    ),
                    code,
                });
            }
            Err(e) => {
                self.drop_container(&cid).await;
                return Err(e);
            }
        };
        if !self.opts.keep_containers {
            self.say(format!("Removing intermediate container {}\n", short(&cid)))
                .await;
        }
        self.drop_container(&cid).await;
        outcome.unwrap_or_else(|| Err(DaemonError::System("no outcome".into())))
    }

    /// A build container goes unless the build keeps them (`rm=false`). Unlike dockerd,
    /// the container of a failed step goes too: a failed build leaves nothing.
    async fn drop_container(&self, cid: &str) {
        if !self.opts.keep_containers {
            let _ = self.engine.remove(cid, true, true).await;
        }
    }

    /// Starts the build container, streams its output, and waits: its exit code.
    async fn run_container(&self, cid: &str) -> Result<i64> {
        let waiter = self.engine.wait(cid, "next-exit")?;
        self.engine.start(cid).await?;
        let log = self.engine.get(cid)?.record().log_path.clone();
        // The container's output as it comes: its log file followed until it exits
        // (a rotation does not happen within one step's 20 MB).
        let mut waiter = Box::pin(waiter);
        let mut offset = 0u64;
        let mut partial = Vec::new();
        let code = loop {
            let done =
                tokio::time::timeout(std::time::Duration::from_millis(50), &mut waiter).await;
            self.forward_log(&log, &mut offset, &mut partial).await;
            if let Ok(code) = done {
                break code?;
            }
        };
        self.forward_log(&log, &mut offset, &mut partial).await;
        Ok(code)
    }

    /// The log lines written since `offset`, sent as the step's output.
    async fn forward_log(&self, log: &str, offset: &mut u64, partial: &mut Vec<u8>) {
        use std::io::{Read, Seek};
        let Ok(mut f) = std::fs::File::open(log) else {
            return;
        };
        if f.seek(std::io::SeekFrom::Start(*offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if let Ok(n) = f.read_to_end(&mut buf) {
            *offset += n as u64;
        }
        partial.extend_from_slice(&buf);
        while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                if let Some(s) = v.get("log").and_then(|l| l.as_str()) {
                    self.say(s.to_string()).await;
                }
            }
        }
    }

    async fn copy(&mut self, state: State, spec: &CopySpec, keyword: &str) -> Result<State> {
        // Where the files come from: the context, or a stage's or an image's filesystem.
        let mut mounted = None;
        let src_root = match &spec.from {
            None => berth_runtime::root::Root::open(&self.work.join("context"))
                .map_err(DaemonError::from)?,
            Some(from) => {
                let lower = from.to_ascii_lowercase();
                let stage_image = self
                    .stage_names
                    .iter()
                    .position(|n| n.as_deref() == Some(&lower))
                    .or_else(|| from.parse::<usize>().ok().filter(|i| *i < self.built.len()))
                    .map(|i| {
                        self.built[i].clone().ok_or_else(|| {
                            DaemonError::InvalidParameter(format!(
                                "{keyword} --from={from}: that stage is not built before this one"
                            ))
                        })
                    })
                    .transpose()?;
                let image = match stage_image {
                    Some(id) => self.image(&id).await?,
                    None => self.base(from).await?,
                };
                let layers = self.engine.images.layer_dirs(&image);
                let m = self
                    .engine
                    .mount_layers_read_only(image.id.hex(), &layers)?;
                let root = berth_runtime::root::Root::open(m.path()).map_err(DaemonError::from)?;
                mounted = Some(m);
                root
            }
        };
        let workdir = if state.config.working_dir.is_empty() {
            "/".to_string()
        } else {
            state.config.working_dir.clone()
        };
        let dest = clean_abs(&Path::new(&workdir).join(&spec.dest));
        let layers = self.engine.images.layer_dirs(&state.image);
        let owner = match &spec.chown {
            Some(c) => {
                let u = crate::engine::user::resolve(c, &layers, &[])?;
                Some((u.uid, u.gid))
            }
            None => None,
        };
        let dir = self.layer_dir()?;
        let job_dir = dir.clone();
        let (sources, downloaded) = if keyword == "ADD" && spec.from.is_none() {
            self.download_sources(&spec.sources).await?
        } else {
            (spec.sources.clone(), vec![])
        };
        let inline = spec.inline.clone();
        let dest_is_dir = spec.dest.ends_with('/');
        let chmod = spec.chmod;
        let kw = keyword.to_string();
        let dest_s = dest.display().to_string();
        let hash = tokio::task::spawn_blocking(move || {
            copy::prepare(
                &CopyJob {
                    keyword: &kw,
                    src_root: &src_root,
                    sources: &sources,
                    inline: &inline,
                    dest: dest_s,
                    dest_is_dir,
                    owner,
                    chmod,
                    extract_archives: kw == "ADD",
                    downloaded: &downloaded,
                    image_layers: &layers,
                },
                &job_dir,
            )
        })
        .await
        .map_err(DaemonError::system)??;
        drop(mounted);
        let desc = format!(
            "/bin/sh -c #(nop) {keyword} {}:{hash} in {}",
            if spec.sources.len() + spec.inline.len() > 1 {
                "multi"
            } else {
                "file"
            },
            dest.display()
        );
        let step = format!(
            "{desc}\n{:?} {:?}\n{}",
            spec.chown,
            spec.chmod,
            config_key(&state.config)
        );
        if let Some(hit) = self.cached(&state, &step, &desc).await {
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(hit);
        }
        let result = self.commit(state, Some(dir.clone()), &desc, &step).await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    /// ADD's URL sources, downloaded into the context under a private name that keeps
    /// the URL's file name (which names the file at a directory destination), mode 0600
    /// as Docker makes them; the sources to copy, and which of them were downloaded.
    async fn download_sources(
        &mut self,
        sources: &[String],
    ) -> Result<(Vec<String>, Vec<PathBuf>)> {
        let mut out = vec![];
        let mut downloaded = vec![];
        for s in sources {
            if !(s.starts_with("http://") || s.starts_with("https://")) {
                out.push(s.clone());
                continue;
            }
            self.layer_n += 1;
            let name = s
                .split(['?', '#'])
                .next()
                .and_then(|u| u.rsplit('/').next())
                .filter(|n| !n.is_empty() && *n != "." && *n != "..")
                .unwrap_or("download")
                .to_string();
            let rel = PathBuf::from(format!(".berth-add-{}", self.layer_n)).join(&name);
            let resp = self
                .engine
                .fetch_context(s)
                .await
                .map_err(|e| DaemonError::InvalidParameter(format!("ADD failed: {e}")))?;
            // Beneath the context: a context holding this name as a symlink keeps the
            // download inside itself.
            let ctx = berth_runtime::root::Root::open(&self.work.join("context"))
                .map_err(DaemonError::from)?;
            ctx.mkdir_all(rel.parent().unwrap_or(Path::new("")))
                .map_err(DaemonError::from)?;
            let mut file = ctx.create_file(&rel, 0o600).map_err(DaemonError::from)?;
            let mut body = resp.into_body();
            use http_body_util::BodyExt;
            use std::io::Write;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    DaemonError::InvalidParameter(format!("ADD failed: downloading {s}: {e}"))
                })?;
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data)?;
                }
            }
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            out.push(rel.display().to_string());
            downloaded.push(rel);
        }
        Ok((out, downloaded))
    }

    /// `--label`s of the build, on the final image.
    pub async fn label_final(&mut self, image: &str) -> Result<String> {
        let img = self.image(image).await?;
        let mut config = img.config.config.clone();
        let labels = config.labels.get_or_insert_with(Default::default);
        let mut shown = vec![];
        for (k, v) in &self.opts.labels {
            labels.insert(k.clone(), v.clone());
            shown.push(format!("{k}={v}"));
        }
        let state = State {
            author: img.config.author.clone(),
            config,
            image: img,
            args: BTreeMap::new(),
            cmd_set: true,
        };
        let desc = format!("/bin/sh -c #(nop)  LABEL {}", shown.join(" "));
        Ok(self.nop(state, &desc).await?.id())
    }
}

/// The run config as part of a cache key: sorted, so the same config is the same text.
fn config_key(c: &RunConfig) -> String {
    serde_json::to_value(c)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// `/a/./b/../c` → `/a/c`, without looking at any filesystem.
fn clean_abs(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}
