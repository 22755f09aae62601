//! `run`, `create`, `start`, `attach`, `exec`: the commands that stream.

use crate::cli::{AttachArgs, ExecArgs, RunArgs, StartArgs};
use crate::client::{query, CliError, Client, Result};
use crate::stream::{self, RawTerminal};
use crate::units::parse_ram;
use berth_api::container::{
    Config, CreateRequest, HostConfig, LogConfig, Mount, RestartPolicy, Ulimit,
};
use berth_api::strslice::StrSlice;
use http::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

fn flag_err(flag: &str, value: &str, e: &str) -> CliError {
    CliError::Other(format!(
        "invalid argument \"{value}\" for \"{flag}\" flag: {e}"
    ))
}

fn env_list(a: &RunArgs) -> Result<Vec<String>> {
    let mut out = vec![];
    for f in &a.env_file {
        let data = std::fs::read_to_string(f)
            .map_err(|e| CliError::Other(format!("open {}: {e}", f.display())))?;
        for l in data
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            out.push(expand_env(l));
        }
    }
    out.extend(a.env.iter().map(|e| expand_env(e)));
    Ok(out.into_iter().flatten().collect())
}

/// `KEY=value` as given; a bare `KEY` takes the value from this environment, or is dropped.
fn expand_env(e: &str) -> Option<String> {
    if e.contains('=') {
        return Some(e.to_string());
    }
    std::env::var(e).ok().map(|v| format!("{e}={v}"))
}

fn ulimits(list: &[String]) -> Result<Vec<Ulimit>> {
    list.iter()
        .map(|u| {
            let (name, vals) = u
                .split_once('=')
                .ok_or_else(|| flag_err("--ulimit", u, "invalid ulimit argument"))?;
            let (soft, hard) = match vals.split_once(':') {
                Some((s, h)) => (s, h),
                None => (vals, vals),
            };
            let p = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| flag_err("--ulimit", u, "invalid ulimit value"))
            };
            Ok(Ulimit {
                name: name.to_string(),
                soft: p(soft)?,
                hard: p(hard)?,
            })
        })
        .collect()
}

/// Published ports and the ports they expose, as the API's maps.
type Ports = (HashMap<String, Value>, HashMap<String, Value>);

fn port_bindings(list: &[String]) -> Result<Ports> {
    let mut bindings = HashMap::new();
    let mut exposed = HashMap::new();
    for p in list {
        let (spec, proto) = p.rsplit_once('/').unwrap_or((p.as_str(), "tcp"));
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, host, cport) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [i, h, c] => (*i, *h, *c),
            _ => return Err(flag_err("-p, --publish", p, "invalid port format")),
        };
        if cport.parse::<u16>().is_err() {
            return Err(flag_err("-p, --publish", p, "invalid containerPort"));
        }
        let key = format!("{cport}/{proto}");
        exposed.insert(key.clone(), json!({}));
        bindings.insert(key, json!([{"HostIp": ip, "HostPort": host}]));
    }
    Ok((bindings, exposed))
}

