//! `docker exec`: exec instances live in memory, like Docker's.

use super::session::{self, Session};
use super::{names, spec, user, Engine};
use crate::error::{DaemonError, Result};
use berth_api::exec::{ExecCreateRequest, ExecInspect, ProcessConfig};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub id: String,
    pub container_id: String,
    pub config: ExecCreateRequest,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

#[derive(Default)]
pub struct ExecTable {
    execs: Mutex<HashMap<String, ExecRecord>>,
}

impl ExecTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> Result<ExecRecord> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| DaemonError::NotFound(format!("No such exec instance: {id}")))
    }

    /// The container's execs that have not ended (`ExecIDs`; a finished one is only found
    /// by its ID, as with dockerd).
    pub fn ids_for(&self, container: &str) -> Vec<String> {
        self.lock()
            .values()
            .filter(|e| e.container_id == container && (e.running || !e.started))
            .map(|e| e.id.clone())
            .collect()
    }

    /// Records an exec's end, from its task's exit event.
    pub fn finished(&self, id: &str, code: i64) {
        if let Some(e) = self.lock().get_mut(id) {
            e.running = false;
            e.exit_code = Some(code);
        }
    }

    pub fn container_exited(&self, container: &str) {
        for e in self
            .lock()
            .values_mut()
            .filter(|e| e.container_id == container && e.running)
        {
            e.running = false;
            e.exit_code.get_or_insert(137);
        }
    }

    pub fn container_removed(&self, container: &str) {
        self.lock().retain(|_, e| e.container_id != container);
    }
}

