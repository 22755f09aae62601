use crate::cli::FormatArgs;
use crate::client::{CliError, Client, Result};
use crate::format::Template;
use http::Method;
use serde_json::Value;

pub async fn version(client: &Client, a: FormatArgs) -> Result<i32> {
    let server: std::result::Result<Value, CliError> =
        client.json(Method::GET, "/version", None).await;
    let data = serde_json::json!({
        "Client": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": berth_api::API_VERSION, "Os": "linux", "Arch": "amd64"},
        "Server": server.as_ref().ok(),
    });
    if let Some(f) = a.format {
        println!(
            "{}",
            Template::parse(&f)
                .map_err(CliError::Other)?
                .render(&data)
                .map_err(CliError::Other)?
        );
        return server.map(|_| 0);
    }
    println!(
        "Client:\n Version:\t{}\n API version:\t{}\n OS/Arch:\tlinux/amd64\n",
        env!("CARGO_PKG_VERSION"),
        berth_api::API_VERSION
    );
    let s = server?;
    println!(
        "Server: berth\n Engine:\n  Version:\t{}\n  API version:\t{} (minimum version {})\n  OS/Arch:\t{}/{}\n  Kernel:\t{}",
        s["Version"].as_str().unwrap_or(""),
        s["ApiVersion"].as_str().unwrap_or(""),
        s["MinAPIVersion"].as_str().unwrap_or(""),
        s["Os"].as_str().unwrap_or(""),
        s["Arch"].as_str().unwrap_or(""),
        s["KernelVersion"].as_str().unwrap_or("")
    );
    Ok(0)
}

pub async fn info(client: &Client, a: FormatArgs) -> Result<i32> {
    let v: Value = client.json(Method::GET, "/info", None).await?;
    if let Some(f) = a.format {
        println!(
            "{}",
            Template::parse(&f)
                .map_err(CliError::Other)?
                .render(&v)
                .map_err(CliError::Other)?
        );
        return Ok(0);
    }
    let g = |k: &str| v[k].to_string().trim_matches('"').to_string();
    println!("Server:");
    for (label, key) in [
        ("Containers", "Containers"),
        (" Running", "ContainersRunning"),
        (" Paused", "ContainersPaused"),
        (" Stopped", "ContainersStopped"),
        ("Images", "Images"),
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
        ("Total Memory", "MemTotal"),
        ("Name", "Name"),
        ("Docker Root Dir", "DockerRootDir"),
        ("Live Restore Enabled", "LiveRestoreEnabled"),
    ] {
        println!(" {label}: {}", g(key));
    }
    Ok(0)
}

pub async fn login(client: &Client, a: crate::cli::LoginArgs) -> Result<i32> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let username = a.username.clone().ok_or_else(|| {
        CliError::Other(
            "Error: Cannot perform an interactive login from a non TTY device: give --username"
                .into(),
        )
    })?;
    let password = match (a.password.clone(), a.password_stdin) {
        (Some(_), true) => {
            return Err(CliError::Other(
                "--password and --password-stdin are mutually exclusive".into(),
            ))
        }
        (Some(p), false) => p,
        (None, true) => {
            let mut p = String::new();
            std::io::stdin().read_line(&mut p)?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err(CliError::Other(
                "Error: a password is required: give --password or --password-stdin".into(),
            ))
        }
    };
    let body = serde_json::json!({"username": username, "password": password, "serveraddress": crate::credentials::server_key(&server)});
    client.call(Method::POST, "/auth", Some(body)).await?;
    crate::credentials::store(&server, &username, &password)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(server: Option<&str>) -> Result<i32> {
    let server = server.unwrap_or("docker.io");
    let key = crate::credentials::server_key(server);
    if crate::credentials::erase(server)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

/// `berth events`: the daemon's events as they happen, one a line, in docker's layout
/// (`2024-01-02T03:04:05.000000006Z container start <id> (image=…, name=…)`).
pub async fn events(client: &Client, a: crate::cli::EventsArgs) -> Result<i32> {
    use http_body_util::BodyExt;
    let mut q = vec![];
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            q.push((k, super::containers::parse_time(v)?));
        }
    }
    if let Some(f) = super::filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}").map_err(CliError::Other)?),
        Some(f) => Some(Template::parse(f).map_err(CliError::Other)?),
    };
    let resp = client
        .request(
            Method::GET,
            &format!("/events?{}", crate::client::query(&q)),
            None,
        )
        .await?;
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = vec![];
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let text = match &template {
                Some(t) => t.render(&ev).map_err(CliError::Other)?,
                None => event_line(&ev),
            };
            println!("{text}");
        }
    }
    Ok(0)
}

fn event_line(ev: &Value) -> String {
    let nanos = ev["timeNano"].as_i64().unwrap_or(0);
    let time = chrono::DateTime::from_timestamp(
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string())
    .unwrap_or_default();
    let attrs: Vec<String> = ev["Actor"]["Attributes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let mut line = format!(
        "{time} {} {} {}",
        ev["Type"].as_str().unwrap_or(""),
        ev["Action"].as_str().unwrap_or(""),
        ev["Actor"]["ID"].as_str().unwrap_or("")
    );
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}
