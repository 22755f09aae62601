//! `network` and `volume`: the objects beside containers, through the same API the
//! docker CLI uses.

use super::{filters_json, for_each};
use crate::cli::{NetworkCommand, VolumeCommand};
use crate::client::{query, CliError, Client, Result};
use crate::format::{print_items, Template};
use http::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn key_values(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| {
            i.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    CliError::Other(format!(
                        "invalid argument \"{i}\" for \"{flag}\" flag: want key=value"
                    ))
                })
        })
        .collect()
}

/// Prints each object as JSON, or through `--format`.
async fn inspect(
    client: &Client,
    kind: &str,
    names: &[String],
    format: Option<&str>,
) -> Result<i32> {
    let mut out = vec![];
    let mut failed = false;
    for n in names {
        match client
            .json::<Value>(Method::GET, &format!("/{kind}/{n}"), None)
            .await
        {
            Ok(v) => out.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    match format {
        Some(f) => {
            let t = Template::parse(f).map_err(CliError::Other)?;
            for v in &out {
                println!("{}", t.render(v).map_err(CliError::Other)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(if failed { 1 } else { 0 })
}

fn header(key: &str) -> String {
    match key {
        "ID" => "NETWORK ID".into(),
        "Name" => "NAME".into(),
        other => other.to_uppercase(),
    }
}

pub async fn network(client: &Client, cmd: NetworkCommand) -> Result<i32> {
    match cmd {
        NetworkCommand::Ls {
            quiet,
            filter,
            format,
        } => {
            let mut path = "/networks".to_string();
            if let Some(f) = filters_json(&filter)? {
                path.push_str(&format!("?{}", query(&[("filters", f)])));
            }
            let list: Vec<Value> = client.json(Method::GET, &path, None).await?;
            let items: Vec<Value> = list
                .iter()
                .map(|n| {
                    let id = n["Id"].as_str().unwrap_or("");
                    json!({"ID": &id[..id.len().min(12)], "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"]})
                })
                .collect();
            if quiet {
                for i in &items {
                    println!("{}", i["ID"].as_str().unwrap_or(""));
                }
                return Ok(0);
            }
            print_items(
                format.as_deref(),
                "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
                &items,
                &header,
            )
            .map_err(CliError::Other)?;
            Ok(0)
        }
        NetworkCommand::Create(a) => {
            // One pool per subnet, with the gateway and range of its address family, as
            // the docker CLI pairs them.
            let v6 = |s: &String| s.contains(':');
            let mut pools = vec![];
            for subnet in &a.subnet {
                let pick = |list: &[String]| {
                    list.iter()
                        .find(|x| v6(x) == v6(subnet))
                        .cloned()
                        .unwrap_or_default()
                };
                pools.push(json!({"Subnet": subnet, "Gateway": pick(&a.gateway), "IPRange": pick(&a.ip_range)}));
            }
            if let Some(orphan) = a
                .gateway
                .iter()
                .chain(&a.ip_range)
                .find(|x| !a.subnet.iter().any(|s| v6(s) == v6(x)))
            {
                return Err(CliError::Other(format!(
                    "every ip-range or gateway must have a corresponding subnet ({orphan})"
                )));
            }
            let body = json!({
                "Name": a.name,
                "Driver": a.driver.unwrap_or_else(|| "bridge".into()),
                "Internal": a.internal,
                "EnableIPv6": a.ipv6,
                "Attachable": a.attachable,
                "Labels": key_values("--label", &a.label)?,
                "Options": key_values("--opt", &a.opt)?,
                "IPAM": {"Driver": "default", "Config": pools},
            });
            let r: Value = client
                .json(Method::POST, "/networks/create", Some(body))
                .await?;
            println!("{}", r["Id"].as_str().unwrap_or(""));
            Ok(0)
        }
        NetworkCommand::Inspect { format, names } => {
            inspect(client, "networks", &names, format.as_deref()).await
        }
        NetworkCommand::Rm { names } => {
            for_each(&names, |n| async move {
                client
                    .call(Method::DELETE, &format!("/networks/{n}"), None)
                    .await?;
                Ok(Some(n))
            })
            .await
        }
        NetworkCommand::Prune { .. } => {
            let r: Value = client.json(Method::POST, "/networks/prune", None).await?;
            let deleted = r["NetworksDeleted"].as_array().cloned().unwrap_or_default();
            if !deleted.is_empty() {
                println!("Deleted Networks:");
                for d in deleted {
                    println!("{}", d.as_str().unwrap_or(""));
                }
            }
            Ok(0)
        }
        NetworkCommand::Connect {
            alias,
            ip,
            ip6,
            network,
            container,
        } => {
            let mut endpoint = json!({"Aliases": alias});
            if ip.is_some() || ip6.is_some() {
                endpoint["IPAMConfig"] = json!({
                    "IPv4Address": ip.unwrap_or_default(),
                    "IPv6Address": ip6.unwrap_or_default(),
                });
            }
            client
                .call(
                    Method::POST,
                    &format!("/networks/{network}/connect"),
                    Some(json!({"Container": container, "EndpointConfig": endpoint})),
                )
                .await?;
            Ok(0)
        }
        NetworkCommand::Disconnect {
            force,
            network,
            container,
        } => {
            client
                .call(
                    Method::POST,
                    &format!("/networks/{network}/disconnect"),
                    Some(json!({"Container": container, "Force": force})),
                )
                .await?;
            Ok(0)
        }
    }
}

pub async fn volume(client: &Client, cmd: VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Ls {
            quiet,
            filter,
            format,
        } => {
            let mut path = "/volumes".to_string();
            if let Some(f) = filters_json(&filter)? {
                path.push_str(&format!("?{}", query(&[("filters", f)])));
            }
            let r: Value = client.json(Method::GET, &path, None).await?;
            let list = r["Volumes"].as_array().cloned().unwrap_or_default();
            if quiet {
                for v in &list {
                    println!("{}", v["Name"].as_str().unwrap_or(""));
                }
                return Ok(0);
            }
            print_items(
                format.as_deref(),
                "table {{.Driver}}\t{{.Name}}",
                &list,
                &|k: &str| {
                    if k == "Name" {
                        "VOLUME NAME".into()
                    } else {
                        k.to_uppercase()
                    }
                },
            )
            .map_err(CliError::Other)?;
            Ok(0)
        }
        VolumeCommand::Create {
            driver,
            label,
            opt,
            name,
        } => {
            let body = json!({
                "Name": name.unwrap_or_default(),
                "Driver": driver.unwrap_or_else(|| "local".into()),
                "DriverOpts": key_values("--opt", &opt)?,
                "Labels": key_values("--label", &label)?,
            });
            let r: Value = client
                .json(Method::POST, "/volumes/create", Some(body))
                .await?;
            println!("{}", r["Name"].as_str().unwrap_or(""));
            Ok(0)
        }
        VolumeCommand::Inspect { format, names } => {
            inspect(client, "volumes", &names, format.as_deref()).await
        }
        VolumeCommand::Rm { force, names } => {
            for_each(&names, |n| async move {
                client
                    .call(
                        Method::DELETE,
                        &format!("/volumes/{n}?force={}", force as u8),
                        None,
                    )
                    .await?;
                Ok(Some(n))
            })
            .await
        }
        VolumeCommand::Prune { all, .. } => {
            let mut path = "/volumes/prune".to_string();
            if all {
                path.push_str(&format!(
                    "?{}",
                    query(&[("filters", r#"{"all":["true"]}"#.to_string())])
                ));
            }
            let r: Value = client.json(Method::POST, &path, None).await?;
            let deleted = r["VolumesDeleted"].as_array().cloned().unwrap_or_default();
            if !deleted.is_empty() {
                println!("Deleted Volumes:");
                for d in deleted {
                    println!("{}", d.as_str().unwrap_or(""));
                }
            }
            println!(
                "\nTotal reclaimed space: {}",
                crate::units::human_size(r["SpaceReclaimed"].as_i64().unwrap_or(0))
            );
            Ok(0)
        }
    }
}