/// The `POST /containers/create` body for these flags.
pub fn create_body(a: &RunArgs) -> Result<CreateRequest> {
    let memory = a
        .memory
        .as_deref()
        .map(|m| parse_ram(m).map_err(|e| flag_err("-m, --memory", m, &e)))
        .transpose()?;
    let swap = match a.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        Some(s) => Some(parse_ram(s).map_err(|e| flag_err("--memory-swap", s, &e))?),
        None => None,
    };
    let shm = a
        .shm_size
        .as_deref()
        .map(|m| parse_ram(m).map_err(|e| flag_err("--shm-size", m, &e)))
        .transpose()?;
    let mut labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    if let Some(v) = &a.health_on_failure {
        labels.insert("io.berth.health-on-failure".into(), v.clone());
    }
    let healthcheck = healthcheck(a)?;
    let attach: Vec<String> = a.attach.iter().map(|s| s.to_ascii_lowercase()).collect();
    for s in &attach {
        if !["stdin", "stdout", "stderr"].contains(&s.as_str()) {
            return Err(CliError::Other(format!("invalid argument \"{s}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")));
        }
    }
    let (attach_in, attach_out, attach_err) = if a.detach {
        (false, false, false)
    } else if attach.is_empty() {
        (a.interactive, true, true)
    } else {
        (
            attach.iter().any(|s| s == "stdin"),
            attach.iter().any(|s| s == "stdout"),
            attach.iter().any(|s| s == "stderr"),
        )
    };
    let restart_policy = match a.restart.as_deref() {
        Some(r) => {
            let (name, count) = r.split_once(':').unwrap_or((r, "0"));
            RestartPolicy {
                name: name.to_string(),
                maximum_retry_count: count.parse().map_err(|_| {
                    flag_err("--restart", r, "maximum retry count must be an integer")
                })?,
            }
        }
        None => RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        },
    };
    let (bindings, mut exposed) = port_bindings(&a.publish)?;
    for e in &a.expose {
        let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        if port.parse::<u16>().is_err() {
            return Err(flag_err("--expose", e, "invalid port"));
        }
        exposed.insert(format!("{port}/{proto}"), json!({}));
    }
    let network = a.network.clone().unwrap_or_else(|| "default".into());
    let endpoint = berth_api::network::EndpointSettings {
        ipam_config: (a.ip.is_some() || a.ip6.is_some()).then(|| {
            berth_api::network::EndpointIpamConfig {
                ipv4_address: a.ip.clone().unwrap_or_default(),
                ipv6_address: a.ip6.clone().unwrap_or_default(),
                ..Default::default()
            }
        }),
        aliases: (!a.network_alias.is_empty()).then(|| a.network_alias.clone()),
        mac_address: a.mac_address.clone().unwrap_or_default(),
        ..Default::default()
    };
    let networking = (a.ip.is_some()
        || a.ip6.is_some()
        || !a.network_alias.is_empty()
        || a.mac_address.is_some())
    .then(|| json!({ "EndpointsConfig": { network.clone(): endpoint } }));
    let console = if a.tty {
        stream::terminal_size().map(|(h, w)| vec![u32::from(h), u32::from(w)])
    } else {
        None
    };
    let config = Config {
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        attach_stdin: attach_in,
        attach_stdout: attach_out,
        attach_stderr: attach_err,
        tty: a.tty,
        open_stdin: a.interactive,
        stdin_once: a.interactive && !a.detach,
        env: Some(env_list(a)?),
        cmd: (!a.command.is_empty()).then(|| StrSlice(a.command.clone())),
        // `--entrypoint ""` clears the image's entrypoint.
        entrypoint: a.entrypoint.as_ref().map(|e| StrSlice(vec![e.clone()])),
        image: a.image.clone(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        volumes: Some(
            a.volume
                .iter()
                .filter(|v| !v.contains(':'))
                .map(|v| (v.clone(), json!({})))
                .collect(),
        ),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        healthcheck,
        ..Default::default()
    };
    let host_config = HostConfig {
        // `-v /path` alone is an anonymous volume (Config.Volumes), as the docker CLI sends it.
        binds: Some(
            a.volume
                .iter()
                .filter(|v| v.contains(':'))
                .cloned()
                .collect(),
        ),
        auto_remove: a.rm,
        memory: memory.unwrap_or(0),
        memory_swap: swap.unwrap_or(0),
        nano_cpus: a.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        cpu_shares: a.cpu_shares.unwrap_or(0),
        cpu_quota: a.cpu_quota.unwrap_or(0),
        cpu_period: a.cpu_period.unwrap_or(0),
        pids_limit: a.pids_limit,
        readonly_rootfs: a.read_only,
        privileged: a.privileged,
        runtime: a.runtime.clone().unwrap_or_default(),
        cap_add: Some(a.cap_add.clone()),
        cap_drop: Some(a.cap_drop.clone()),
        ulimits: Some(ulimits(&a.ulimit)?),
        network_mode: network,
        publish_all_ports: a.publish_all,
        dns: Some(a.dns.clone()),
        dns_search: Some(a.dns_search.clone()),
        dns_options: Some(a.dns_option.clone()),
        extra_hosts: Some(a.add_host.clone()),
        links: Some(a.link.clone()),
        shm_size: shm.unwrap_or(0),
        group_add: Some(a.group_add.clone()),
        security_opt: Some(security_options(&a.security_opt)?),
        restart_policy,
        port_bindings: Some(bindings),
        console_size: Some(console.unwrap_or_else(|| vec![0, 0])),
        pid_mode: a.pid.clone().unwrap_or_default(),
        ipc_mode: a.ipc.clone().unwrap_or_default(),
        uts_mode: a.uts.clone().unwrap_or_default(),
        cgroupns_mode: a.cgroupns.clone().unwrap_or_default(),
        userns_mode: a.userns.clone().unwrap_or_default(),
        tmpfs: Some(tmpfs(&a.tmpfs)),
        mounts: Some(mounts(&a.mount)?),
        sysctls: Some(key_values("--sysctl", &a.sysctl)?.into_iter().collect()),
        devices: Some(device_mappings(&a.device)),
        init: a.init.then_some(true),
        device_cgroup_rules: Some(a.device_cgroup_rule.clone()),
        oom_score_adj: a.oom_score_adj.unwrap_or(0),
        cpuset_cpus: a.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: a.cpuset_mems.clone().unwrap_or_default(),
        cgroup_parent: a.cgroup_parent.clone().unwrap_or_default(),
        log_config: LogConfig {
            kind: a.log_driver.clone().unwrap_or_default(),
            config: Some(key_values("--log-opt", &a.log_opt)?),
        },
        ..Default::default()
    };
    Ok(CreateRequest {
        config,
        host_config,
        networking_config: networking,
        ..Default::default()
    })
}

