//! The daemon's configuration file, in Docker's `daemon.json` keys
//! (`/etc/berth/daemon.json`, or `--config-file`): each key sets the flag of that name;
//! a key no flag has, a value of the wrong type, or a setting given both as a flag and
//! in the file stops the daemon at start, as dockerd does.

use crate::cli::DaemonArgs;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/berth/daemon.json";

/// daemon.json keys Docker has and berth does not: refused by name, never ignored.
const NOT_SUPPORTED: &[&str] = &[
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "storage-driver",
    "storage-opts",
    "userns-remap",
    "icc",
    "iptables",
    "ipv6",
    "default-address-pools",
    "features",
    "experimental",
    "debug",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "shutdown-timeout",
    "default-shm-size",
    "seccomp-profile",
    "selinux-enabled",
    "userland-proxy",
    "exec-opts",
    "labels",
];

fn string(key: &str, v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{key}: expected a string, got {v}"))
}

fn boolean(key: &str, v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{key}: expected true or false, got {v}"))
}

fn strings(key: &str, v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("{key}: expected a list of strings, got {v}"))?
        .iter()
        .map(|x| string(key, x))
        .collect()
}

/// Reads the file (`explicit`: named by `--config-file`, so it must exist) and applies
/// it to `a`; `from_flag(id)` says whether the flag with that argument id was given.
pub fn apply(
    a: &mut DaemonArgs,
    path: &Path,
    explicit: bool,
    from_flag: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(()),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{}: expected a JSON object", path.display()))?;
    apply_object(a, obj, from_flag).map_err(|e| format!("{}: {e}", path.display()))
}

