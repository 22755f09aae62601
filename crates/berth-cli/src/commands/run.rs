//! `run`, `create`, `start`, `attach`, `exec`: the commands that stream.

use crate::cli::{AttachArgs, ExecArgs, RunArgs, StartArgs};
use crate::client::{query, CliError, Client, Result};
use crate::stream::{self, RawTerminal};
use crate::units::parse_ram;
use http::Method;
use serde_json::{json, Value};

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

fn ulimits(list: &[String]) -> Result<Vec<Value>> {
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
            Ok(json!({"Name": name, "Soft": p(soft)?, "Hard": p(hard)?}))
        })
        .collect()
}

fn port_bindings(list: &[String]) -> Result<(Value, Value)> {
    let mut bindings = serde_json::Map::new();
    let mut exposed = serde_json::Map::new();
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
    Ok((Value::Object(bindings), Value::Object(exposed)))
}

/// The `POST /containers/create` body for these flags.
pub fn create_body(a: &RunArgs) -> Result<Value> {
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
    let mut labels = serde_json::Map::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), json!(v));
    }
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
    let restart = a.restart.as_deref().map(|r| {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        json!({"Name": name, "MaximumRetryCount": count.parse::<i64>().unwrap_or(0)})
    });
    let (bindings, exposed) = port_bindings(&a.publish)?;
    let console = if a.tty {
        stream::terminal_size().map(|(h, w)| json!([h, w]))
    } else {
        None
    };
    Ok(json!({
        "Hostname": a.hostname.clone().unwrap_or_default(),
        "Domainname": a.domainname.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(),
        "AttachStdin": attach_in,
        "AttachStdout": attach_out,
        "AttachStderr": attach_err,
        "Tty": a.tty,
        "OpenStdin": a.interactive,
        "StdinOnce": a.interactive && !a.detach,
        "Env": env_list(a)?,
        "Cmd": if a.command.is_empty() { Value::Null } else { json!(a.command) },
        "Entrypoint": match &a.entrypoint { Some(e) if e.is_empty() => json!([""]), Some(e) => json!([e]), None => Value::Null },
        "Image": a.image,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Labels": labels,
        "ExposedPorts": exposed,
        "StopSignal": a.stop_signal,
        "StopTimeout": a.stop_timeout,
        "HostConfig": {
            "Binds": a.volume,
            "AutoRemove": a.rm,
            "Memory": memory.unwrap_or(0),
            "MemorySwap": swap.unwrap_or(0),
            "NanoCpus": a.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
            "CpuShares": a.cpu_shares.unwrap_or(0),
            "CpuQuota": a.cpu_quota.unwrap_or(0),
            "CpuPeriod": a.cpu_period.unwrap_or(0),
            "PidsLimit": a.pids_limit,
            "ReadonlyRootfs": a.read_only,
            "Privileged": a.privileged,
            "CapAdd": a.cap_add,
            "CapDrop": a.cap_drop,
            "Ulimits": ulimits(&a.ulimit)?,
            "NetworkMode": a.network.clone().unwrap_or_else(|| "default".into()),
            "ShmSize": shm.unwrap_or(0),
            "GroupAdd": a.group_add,
            "SecurityOpt": security_options(&a.security_opt)?,
            "RestartPolicy": restart.unwrap_or(json!({"Name": "no"})),
            "PortBindings": bindings,
            "ConsoleSize": console.unwrap_or(json!([0, 0])),
            "PidMode": a.pid.clone().unwrap_or_default(),
            "IpcMode": a.ipc.clone().unwrap_or_default(),
            "UTSMode": a.uts.clone().unwrap_or_default(),
            "CgroupnsMode": a.cgroupns.clone().unwrap_or_default(),
            "UsernsMode": a.userns.clone().unwrap_or_default(),
            "Tmpfs": tmpfs(&a.tmpfs),
            "Mounts": mounts(&a.mount)?,
            "Sysctls": key_values("--sysctl", &a.sysctl)?,
            "Devices": device_mappings(&a.device),
            "Init": if a.init { json!(true) } else { Value::Null },
            "DeviceCgroupRules": a.device_cgroup_rule,
            "OomScoreAdj": a.oom_score_adj.unwrap_or(0),
            "CpusetCpus": a.cpuset_cpus.clone().unwrap_or_default(),
            "CpusetMems": a.cpuset_mems.clone().unwrap_or_default(),
            "CgroupParent": a.cgroup_parent.clone().unwrap_or_default(),
            "LogConfig": {
                "Type": a.log_driver.clone().unwrap_or_default(),
                "Config": key_values("--log-opt", &a.log_opt)?,
            },
        }
    }))
}