/// `--tmpfs /run:size=64m` → {"/run": "size=64m"}.
fn tmpfs(specs: &[String]) -> HashMap<String, String> {
    specs
        .iter()
        .map(|t| {
            let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            (path.to_string(), opts.to_string())
        })
        .collect()
}

/// `--device /dev/x[:/dev/y[:rwm]]` as the docker CLI encodes it.
fn device_mappings(specs: &[String]) -> Vec<Value> {
    specs
        .iter()
        .map(|d| {
            let parts: Vec<&str> = d.split(':').collect();
            let host = parts[0];
            let (inside, perms) = match parts.as_slice() {
                [_, p] if p.chars().all(|c| "rwm".contains(c)) => (host, *p),
                [_, i] => (*i, "rwm"),
                [_, i, p, ..] => (*i, *p),
                _ => (host, "rwm"),
            };
            json!({"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms})
        })
        .collect()
}

/// `key=value` flags as a map.
fn key_values(flag: &str, items: &[String]) -> Result<HashMap<String, String>> {
    let mut m = HashMap::new();
    for i in items {
        let (k, v) = i.split_once('=').ok_or_else(|| {
            CliError::Other(format!(
                "invalid argument \"{i}\" for \"{flag}\" flag: want key=value"
            ))
        })?;
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

/// `--mount type=bind,source=/a,target=/b,readonly` as the docker CLI encodes it.
fn mounts(specs: &[String]) -> Result<Vec<Mount>> {
    let mut out = vec![];
    for spec in specs {
        let mut m = Mount {
            kind: "volume".into(),
            ..Default::default()
        };
        let mut bind = serde_json::Map::new();
        let mut tmpfs = serde_json::Map::new();
        for field in spec.split(',') {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            let bad = || {
                CliError::Other(format!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"))
            };
            match k.to_ascii_lowercase().as_str() {
                "type" => m.kind = v.to_string(),
                "source" | "src" => m.source = v.to_string(),
                "target" | "dst" | "destination" => m.target = v.to_string(),
                "readonly" | "ro" => m.read_only = v.is_empty() || v == "true" || v == "1",
                "bind-propagation" => {
                    bind.insert("Propagation".into(), json!(v));
                }
                "tmpfs-size" => {
                    let n = crate::units::parse_ram(v).map_err(|_| bad())?;
                    tmpfs.insert("SizeBytes".into(), json!(n));
                }
                "tmpfs-mode" => {
                    let n = i64::from_str_radix(v, 8).map_err(|_| bad())?;
                    tmpfs.insert("Mode".into(), json!(n));
                }
                _ => return Err(bad()),
            }
        }
        m.bind_options = (!bind.is_empty()).then_some(bind);
        m.tmpfs_options = (!tmpfs.is_empty()).then_some(tmpfs);
        out.push(m);
    }
    Ok(out)
}

/// As the docker CLI does: `seccomp=<file>` is sent as the file's JSON, since the daemon
/// may not see the client's files.
fn security_options(opts: &[String]) -> Result<Vec<String>> {
    opts.iter()
        .map(|o| match o.split_once('=').or_else(|| o.split_once(':')) {
            Some(("seccomp", path)) if !matches!(path, "unconfined" | "builtin" | "") => {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    CliError::Other(format!("opening seccomp profile ({path}) failed: {e}"))
                })?;
                Ok(format!("seccomp={json}"))
            }
            _ => Ok(o.clone()),
        })
        .collect()
}

/// Docker's `run` exit code for a daemon error.
fn run_error_code(e: &CliError) -> i32 {
    let msg = e.to_string();
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        125
    }
}

async fn create(client: &Client, a: &RunArgs) -> Result<String> {
    let body = serde_json::to_value(create_body(a)?)
        .map_err(|e| CliError::Other(format!("encoding the request: {e}")))?;
    let path = match &a.name {
        Some(n) => format!("/containers/create?{}", query(&[("name", n.clone())])),
        None => "/containers/create".into(),
    };
    let resp: Result<Value> = client.json(Method::POST, &path, Some(body.clone())).await;
    let resp = match resp {
        Err(CliError::Daemon {
            status: 404,
            message,
        }) if message.starts_with("No such image") => {
            eprintln!("Unable to find image '{}' locally", with_tag(&a.image));
            let pull = client
                .pull_request(
                    &format!(
                        "/images/create?{}",
                        query(&[("fromImage", a.image.clone())])
                    ),
                    &a.image,
                )
                .await?;
            crate::client::print_progress(pull, a.quiet).await?;
            client.json(Method::POST, &path, Some(body)).await?
        }
        other => other?,
    };
    for w in resp["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    resp["Id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::Other("the daemon returned no container ID".into()))
}

fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

pub async fn create_cmd(client: &Client, a: RunArgs) -> Result<i32> {
    match create(client, &a).await {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(125)
        }
    }
}

async fn send_resize(client: &Client, path: &str) {
    if let Some((h, w)) = stream::terminal_size() {
        let _ = client
            .call(Method::POST, &format!("{path}?h={h}&w={w}"), None)
            .await;
    }
}

/// Keeps the remote terminal's size in step with ours.
fn watch_resize(client: Client, path: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut s) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while s.recv().await.is_some() {
            send_resize(&client, &path).await;
        }
    })
}