fn apply_object(
    a: &mut DaemonArgs,
    obj: &Map<String, Value>,
    from_flag: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| arg_id(k).is_none() && !matches!(*k, "log-driver" | "live-restore"))
        .filter(|k| !NOT_SUPPORTED.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        ));
    }
    if let Some(k) = obj.keys().find(|k| NOT_SUPPORTED.contains(&k.as_str())) {
        return Err(format!("{k} is not supported by berth"));
    }
    let both: Vec<String> = obj
        .keys()
        .filter(|k| arg_id(k).is_some_and(from_flag))
        .map(|k| format!("{k} (from flag and from file: {})", obj[k]))
        .collect();
    if !both.is_empty() {
        return Err(format!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            both.join(", ")
        ));
    }
    for (k, v) in obj {
        match k.as_str() {
            "data-root" => a.data_root = PathBuf::from(string(k, v)?),
            "exec-root" => a.exec_root = PathBuf::from(string(k, v)?),
            "hosts" => a.hosts = strings(k, v)?,
            "pidfile" => a.pidfile = Some(PathBuf::from(string(k, v)?)),
            "log-level" => a.log_level = string(k, v)?,
            "cgroup-parent" => a.cgroup_parent = string(k, v)?,
            "insecure-registries" => a.insecure_registries = strings(k, v)?,
            "bridge" => a.bridge = string(k, v)?,
            "bip" => a.bip = string(k, v)?,
            "fixed-cidr" => a.fixed_cidr = Some(string(k, v)?),
            "mtu" => {
                a.mtu = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{k}: expected a number, got {v}"))?
            }
            "ip-forward" => a.ip_forward = boolean(k, v)?,
            "cri" => a.cri = boolean(k, v)?,
            "cri-socket" => a.cri_socket = PathBuf::from(string(k, v)?),
            "nri-socket" => a.nri_socket = Some(PathBuf::from(string(k, v)?)),
            "cri-stream-address" => {
                let addr = string(k, v)?;
                a.cri_stream_address = addr
                    .parse()
                    .map_err(|e| format!("{k}: {addr:?} is not an address:port ({e})"))?
            }
            "cni-conf-dir" => a.cni_conf_dir = PathBuf::from(string(k, v)?),
            "cni-bin-dirs" => {
                a.cni_bin_dirs = strings(k, v)?.into_iter().map(PathBuf::from).collect()
            }
            "ip-masq" => a.ip_masq = boolean(k, v)?,
            "no-new-privileges" => a.no_new_privileges = boolean(k, v)?,
            "log-opts" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| format!("{k}: expected an object, got {v}"))?;
                a.log_opts = o
                    .iter()
                    .map(|(ok, ov)| Ok(format!("{ok}={}", string(k, ov)?)))
                    .collect::<Result<_, String>>()?;
            }
            "log-driver" => {
                if string(k, v)? != "json-file" {
                    return Err(format!(
                        "{k}: berth's default log driver is json-file (containers choose local or none with --log-driver)"
                    ));
                }
            }
            // berth never stops containers with the daemon: live restore is how it works.
            "live-restore" => {
                if !boolean(k, v)? {
                    return Err(format!(
                        "{k}: berth always keeps containers running across daemon restarts; it cannot be false"
                    ));
                }
            }
            "tls" => a.tls = Some(boolean(k, v)?),
            "tlsverify" => a.tlsverify = boolean(k, v)?,
            "tlscacert" => a.tlscacert = Some(PathBuf::from(string(k, v)?)),
            "tlscert" => a.tlscert = Some(PathBuf::from(string(k, v)?)),
            "tlskey" => a.tlskey = Some(PathBuf::from(string(k, v)?)),
            "runtimes" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| format!("{k}: expected an object, got {v}"))?;
                for (name, r) in o {
                    let r = r
                        .as_object()
                        .ok_or_else(|| format!("{k}.{name}: expected an object, got {r}"))?;
                    if let Some(bad) = r
                        .keys()
                        .find(|f| !matches!(f.as_str(), "path" | "runtimeArgs"))
                    {
                        return Err(format!(
                            "{k}.{name}.{bad}: berth runs runtimes by path, with runtimeArgs"
                        ));
                    }
                    let path = r
                        .get("path")
                        .ok_or_else(|| format!("{k}.{name}: a path is required"))
                        .and_then(|p| string(k, p))?;
                    if let Some(args) = r.get("runtimeArgs") {
                        a.runtime_args.insert(name.clone(), strings(k, args)?);
                    }
                    a.add_runtimes.push(format!("{name}={path}"));
                }
            }
            "default-runtime" => a.default_runtime = string(k, v)?,
            // A list (Docker Hub's mirrors, as dockerd) or, beyond dockerd, an object of
            // registry → mirrors.
            "registry-mirrors" => {
                if let Some(by_registry) = v.as_object() {
                    for (registry, urls) in by_registry {
                        for url in strings(k, urls)? {
                            a.registry_mirrors.push(format!("{registry}={url}"));
                        }
                    }
                } else {
                    a.registry_mirrors = strings(k, v)?;
                }
            }
            "warm-shims" => {
                a.warm_shims = v
                    .as_u64()
                    .ok_or_else(|| format!("{k}: expected a number, got {v}"))?
                    as usize
            }
            _ => return Err(format!("{k} is not supported by berth")),
        }
    }
    Ok(())
}