/// `--tmpfs /run:size=64m` → {"/run": "size=64m"}.
fn tmpfs(specs: &[String]) -> Value {
    let m: serde_json::Map<String, Value> = specs
        .iter()
        .map(|t| {
            let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            (path.to_string(), json!(opts))
        })
        .collect();
    Value::Object(m)
}

/// `--device /dev/x[:/dev/y[:rwm]]` as the docker CLI encodes it.
fn device_mappings(specs: &[String]) -> Value {
    let out: Vec<Value> = specs
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
        .collect();
    json!(out)
}

/// `key=value` flags as a JSON object.
fn key_values(flag: &str, items: &[String]) -> Result<Value> {
    let mut m = serde_json::Map::new();
    for i in items {
        let (k, v) = i.split_once('=').ok_or_else(|| {
            CliError::Other(format!(
                "invalid argument \"{i}\" for \"{flag}\" flag: want key=value"
            ))
        })?;
        m.insert(k.to_string(), json!(v));
    }
    Ok(Value::Object(m))
}

/// `--mount type=bind,source=/a,target=/b,readonly` as the docker CLI encodes it.
fn mounts(specs: &[String]) -> Result<Value> {
    let mut out = vec![];
    for spec in specs {
        let mut m = serde_json::Map::new();
        let mut bind = serde_json::Map::new();
        let mut tmpfs = serde_json::Map::new();
        m.insert("Type".into(), json!("volume"));
        for field in spec.split(',') {
            let (k, v) = field.split_once('=').unwrap_or((field, ""));
            let bad = || {
                CliError::Other(format!("invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"))
            };
            match k.to_ascii_lowercase().as_str() {
                "type" => {
                    m.insert("Type".into(), json!(v));
                }
                "source" | "src" => {
                    m.insert("Source".into(), json!(v));
                }
                "target" | "dst" | "destination" => {
                    m.insert("Target".into(), json!(v));
                }
                "readonly" | "ro" => {
                    m.insert(
                        "ReadOnly".into(),
                        json!(v.is_empty() || v == "true" || v == "1"),
                    );
                }
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
        if !bind.is_empty() {
            m.insert("BindOptions".into(), Value::Object(bind));
        }
        if !tmpfs.is_empty() {
            m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
        }
        out.push(Value::Object(m));
    }
    Ok(json!(out))
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
    let body = create_body(a)?;
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
        body["AttachStdin"].as_bool().unwrap_or(false),
        body["AttachStdout"].as_bool().unwrap_or(true),
        body["AttachStderr"].as_bool().unwrap_or(true),
    );
    let attach_path = format!(
        "/containers/{id}/attach?{}",
        query(&[
            ("stream", "1".into()),
            ("stdin", (att_in as u8).to_string()),
            ("stdout", (att_out as u8).to_string()),
            ("stderr", (att_err as u8).to_string()),
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
                "/containers/{name}/attach?stream=1&stdin={}&stdout=1&stderr=1",
                stdin as u8
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
    Ok(wait_status(wait_resp, 0).await)
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
                "/containers/{id}/attach?stream=1&stdin={}&stdout=1&stderr=1",
                stdin as u8
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
    Ok(wait_status(wait_resp, 0).await)
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
        let b = create_body(&a).unwrap();
        assert_eq!(b["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(b["HostConfig"]["NanoCpus"], 500_000_000);
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"]["x"], "y");
        assert_eq!(b["HostConfig"]["Ulimits"][0]["Hard"], 20);
        let bad = parse(&["-m", "lots", "busybox"]);
        let e = create_body(&bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
    }
}
