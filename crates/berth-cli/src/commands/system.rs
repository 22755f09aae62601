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
