//! Container commands that answer once: ps, stop, rm, logs, inspect, top, ...

use super::{filters_json, for_each};
use crate::cli::{
    InspectArgs, KillArgs, LogsArgs, NamesArgs, PruneArgs, PsArgs, RmArgs, StopArgs, TopArgs,
};
use crate::client::{query, CliError, Client, Result};
use crate::format::{ellipsis, print_items, tabulate, Template};
use berth_api::container::ContainerSummary;
use berth_api::stream::{FrameDecoder, StreamKind};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::io::Write;

pub async fn stop(client: &Client, a: StopArgs, restart: bool) -> Result<i32> {
    let verb = if restart { "restart" } else { "stop" };
    let mut q = vec![];
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let qs = query(&q);
    for_each(&a.containers, |c| {
        let qs = qs.clone();
        async move {
            client
                .call(Method::POST, &format!("/containers/{c}/{verb}?{qs}"), None)
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn kill(client: &Client, a: KillArgs) -> Result<i32> {
    let sig = a.signal.clone();
    for_each(&a.containers, |c| {
        let sig = sig.clone();
        async move {
            client
                .call(
                    Method::POST,
                    &format!("/containers/{c}/kill?{}", query(&[("signal", sig)])),
                    None,
                )
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn rm(client: &Client, a: RmArgs) -> Result<i32> {
    let q = query(&[
        ("force", (a.force as u8).to_string()),
        ("v", (a.volumes as u8).to_string()),
    ]);
    for_each(&a.containers, |c| {
        let q = q.clone();
        async move {
            client
                .call(Method::DELETE, &format!("/containers/{c}?{q}"), None)
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn simple(client: &Client, a: NamesArgs, verb: &str) -> Result<i32> {
    for_each(&a.containers, |c| async move {
        client
            .call(Method::POST, &format!("/containers/{c}/{verb}"), None)
            .await?;
        Ok(Some(c))
    })
    .await
}

pub async fn wait(client: &Client, a: NamesArgs) -> Result<i32> {
    for_each(&a.containers, |c| async move {
        let v: Value = client
            .json(Method::POST, &format!("/containers/{c}/wait"), None)
            .await?;
        Ok(Some(v["StatusCode"].as_i64().unwrap_or(-1).to_string()))
    })
    .await
}

pub async fn rename(client: &Client, container: &str, new_name: &str) -> Result<i32> {
    client
        .call(
            Method::POST,
            &format!(
                "/containers/{container}/rename?{}",
                query(&[("name", new_name.into())])
            ),
            None,
        )
        .await?;
    Ok(0)
}

pub async fn prune(client: &Client, a: PruneArgs) -> Result<i32> {
    let mut path = "/containers/prune".to_string();
    if let Some(f) = filters_json(&a.filter)? {
        path.push_str(&format!("?{}", query(&[("filters", f)])));
    }
    let v: Value = client.json(Method::POST, &path, None).await?;
    let deleted = v["ContainersDeleted"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for d in deleted {
            println!("{}", d.as_str().unwrap_or_default());
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(0)
}

fn ps_header(key: &str) -> String {
    match key {
        "ID" => "CONTAINER ID",
        "RunningFor" => "CREATED",
        "CreatedAt" => "CREATED AT",
        other => return other.to_uppercase(),
    }
    .into()
}

/// The fields `docker ps --format` knows.
fn ps_fields(c: &ContainerSummary, no_trunc: bool) -> Value {
    let now = chrono::Utc::now().timestamp();
    let command = format!(
        "\"{}\"",
        if no_trunc {
            c.command.clone()
        } else {
            ellipsis(&c.command, 20)
        }
    );
    let labels = c
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let created = chrono::DateTime::from_timestamp(c.created, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default();
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id[..12.min(c.id.len())].to_string() },
        "Image": c.image,
        "Command": command,
        "CreatedAt": created,
        "RunningFor": format!("{} ago", berth_api::human_duration(now - c.created)),
        "Ports": "",
        "State": c.state,
        "Status": c.status,
        "Size": "",
        "Names": c.names.iter().map(|n| n.trim_start_matches('/')).collect::<Vec<_>>().join(","),
        "Labels": labels,
        "Mounts": c.mounts.iter().map(|m| m.source.clone()).collect::<Vec<_>>().join(","),
        "Networks": c.host_config["NetworkMode"].as_str().unwrap_or("").to_string(),
        "LocalVolumes": "0",
    })
}

pub async fn ps(client: &Client, a: PsArgs) -> Result<i32> {
    let mut q = vec![(
        "all",
        ((a.all || a.last.is_some() || a.latest) as u8).to_string(),
    )];
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let limit = if a.latest { Some(1) } else { a.last };
    if let Some(n) = limit {
        q.push(("limit", n.to_string()));
    }
    let list: Vec<ContainerSummary> = client
        .json(
            Method::GET,
            &format!("/containers/json?{}", query(&q)),
            None,
        )
        .await?;
    if a.quiet {
        for c in &list {
            println!(
                "{}",
                if a.no_trunc {
                    &c.id[..]
                } else {
                    &c.id[..12.min(c.id.len())]
                }
            );
        }
        return Ok(0);
    }
    let items: Vec<Value> = list.iter().map(|c| ps_fields(c, a.no_trunc)).collect();
    print_items(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
        &items,
        &ps_header,
    )
    .map_err(CliError::Other)?;
    Ok(0)
}

pub async fn logs(client: &Client, a: LogsArgs) -> Result<i32> {
    let info = super::inspect_container(client, &a.container).await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("follow", (a.follow as u8).to_string()),
        ("timestamps", (a.timestamps as u8).to_string()),
        ("tail", a.tail.clone()),
    ];
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            q.push((k, parse_time(v)?));
        }
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/logs?{}", a.container, query(&q)),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut dec = FrameDecoder::default();
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if tty {
            let _ = stdout.lock().write_all(&data);
            continue;
        }
        dec.push(&data);
        while let Ok(Some((kind, payload))) = dec.next_frame() {
            let _ = if kind == StreamKind::Stderr {
                stderr.lock().write_all(&payload)
            } else {
                stdout.lock().write_all(&payload)
            };
        }
    }
    let _ = stdout.lock().flush();
    Ok(0)
}

/// `--since 10m`, `--since 2024-01-01T00:00:00Z`, or a unix timestamp.
pub(crate) fn parse_time(s: &str) -> Result<String> {
    if s.parse::<f64>().is_ok() {
        return Ok(s.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp().to_string());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| CliError::Other(format!("invalid time value: {s}")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(CliError::Other(format!("invalid time value: {s}"))),
    };
    Ok((chrono::Utc::now().timestamp() - secs).to_string())
}

pub async fn inspect(client: &Client, a: InspectArgs, default_kind: Option<&str>) -> Result<i32> {
    let kind = a.kind.as_deref().or(default_kind);
    let mut out = vec![];
    let mut failed = false;
    for n in &a.names {
        let container = if kind != Some("image") {
            client
                .json::<Value>(Method::GET, &format!("/containers/{n}/json"), None)
                .await
        } else {
            Err(CliError::Other(String::new()))
        };
        let found = match container {
            Ok(v) => Ok(v),
            Err(_) if kind != Some("container") => {
                client
                    .json::<Value>(Method::GET, &format!("/images/{n}/json"), None)
                    .await
            }
            Err(e) => Err(e),
        };
        match found {
            Ok(v) => out.push(v),
            Err(_) => {
                failed = true;
                eprintln!("Error: No such object: {n}");
            }
        }
    }
    match &a.format {
        Some(f) => {
            let t = Template::parse(f).map_err(CliError::Other)?;
            for v in &out {
                println!("{}", t.render(v).map_err(CliError::Other)?);
            }
        }
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&out, &mut ser)?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `port`: the published ports as `80/tcp -> 0.0.0.0:8080`, or the host addresses of
/// one of them.
pub async fn port(client: &Client, container: &str, private: Option<&str>) -> Result<i32> {
    let v: Value = client
        .json(Method::GET, &format!("/containers/{container}/json"), None)
        .await?;
    let wanted = private.map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    if let Some(ports) = v
        .pointer("/NetworkSettings/Ports")
        .and_then(|p| p.as_object())
    {
        for (key, bindings) in ports {
            if wanted.as_ref().is_some_and(|w| w != key) {
                continue;
            }
            for b in bindings.as_array().into_iter().flatten() {
                let ip = b.get("HostIp").and_then(|x| x.as_str()).unwrap_or("");
                let port = b.get("HostPort").and_then(|x| x.as_str()).unwrap_or("");
                found = true;
                match &wanted {
                    Some(_) => println!("{ip}:{port}"),
                    None => println!("{key} -> {ip}:{port}"),
                }
            }
        }
    }
    match (wanted, found) {
        (Some(w), false) => Err(CliError::Other(format!(
            "No public port '{w}' published for {container}"
        ))),
        _ => Ok(0),
    }
}

pub async fn top(client: &Client, a: TopArgs) -> Result<i32> {
    let q = query(&[("ps_args", a.ps_args.join(" "))]);
    let v: berth_api::container::TopResponse = client
        .json(
            Method::GET,
            &format!("/containers/{}/top?{q}", a.container),
            None,
        )
        .await?;
    let mut rows = vec![v.titles.join("\t")];
    rows.extend(v.processes.iter().map(|p| p.join("\t")));
    print!("{}", tabulate(&rows));
    Ok(0)
}

/// `berth update`: the same body the docker CLI sends (`Resources` and `RestartPolicy`).
pub async fn update(client: &Client, a: crate::cli::UpdateArgs) -> Result<i32> {
    let ram = |flag: &str, v: &Option<String>| -> Result<i64> {
        match v.as_deref() {
            None => Ok(0),
            Some("-1") => Ok(-1),
            Some(s) => crate::units::parse_ram(s).map_err(|e| {
                CliError::Other(format!("invalid argument {s:?} for \"{flag}\" flag: {e}"))
            }),
        }
    };
    let mut body = serde_json::json!({
        "CpuShares": a.cpu_shares.unwrap_or(0),
        "Memory": ram("--memory", &a.memory)?,
        "MemorySwap": ram("--memory-swap", &a.memory_swap)?,
        "NanoCpus": a.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        "CpuPeriod": a.cpu_period.unwrap_or(0),
        "CpuQuota": a.cpu_quota.unwrap_or(0),
        "CpusetCpus": a.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": a.cpuset_mems.clone().unwrap_or_default(),
    });
    if let Some(p) = a.pids_limit {
        body["PidsLimit"] = p.into();
    }
    if let Some(r) = &a.restart {
        let (name, count) = r.split_once(':').unwrap_or((r.as_str(), "0"));
        let count: i64 = count
            .parse()
            .map_err(|_| CliError::Other(format!("invalid restart policy {r:?}")))?;
        body["RestartPolicy"] = serde_json::json!({"Name": name, "MaximumRetryCount": count});
    }
    let mut failed = false;
    for name in &a.containers {
        match client
            .request(
                Method::POST,
                &format!("/containers/{name}/update"),
                Some(body.clone()),
            )
            .await
        {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
