//! `berth stats`: each container's use, worked out from the stats API as the docker
//! CLI works it out (CPU % from the change since the previous sample, memory without
//! the inactive page cache).

use crate::cli::StatsArgs;
use crate::client::{query, CliError, Client, Result};
use crate::format::{print_items, Template};
use crate::units::human_size;
use http::Method;
use serde_json::{json, Value};

const DEFAULT_FORMAT: &str = "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}";

/// Binary units, as the docker CLI shows memory (`468KiB`, `23.54GiB`).
fn binary_size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut s = n as f64;
    let mut i = 0;
    while s >= 1024.0 && i < units.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    let mut out = format!("{s:.2}");
    out = out.trim_end_matches('0').trim_end_matches('.').to_string();
    format!("{out}{}", units[i])
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// One row's fields from one stats sample.
pub fn row(s: &Value, no_trunc: bool) -> Value {
    let id = s["id"].as_str().unwrap_or("");
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta =
        u(&cpu["cpu_usage"]["total_usage"]) as f64 - u(&pre["cpu_usage"]["total_usage"]) as f64;
    let system_delta = u(&cpu["system_cpu_usage"]) as f64 - u(&pre["system_cpu_usage"]) as f64;
    let cpus = match u(&cpu["online_cpus"]) {
        0 => cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, |a| a.len()) as f64,
        n => n as f64,
    };
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let stats = &mem["stats"];
    let inactive = stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .map_or(0, u);
    let usage = u(&mem["usage"]).saturating_sub(inactive);
    let limit = u(&mem["limit"]);
    let mem_percent = if limit > 0 {
        usage as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0, 0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, n)| n)
    {
        rx += u(&n["rx_bytes"]);
        tx += u(&n["tx_bytes"]);
    }
    let (mut read, mut write) = (0, 0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += u(&e["value"]),
            Some("write") => write += u(&e["value"]),
            _ => {}
        }
    }
    let running = s["read"].as_str().is_some() && !cpu["system_cpu_usage"].is_null();
    let dash = |v: String| if running { v } else { "--".to_string() };
    json!({
        "ID": if no_trunc { id.to_string() } else { id.chars().take(12).collect() },
        "Container": if no_trunc { id.to_string() } else { id.chars().take(12).collect() },
        "Name": s["name"].as_str().unwrap_or("").trim_start_matches('/'),
        "CPUPerc": dash(format!("{cpu_percent:.2}%")),
        "MemUsage": dash(format!("{} / {}", binary_size(usage), binary_size(limit))),
        "MemPerc": dash(format!("{mem_percent:.2}%")),
        "NetIO": dash(format!("{} / {}", human_size(rx as i64), human_size(tx as i64))),
        "BlockIO": dash(format!("{} / {}", human_size(read as i64), human_size(write as i64))),
        "PIDs": if running { u(&s["pids_stats"]["current"]).to_string() } else { "0".into() },
    })
}

fn header(key: &str) -> String {
    match key {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => other,
    }
    .to_string()
}

async fn sample(client: &Client, id: &str) -> Option<Value> {
    client
        .json(
            Method::GET,
            &format!(
                "/containers/{id}/stats?{}",
                query(&[("stream", "0".into())])
            ),
            None,
        )
        .await
        .ok()
}

pub async fn stats(client: &Client, a: StatsArgs) -> Result<i32> {
    let names: Vec<String> = if a.containers.is_empty() {
        let list: Vec<Value> = client
            .json(
                Method::GET,
                &format!(
                    "/containers/json?{}",
                    query(&[("all", (a.all as u8).to_string())])
                ),
                None,
            )
            .await?;
        list.iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect()
    } else {
        // Named ones must exist.
        for n in &a.containers {
            let _: Value = client
                .json(Method::GET, &format!("/containers/{n}/json"), None)
                .await?;
        }
        a.containers.clone()
    };
    let format = match a.format.as_deref() {
        None | Some("") | Some("table") => DEFAULT_FORMAT.to_string(),
        Some(f) => f.to_string(),
    };
    Template::parse(&format).map_err(CliError::Other)?;
    loop {
        // Each sample takes a second (so that CPU use can be worked out): all at once.
        let samples = futures_join(client, &names).await;
        let rows: Vec<Value> = samples.iter().map(|s| row(s, a.no_trunc)).collect();
        if !a.no_stream {
            // Clear the screen and go home, as the docker CLI redraws.
            print!("\x1b[2J\x1b[H");
        }
        print_items(Some(&format), DEFAULT_FORMAT, &rows, &header).map_err(CliError::Other)?;
        if a.no_stream || names.is_empty() {
            return Ok(0);
        }
    }
}

async fn futures_join(client: &Client, names: &[String]) -> Vec<Value> {
    let tasks: Vec<_> = names
        .iter()
        .map(|n| {
            let c = client.clone();
            let n = n.clone();
            tokio::spawn(async move { sample(&c, &n).await })
        })
        .collect();
    let mut out = vec![];
    for t in tasks {
        if let Ok(Some(v)) = t.await {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_as_the_docker_cli_works_it_out() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web", "read": "2024-01-01T00:00:01Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 18_000_000_000u64},
            "memory_stats": {"usage": 2 * 1048576 + 4096, "limit": 64 * 1048576, "stats": {"inactive_file": 4096}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 20}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096}, {"op": "write", "value": 0}]},
            "pids_stats": {"current": 3},
        });
        let r = row(&s, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "100.00%");
        assert_eq!(r["MemUsage"], "2MiB / 64MiB");
        assert_eq!(r["MemPerc"], "3.12%");
        assert_eq!(r["NetIO"], "1.5kB / 20B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