pub async fn run(client: &Client, a: RunArgs) -> Result<i32> {
    let id = match create(client, &a).await {
        Ok(id) => id,
        Err(e) => {
            eprintln!("{e}");
            return Ok(run_error_code(&e));
        }
    };
    if a.detach {
        if let Err(e) = client
            .call(Method::POST, &format!("/containers/{id}/start"), None)
            .await
        {
            eprintln!("{e}");
            return Ok(run_error_code(&e));
        }
        println!("{id}");
        return Ok(0);
    }
    let body = create_body(&a)?;
    let (att_in, att_out, att_err) = (
        body.config.attach_stdin,
        body.config.attach_stdout,
        body.config.attach_stderr,
    );
    let attach_path = format!(
        "/containers/{id}/attach?{}",
        query(&[
            ("stream", "1".into()),
            ("stdin", (att_in as u8).to_string()),
            ("stdout", (att_out as u8).to_string()),
            ("stderr", (att_err as u8).to_string()),
            (
                "detachKeys",
                crate::credentials::detach_keys(&a.detach_keys).unwrap_or_default(),
            ),
        ])
    );
    // The wait is registered before start, so a fast exit is never missed. Attach and
    // wait are independent: both go out at once.
    let condition = if a.rm { "removed" } else { "next-exit" };
    let wait_path = format!("/containers/{id}/wait?condition={condition}");
    let (conn, wait_resp) = tokio::join!(
        client.hijack(&attach_path, None),
        client.request(Method::POST, &wait_path, None)
    );
    let (conn, wait_resp) = (conn?, wait_resp?);
    let waiter = tokio::spawn(wait_status(wait_resp, 125));
    let raw = (a.tty && att_in && stream::is_terminal(0)).then(RawTerminal::enable);
    if let Err(e) = client
        .call(Method::POST, &format!("/containers/{id}/start"), None)
        .await
    {
        drop(raw);
        eprintln!("{e}");
        return Ok(run_error_code(&e));
    }
    let resizer = a.tty.then(|| {
        let c = client.clone();
        let path = format!("/containers/{id}/resize");
        tokio::spawn(async move { send_resize(&c, &path).await });
        watch_resize(client.clone(), format!("/containers/{id}/resize"))
    });
    stream::pump(conn, a.tty, att_in).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let mut waiter = waiter;
    if att_in {
        // An exit is seen at once; a container still running after a moment was
        // detached from.
        match tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiter).await {
            Ok(code) => return Ok(code.unwrap_or(125)),
            Err(_) if detached(client, &id).await => return Ok(0),
            Err(_) => {}
        }
    }
    Ok(waiter.await.unwrap_or(125))
}

