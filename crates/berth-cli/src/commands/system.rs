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