impl Engine {
    pub fn exec_create(&self, container: &str, req: ExecCreateRequest) -> Result<String> {
        let c = self.get(container)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.record().state.paused {
            return Err(DaemonError::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(DaemonError::InvalidParameter(
                "No exec command specified".into(),
            ));
        }
        let id = names::new_id();
        let command = req.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &c,
            &format!("exec_create: {command}"),
            &[("execID", id.clone())],
        );
        self.execs.lock().insert(
            id.clone(),
            ExecRecord {
                id: id.clone(),
                container_id: c.id.clone(),
                config: req,
                running: false,
                started: false,
                exit_code: None,
                pid: 0,
            },
        );
        Ok(id)
    }

    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let e = self.execs.get(id)?;
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: e.id.clone(),
            running: e.running,
            exit_code: e.exit_code,
            process_config: ProcessConfig {
                privileged: e.config.privileged,
                user: e.config.user.clone(),
                tty: e.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
            },
            open_stdin: e.config.attach_stdin,
            open_stderr: e.config.attach_stderr,
            open_stdout: e.config.attach_stdout,
            container_id: e.container_id.clone(),
            detach_keys: e.config.detach_keys.clone(),
            pid: e.pid,
        })
    }

    /// What a start would refuse before it runs anything: an exec that is unknown or has
    /// run, or a container that is not running (answered before a stream is upgraded).
    pub fn exec_startable(&self, id: &str) -> Result<()> {
        let e = self.execs.get(id)?;
        if e.started {
            return Err(DaemonError::Conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        let c = self.get(&e.container_id)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        Ok(())
    }

    /// Starts the exec in the container's task. The session carries its output; its exit
    /// code is recorded here, whether or not anyone still reads the output.
    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        console: Option<(u16, u16)>,
    ) -> Result<Session> {
        let e = {
            let mut execs = self.execs.lock();
            let e = execs
                .get_mut(id)
                .ok_or_else(|| DaemonError::NotFound(format!("No such exec instance: {id}")))?;
            if e.started {
                return Err(DaemonError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            e.started = true;
            e.running = true;
            e.clone()
        };
        let io = match self.exec_start_inner(&e, e.config.tty, console).await {
            Ok(io) => io,
            Err(err) => {
                self.execs.finished(id, 126);
                return Err(err);
            }
        };
        if let Some(e) = self.execs.lock().get_mut(id) {
            e.pid = io.pid.unwrap_or(0) as i64;
        }
        let command = e.config.cmd.clone().unwrap_or_default().join(" ");
        let container = self.get(&e.container_id).ok();
        if let Some(c) = &container {
            self.container_event(
                c,
                &format!("exec_start: {command}"),
                &[("execID", id.to_string())],
            );
        }
        let engine = self.clone();
        let id = id.to_string();
        Ok(session::forward(io, move |code| {
            // No exit event: the shim went away, and the container with it (SIGKILL).
            let code = code.map_or(137, i64::from);
            engine.execs.finished(&id, code);
            if let Some(c) = &container {
                engine.container_event(
                    c,
                    "exec_die",
                    &[("execID", id.clone()), ("exitCode", code.to_string())],
                );
            }
        }))
    }

    pub(crate) async fn exec_start_inner(
        self: &Arc<Self>,
        e: &super::exec::ExecRecord,
        tty: bool,
        console: Option<(u16, u16)>,
    ) -> Result<berth_runtime::task::TaskIo> {
        let c = self.get(&e.container_id)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let rec = c.snapshot();
        let layers = self.container_fs(&c.id, &rec.image_id).await?.stack();
        let user_spec = if e.config.user.is_empty() {
            rec.config.user.clone()
        } else {
            e.config.user.clone()
        };
        let u = user::resolve_with(
            &user_spec,
            &layers,
            rec.host_config.group_add.as_deref().unwrap_or(&[]),
            !rec.pod.as_ref().is_some_and(|p| p.strict_groups),
        )?;
        let hostname = rec.config.hostname.clone();
        let mut env = rec.config.env.clone().unwrap_or_default();
        env.extend(e.config.env.clone().unwrap_or_default());
        let env = spec::environment(&env, &hostname, &u.home, tty);
        let caps = spec::capabilities(
            rec.host_config.cap_add.as_deref().unwrap_or(&[]),
            rec.host_config.cap_drop.as_deref().unwrap_or(&[]),
            rec.host_config.privileged || e.config.privileged,
        )?;
        let cwd = if !e.config.working_dir.is_empty() {
            e.config.working_dir.clone()
        } else if !rec.config.working_dir.is_empty() {
            rec.config.working_dir.clone()
        } else {
            "/".into()
        };
        // An exec is held to the container's no_new_privileges, as runc does.
        let no_new_privileges =
            super::security_opt::parse(rec.host_config.security_opt.as_deref().unwrap_or(&[]))?
                .no_new_privileges
                .unwrap_or(self.cfg.no_new_privileges);
        let process = spec::process::oci_process(spec::ProcessParts {
            tty,
            user: &u,
            args: e.config.cmd.clone().unwrap_or_default(),
            env,
            cwd,
            caps: &caps,
            no_new_privileges,
            console_size: console,
            // The container's --ulimit settings, as Docker gives an exec its container's.
            rlimits: Some(spec::process::rlimits(
                rec.host_config.ulimits.as_deref().unwrap_or(&[]),
            )?),
            oom_score_adj: None,
        })?;
        Ok(self
            .task(&c.id)
            .exec(&e.id, &process, e.config.attach_stdin)
            .await?)
    }

    /// Ends a running exec's process (a CRI exec that outlived its timeout).
    pub fn exec_kill(&self, id: &str) -> Result<()> {
        let e = self.execs.get(id)?;
        if e.running && e.pid > 0 {
            super::health::kill_probe(e.pid as i32);
        }
        Ok(())
    }

    pub async fn exec_resize(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let e = self.execs.get(id)?;
        self.task(&e.container_id).resize(h, w, Some(id)).await?;
        Ok(())
    }

    pub async fn resize(&self, container: &str, h: u16, w: u16) -> Result<()> {
        let c = self.get(container)?;
        if !c.is_running() {
            return Err(DaemonError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if !c.record().config.tty {
            return Err(DaemonError::InvalidParameter(format!(
                "cannot resize container {}: it has no TTY",
                c.id
            )));
        }
        self.task(&c.id).resize(h, w, None).await?;
        self.container_event(
            &c,
            "resize",
            &[("height", h.to_string()), ("width", w.to_string())],
        );
        Ok(())
    }
}