pub async fn start(client: &Client, a: StartArgs) -> Result<i32> {
    if !a.attach && !a.interactive {
        return super::for_each(&a.containers, |c| async move {
            client
                .call(Method::POST, &format!("/containers/{c}/start"), None)
                .await?;
            Ok(Some(c))
        })
        .await;
    }
    let name = a.containers.first().cloned().unwrap_or_default();
    let info: Value = client
        .json(Method::GET, &format!("/containers/{name}/json"), None)
        .await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let conn = client
        .hijack(
            &format!(
                "/containers/{name}/attach?stream=1&stdin={}&stdout=1&stderr=1&{}",
                stdin as u8,
                crate::client::query(&[(
                    "detachKeys",
                    crate::credentials::detach_keys(&a.detach_keys).unwrap_or_default()
                )])
            ),
            None,
        )
        .await?;
    let wait_resp = client
        .request(
            Method::POST,
            &format!("/containers/{name}/wait?condition=next-exit"),
            None,
        )
        .await?;
    let raw = (tty && stdin && stream::is_terminal(0)).then(RawTerminal::enable);
    client
        .call(Method::POST, &format!("/containers/{name}/start"), None)
        .await?;
    stream::pump(conn, tty, stdin).await;
    drop(raw);
    Ok(exit_or_detached(client, &name, stdin, wait_resp).await)
}

/// After an attach ended: the container's exit code, or 0 if it is still running after
/// an attach with stdin (the user detached).
async fn exit_or_detached(
    client: &Client,
    id: &str,
    stdin: bool,
    wait_resp: http::Response<hyper::body::Incoming>,
) -> i32 {
    let status = wait_status(wait_resp, 0);
    tokio::pin!(status);
    if stdin {
        match tokio::time::timeout(std::time::Duration::from_millis(500), &mut status).await {
            Ok(code) => return code,
            Err(_) if detached(client, id).await => return 0,
            Err(_) => {}
        }
    }
    status.await
}

/// Whether an attach with stdin that ended left the container running: the user typed
/// the detach keys (the daemon lets the client go), so there is no exit to wait for.
async fn detached(client: &Client, id: &str) -> bool {
    let info: Result<Value> = client
        .json(Method::GET, &format!("/containers/{id}/json"), None)
        .await;
    info.is_ok_and(|i| i["State"]["Running"].as_bool() == Some(true))
}

/// The exit code in a `/wait` response (`default` if it has none).
async fn wait_status(resp: http::Response<hyper::body::Incoming>, default: i32) -> i32 {
    use http_body_util::BodyExt;
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["StatusCode"].as_i64())
        .map(|c| c as i32)
        .unwrap_or(default)
}