/// The clap argument id of a daemon.json key (its flag's field).
fn arg_id(key: &str) -> Option<&'static str> {
    Some(match key {
        "data-root" => "data_root",
        "exec-root" => "exec_root",
        "hosts" => "hosts",
        "pidfile" => "pidfile",
        "log-level" => "log_level",
        "cgroup-parent" => "cgroup_parent",
        "insecure-registries" => "insecure_registries",
        "bridge" => "bridge",
        "bip" => "bip",
        "fixed-cidr" => "fixed_cidr",
        "mtu" => "mtu",
        "ip-forward" => "ip_forward",
        "ip-masq" => "ip_masq",
        "no-new-privileges" => "no_new_privileges",
        "log-opts" => "log_opts",
        "tls" => "tls",
        "tlsverify" => "tlsverify",
        "tlscacert" => "tlscacert",
        "tlscert" => "tlscert",
        "tlskey" => "tlskey",
        "warm-shims" => "warm_shims",
        "runtimes" => "add_runtimes",
        "default-runtime" => "default_runtime",
        "registry-mirrors" => "registry_mirrors",
        "cri" => "cri",
        "cri-socket" => "cri_socket",
        "nri-socket" => "nri_socket",
        "cri-stream-address" => "cri_stream_address",
        "cni-conf-dir" => "cni_conf_dir",
        "cni-bin-dirs" => "cni_bin_dirs",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: DaemonArgs,
    }

    fn args() -> DaemonArgs {
        T::parse_from(["berthd"]).args
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_set_their_flags() {
        let mut a = args();
        apply_object(
            &mut a,
            &obj(json!({"data-root": "/srv/berth", "hosts": ["unix:///run/b.sock"], "mtu": 1400, "ip-forward": false, "log-opts": {"max-size": "5m"}, "live-restore": true, "log-driver": "json-file"})),
            &|_| false,
        )
        .unwrap();
        assert_eq!(a.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(a.hosts, ["unix:///run/b.sock"]);
        assert_eq!(a.mtu, 1400);
        assert!(!a.ip_forward);
        assert_eq!(a.log_opts, ["max-size=5m"]);
    }

    #[test]
    fn cri_keys_set_the_cri_flags() {
        let mut a = args();
        apply_object(
            &mut a,
            &obj(
                json!({"cri": true, "cri-stream-address": "127.0.0.1:10010", "cni-bin-dirs": ["/x"],
                        "nri-socket": "/run/nri/nri.sock"}),
            ),
            &|_| false,
        )
        .unwrap();
        assert!(a.cri);
        assert_eq!(a.nri_socket, Some(PathBuf::from("/run/nri/nri.sock")));
        assert_eq!(a.cri_stream_address.to_string(), "127.0.0.1:10010");
        assert_eq!(a.cni_bin_dirs, [PathBuf::from("/x")]);
        let e = apply_object(
            &mut args(),
            &obj(json!({"cri-stream-address": "localhost"})),
            &|_| false,
        )
        .unwrap_err();
        assert!(e.contains("cri-stream-address"), "{e}");
    }

    #[test]
    fn runtimes_add_by_path_with_their_arguments() {
        let mut a = args();
        apply_object(
            &mut a,
            &obj(
                json!({"runtimes": {"fast": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}},
                        "default-runtime": "fast"}),
            ),
            &|_| false,
        )
        .unwrap();
        assert_eq!(a.add_runtimes, ["fast=/usr/bin/crun"]);
        assert_eq!(a.runtime_args["fast"], ["--debug"]);
        assert_eq!(a.default_runtime, "fast");
        let mut a = args();
        let e = apply_object(
            &mut a,
            &obj(json!({"runtimes": {"shim": {"runtimeType": "io.containerd.runc.v2"}}})),
            &|_| false,
        )
        .unwrap_err();
        assert!(e.contains("runtimes.shim.runtimeType"), "{e}");
        let e = apply_object(
            &mut args(),
            &obj(json!({"runtimes": {"x": {"path": "/x"}}})),
            &|id| id == "add_runtimes",
        )
        .unwrap_err();
        assert!(e.contains("both as a flag"), "{e}");
    }

    #[test]
    fn unknown_unsupported_wrong_and_conflicting_keys_stop_the_daemon() {
        let mut a = args();
        let e = apply_object(&mut a, &obj(json!({"colour": "blue"})), &|_| false).unwrap_err();
        assert!(
            e.contains("don't match any configuration option: colour"),
            "{e}"
        );
        let e =
            apply_object(&mut a, &obj(json!({"userns-remap": "default"})), &|_| false).unwrap_err();
        assert!(e.contains("userns-remap"), "{e}");
        let e = apply_object(&mut a, &obj(json!({"mtu": "big"})), &|_| false).unwrap_err();
        assert!(e.contains("mtu"), "{e}");
        let e = apply_object(&mut a, &obj(json!({"live-restore": false})), &|_| false).unwrap_err();
        assert!(e.contains("live-restore"), "{e}");
        let e = apply_object(&mut a, &obj(json!({"bip": "10.1.0.1/24"})), &|id| {
            id == "bip"
        })
        .unwrap_err();
        assert!(
            e.contains("both as a flag and in the configuration file: bip"),
            "{e}"
        );
    }
}
