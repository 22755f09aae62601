//! CNI, as its spec says: a network is a config list in the conf dir; each plugin is a
//! binary in a bin dir, run with the command in its environment and its config (with the
//! result of the plugin before it) on stdin; it answers a result or an error in JSON.

use crate::error::NetError;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// A CNI network: the first config list in the conf dir, as Kubernetes runtimes pick it.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub cni_version: String,
    /// The plugins in order, each its own config object.
    pub plugins: Vec<Map<String, Value>>,
    /// The file it came from.
    pub source: PathBuf,
}

/// Where the plugins are and who is asking.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub bin_dirs: &'a [PathBuf],
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
    /// `CNI_ARGS`: `K8S_POD_NAMESPACE=...;K8S_POD_NAME=...`.
    pub args: &'a [(String, String)],
    /// Runtime config for the capabilities a plugin declares (`portMappings`, ...).
    pub capabilities: &'a Map<String, Value>,
}

fn invalid(e: impl std::fmt::Display) -> NetError {
    NetError::Invalid(e.to_string())
}

impl Network {
    /// Reads the first valid network of the conf dir (`*.conflist`, `*.conf`, `*.json`,
    /// in name order); None when the dir has none.
    pub fn load_default(conf_dir: &Path) -> Result<Option<Self>, NetError> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(conf_dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("conflist" | "conf" | "json")
                    )
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NetError::sys(format!("reading {}", conf_dir.display()), e)),
        };
        files.sort();
        let mut last_error = None;
        for f in files {
            match Self::load(&f) {
                Ok(n) => return Ok(Some(n)),
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// One config file: a list (`plugins`), or a single plugin's config.
    pub fn load(path: &Path) -> Result<Self, NetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NetError::sys(format!("reading {}", path.display()), e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("{}: not valid JSON: {e}", path.display())))?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(format!("{}: not a JSON object", path.display())))?;
        let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let name = field("name")
            .ok_or_else(|| invalid(format!("{}: the network has no name", path.display())))?;
        let cni_version = field("cniVersion").unwrap_or_else(|| "0.4.0".into());
        let plugins: Vec<Map<String, Value>> = match obj.get("plugins") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|p| {
                    p.as_object().cloned().ok_or_else(|| {
                        invalid(format!("{}: a plugin is not an object", path.display()))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(format!(
                    "{}: plugins is not a list",
                    path.display()
                )))
            }
            None => vec![obj.clone()],
        };
        if plugins.is_empty() {
            return Err(invalid(format!(
                "{}: the list has no plugins",
                path.display()
            )));
        }
        for p in &plugins {
            if p.get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(invalid(format!("{}: a plugin has no type", path.display())));
            }
        }
        Ok(Self {
            name,
            cni_version,
            plugins,
            source: path.to_path_buf(),
        })
    }

    /// A network of one plugin (`loopback` for `lo`).
    pub fn single(name: &str, plugin_type: &str) -> Self {
        let mut p = Map::new();
        p.insert("type".into(), plugin_type.into());
        Self {
            name: name.into(),
            cni_version: "1.0.0".into(),
            plugins: vec![p],
            source: PathBuf::new(),
        }
    }

    /// ADD through every plugin in order; the last one's result is the network's.
    pub async fn add(&self, inv: &Invocation<'_>) -> Result<Value, NetError> {
        let mut prev: Option<Value> = None;
        for p in &self.plugins {
            let out = self.exec(p, "ADD", inv, prev.as_ref()).await?;
            prev = Some(out);
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    /// DEL through every plugin in reverse order, with the ADD's result.
    pub async fn del(&self, inv: &Invocation<'_>, result: Option<&Value>) -> Result<(), NetError> {
        let mut first_error = None;
        for p in self.plugins.iter().rev() {
            // Every plugin gets its DEL, even after one failed, so nothing is left.
            if let Err(e) = self.exec(p, "DEL", inv, result).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn stdin_for(
        &self,
        plugin: &Map<String, Value>,
        prev: Option<&Value>,
        caps: &Map<String, Value>,
    ) -> Value {
        let mut conf = plugin.clone();
        conf.insert("name".into(), self.name.clone().into());
        conf.insert("cniVersion".into(), self.cni_version.clone().into());
        if let Some(prev) = prev.filter(|p| !p.is_null()) {
            conf.insert("prevResult".into(), prev.clone());
        }
        // Only the capabilities the plugin declares reach it, under runtimeConfig.
        let declared = plugin.get("capabilities").and_then(Value::as_object);
        let runtime: Map<String, Value> = caps
            .iter()
            .filter(|(k, _)| declared.is_some_and(|d| d.get(*k) == Some(&Value::Bool(true))))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !runtime.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(runtime));
        }
        Value::Object(conf)
    }

    async fn exec(
        &self,
        plugin: &Map<String, Value>,
        command: &str,
        inv: &Invocation<'_>,
        prev: Option<&Value>,
    ) -> Result<Value, NetError> {
        let kind = plugin.get("type").and_then(Value::as_str).unwrap_or("");
        if kind.contains('/') {
            return Err(invalid(format!(
                "CNI plugin type {kind:?} is not a plugin name"
            )));
        }
        let binary = inv
            .bin_dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                invalid(format!(
                    "failed to find plugin {kind:?} in path {:?}",
                    inv.bin_dirs
                ))
            })?;
        let stdin =
            serde_json::to_vec(&self.stdin_for(plugin, prev, inv.capabilities)).map_err(invalid)?;
        let path = std::env::join_paths(inv.bin_dirs).map_err(invalid)?;
        let args = inv
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once("IgnoreUnknown=1".to_string()))
            .collect::<Vec<_>>()
            .join(";");
        let mut child = tokio::process::Command::new(&binary)
            .env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", inv.container_id)
            .env("CNI_NETNS", inv.netns)
            .env("CNI_IFNAME", inv.ifname)
            .env("CNI_PATH", path)
            .env("CNI_ARGS", args)
            // Plugins run iptables and ip; they find them on the daemon's PATH.
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| NetError::sys(format!("running CNI plugin {}", binary.display()), e))?;
        if let Some(mut w) = child.stdin.take() {
            w.write_all(&stdin)
                .await
                .map_err(|e| NetError::sys(format!("CNI plugin {kind} stdin"), e))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| NetError::sys(format!("CNI plugin {kind}"), e))?;
        if !out.status.success() {
            // The spec's error object on stdout; stderr when the plugin wrote none.
            let msg = serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .and_then(|v| {
                    let m = v.get("msg")?.as_str()?.to_string();
                    Some(match v.get("details").and_then(Value::as_str) {
                        Some(d) if !d.is_empty() => format!("{m}: {d}"),
                        _ => m,
                    })
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
            return Err(invalid(format!(
                "plugin type={kind:?} name={:?} failed ({}): {msg}",
                self.name,
                command.to_lowercase()
            )));
        }
        if command == "DEL" || out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| invalid(format!("CNI plugin {kind} answered no valid JSON: {e}")))
    }
}