pub async fn attach(client: &Client, a: AttachArgs) -> Result<i32> {
    let info = super::inspect_container(client, &a.container).await?;
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(CliError::Other(
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let id = info["Id"].as_str().unwrap_or_default().to_string();
    let conn = client
        .hijack(
            &format!(
                "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1&{}",
                stdin as u8,
                crate::client::query(&[(
                    "detachKeys",
                    crate::credentials::detach_keys(&a.detach_keys).unwrap_or_default()
                )])
            ),
            None,
        )
        .await?;
    let wait_resp = client
        .request(Method::POST, &format!("/containers/{id}/wait"), None)
        .await?;
    let raw = (tty && stdin && stream::is_terminal(0)).then(RawTerminal::enable);
    if tty {
        send_resize(client, &format!("/containers/{id}/resize")).await;
    }
    stream::pump(conn, tty, stdin).await;
    drop(raw);
    Ok(exit_or_detached(client, &id, stdin, wait_resp).await)
}

pub async fn exec(client: &Client, a: ExecArgs) -> Result<i32> {
    let console = if a.tty {
        stream::terminal_size().map(|(h, w)| json!([h, w]))
    } else {
        None
    };
    let body = json!({
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Tty": a.tty,
        "Env": a.env,
        "Cmd": a.command,
        "User": a.user.clone().unwrap_or_default(),
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "ConsoleSize": console,
        "DetachKeys": crate::credentials::detach_keys(&a.detach_keys).unwrap_or_default(),
    });
    let created: Value = client
        .json(
            Method::POST,
            &format!("/containers/{}/exec", a.container),
            Some(body),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty, "ConsoleSize": console});
    if a.detach {
        client
            .call(Method::POST, &format!("/exec/{id}/start"), Some(start))
            .await?;
        return Ok(0);
    }
    let conn = client
        .hijack(&format!("/exec/{id}/start"), Some(start))
        .await?;
    let raw = (a.tty && a.interactive && stream::is_terminal(0)).then(RawTerminal::enable);
    let resizer = a
        .tty
        .then(|| watch_resize(client.clone(), format!("/exec/{id}/resize")));
    stream::pump(conn, a.tty, a.interactive).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let info: Value = client
        .json(Method::GET, &format!("/exec/{id}/json"), None)
        .await?;
    Ok(info["ExitCode"].as_i64().unwrap_or(126) as i32)
}

/// `--health-*` and `--no-healthcheck` as the docker CLI sends them (`Config.Healthcheck`,
/// durations in nanoseconds).
fn healthcheck(a: &RunArgs) -> Result<Option<serde_json::Value>> {
    let duration = |flag: &str, v: &Option<String>| -> Result<i64> {
        match v {
            None => Ok(0),
            Some(s) => berth_build::instruction::parse_duration(s)
                .map(|n| n as i64)
                .ok_or_else(|| flag_err(flag, s, "invalid duration")),
        }
    };
    let interval = duration("--health-interval", &a.health_interval)?;
    let timeout = duration("--health-timeout", &a.health_timeout)?;
    let start_period = duration("--health-start-period", &a.health_start_period)?;
    let start_interval = duration("--health-start-interval", &a.health_start_interval)?;
    let retries = a.health_retries.unwrap_or(0);
    let any_option = a.health_cmd.is_some()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || retries != 0;
    if a.no_healthcheck {
        if any_option {
            return Err(CliError::Other(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any_option {
        return Ok(None);
    }
    let test = match &a.health_cmd {
        Some(cmd) => json!(["CMD-SHELL", cmd]),
        None => json!([]),
    };
    Ok(Some(json!({
        "Test": test,
        "Interval": interval,
        "Timeout": timeout,
        "StartPeriod": start_period,
        "StartInterval": start_interval,
        "Retries": retries,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> RunArgs {
        let mut v = vec!["berth", "run"];
        v.extend_from_slice(args);
        match crate::cli::Cli::parse_from(v).command {
            crate::cli::Command::Run(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flags_become_docker_fields() {
        let a = parse(&[
            "--rm",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "-e",
            "A=1",
            "-l",
            "x=y",
            "--ulimit",
            "nofile=10:20",
            "busybox",
            "ls",
            "-l",
        ]);
        assert_eq!(a.command, vec!["ls", "-l"]);
        let b = serde_json::to_value(create_body(&a).unwrap()).unwrap();
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["HostConfig"]["NanoCpus"], 500_000_000);
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"]["x"], "y");
        assert_eq!(b["HostConfig"]["Ulimits"][0]["Hard"], 20);
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "no");
        let bad = parse(&["-m", "lots", "busybox"]);
        let e = create_body(&bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
    }
}