/// The addresses a result gives the pod (`ips[].address`, `10.1.0.5/24`), without the
/// prefix length.
pub fn result_addresses(result: &Value) -> Vec<String> {
    result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.get("address")?.as_str())
        .map(|a| a.split('/').next().unwrap_or(a).to_string())
        .collect()
}

/// `portMappings` as CNI's portmap plugin takes them.
pub fn port_mappings(ports: &[(u16, u16, &str, &str)]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|(host, container, proto, host_ip)| {
                let mut m =
                    json!({"hostPort": host, "containerPort": container, "protocol": proto});
                if !host_ip.is_empty() {
                    m["hostIP"] = Value::String(host_ip.to_string());
                }
                m
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_valid_file_in_name_order_is_the_network() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("20-b.conflist"), r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#).unwrap();
        std::fs::write(
            dir.path().join("10-a.conf"),
            r#"{"cniVersion":"0.4.0","name":"a","type":"bridge"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("05-notes.txt"), "not a network").unwrap();
        let n = Network::load_default(dir.path()).unwrap().unwrap();
        assert_eq!((n.name.as_str(), n.plugins.len()), ("a", 1));
        std::fs::remove_file(dir.path().join("10-a.conf")).unwrap();
        let n = Network::load_default(dir.path()).unwrap().unwrap();
        assert_eq!((n.name.as_str(), n.plugins.len()), ("b", 2));
        // Capabilities reach only the plugin that declares them.
        let mut caps = Map::new();
        caps.insert(
            "portMappings".into(),
            port_mappings(&[(8080, 80, "tcp", "")]),
        );
        let bridge = n.stdin_for(&n.plugins[0], None, &caps);
        assert!(bridge.get("runtimeConfig").is_none());
        let prev = json!({"ips": [{"address": "10.9.0.2/24"}]});
        let portmap = n.stdin_for(&n.plugins[1], Some(&prev), &caps);
        assert_eq!(
            portmap["runtimeConfig"]["portMappings"][0]["hostPort"],
            8080
        );
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(portmap["name"], "b");
        assert_eq!(result_addresses(&prev), ["10.9.0.2"]);
    }

    #[test]
    fn bad_files_are_errors_that_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("10-x.conflist");
        std::fs::write(&f, r#"{"name":"x","plugins":[{"notype":1}]}"#).unwrap();
        let e = Network::load_default(dir.path()).unwrap_err().to_string();
        assert!(e.contains("10-x.conflist") && e.contains("no type"), "{e}");
        std::fs::write(&f, "{").unwrap();
        assert!(Network::load(&f)
            .unwrap_err()
            .to_string()
            .contains("not valid JSON"));
        assert!(Network::load_default(&dir.path().join("missing"))
            .unwrap()
            .is_none());
    }
}
