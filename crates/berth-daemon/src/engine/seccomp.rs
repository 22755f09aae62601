//! Docker's default seccomp profile, narrowed (as dockerd does) to the rules that apply
//! to one container — its capabilities, this architecture, this kernel — and written as
//! the OCI spec's `linux.seccomp`. The profile is Docker's own, kept as data.

use super::security_opt::Seccomp;
use crate::error::{DaemonError, Result};
use serde::Deserialize;
use serde_json::{json, Value};

const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");
/// Docker's name for this machine's architecture in the profile.
const NATIVE_ARCH: &str = "amd64";
const NATIVE_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    syscalls: Option<Vec<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

fn kernel_at_least(min: &str) -> bool {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let parse = |s: &str| -> (u32, u32) {
        let mut it = s
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty());
        (
            it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
            it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
        )
    };
    parse(&release) >= parse(min)
}

/// The profile a container gets: None for unconfined (and, as Docker does, for
/// privileged containers without an explicit profile).
pub fn profile_for(seccomp: &Seccomp, privileged: bool) -> Option<&str> {
    match seccomp {
        Seccomp::Unconfined => None,
        Seccomp::Custom(json) => Some(json),
        Seccomp::Default => (!privileged).then_some(DEFAULT_PROFILE),
    }
}

/// The OCI `linux.seccomp` object for a container with these capabilities.
pub fn oci_seccomp(profile: &str, caps: &[String]) -> Result<Value> {
    let p: Profile = serde_json::from_str(profile).map_err(|e| {
        DaemonError::InvalidParameter(format!("decoding seccomp profile failed: {e}"))
    })?;
    let mut architectures = vec![];
    for a in p.arch_map.iter().flatten() {
        if a.architecture == NATIVE_SCMP_ARCH {
            architectures.push(a.architecture.clone());
            architectures.extend(a.sub_architectures.iter().flatten().cloned());
        }
    }
    let mut syscalls = vec![];
    'rules: for r in p.syscalls.iter().flatten() {
        if let Some(inc) = &r.includes {
            let arches = inc.arches.as_deref().unwrap_or(&[]);
            if !arches.is_empty() && !arches.iter().any(|a| a == NATIVE_ARCH) {
                continue;
            }
            if !inc.caps.iter().flatten().all(|c| caps.contains(c)) {
                continue;
            }
            if let Some(k) = &inc.min_kernel {
                if !kernel_at_least(k) {
                    continue;
                }
            }
        }
        if let Some(exc) = &r.excludes {
            if exc.arches.iter().flatten().any(|a| a == NATIVE_ARCH) {
                continue 'rules;
            }
            if exc.caps.iter().flatten().any(|c| caps.contains(c)) {
                continue 'rules;
            }
        }
        let mut rule = json!({"names": r.names, "action": r.action});
        if let Some(e) = r.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if let Some(args) = &r.args {
            rule["args"] = json!(args);
        }
        syscalls.push(rule);
    }
    let mut out = json!({
        "defaultAction": p.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    Ok(out)
}

const MAX_CACHED_FILTERS: usize = 64;

/// Compiled filters by their OCI JSON: compiling Docker's profile takes ~14 ms, and most
/// containers share one of a few filters.
#[derive(Default)]
pub struct FilterCache {
    compiled: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Vec<u8>>>>,
}

impl FilterCache {
    /// The compiled filter for a spec's seccomp section (compiling it on first use).
    pub fn get(&self, section: &Value) -> Result<std::sync::Arc<Vec<u8>>> {
        let key = section.to_string();
        if let Some(b) = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(b.clone());
        }
        let bpf = std::sync::Arc::new(berth_runtime::seccomp::compile_bpf(section)?);
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        // Custom profiles come from users: the cache must not grow without bound.
        if compiled.len() >= MAX_CACHED_FILTERS {
            compiled.clear();
        }
        compiled.insert(key, bpf.clone());
        Ok(bpf)
    }

    /// Compiles the filter a default container gets, ahead of the first start.
    pub fn warm_default(&self) {
        let caps: Vec<String> = super::spec::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let section = oci_seccomp(DEFAULT_PROFILE, &caps).and_then(|v| as_in_spec(&v));
        if let Ok(section) = section {
            let _ = self.get(&section);
        }
    }
}

/// The section as it reads back from a saved spec (the form `FilterCache` keys on).
pub fn as_in_spec(section: &Value) -> Result<Value> {
    let spec: oci_spec::runtime::Spec =
        serde_json::from_value(json!({"ociVersion": "1.0.2", "linux": {"seccomp": section}}))
            .map_err(|e| DaemonError::System(format!("seccomp section: {e}")))?;
    berth_runtime::process::seccomp_of(&spec)
        .ok_or_else(|| DaemonError::System("seccomp section lost".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrows_by_capability_and_arch() {
        let caps: Vec<String> = crate::engine::spec::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = oci_seccomp(DEFAULT_PROFILE, &caps).unwrap();
        let names: Vec<String> = s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string())
            })
            .collect();
        assert!(names.contains(&"read".to_string()));
        assert!(
            names.contains(&"arch_prctl".to_string()),
            "amd64-only rules are in"
        );
        assert!(
            !names.contains(&"riscv_flush_icache".to_string()),
            "other arches are out"
        );
        assert!(
            !names.contains(&"mount".to_string()),
            "CAP_SYS_ADMIN rules are out"
        );
        assert!(!names.contains(&"reboot".to_string()));
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(s["architectures"][0], "SCMP_ARCH_X86_64");
        let mut with_admin = caps.clone();
        with_admin.push("CAP_SYS_ADMIN".into());
        let s = oci_seccomp(DEFAULT_PROFILE, &with_admin).unwrap();
        assert!(s.to_string().contains("\"mount\""));
    }

    #[test]
    fn security_options() {
        assert!(profile_for(&Seccomp::Default, false).is_some());
        assert!(profile_for(&Seccomp::Default, true).is_none());
        assert!(profile_for(&Seccomp::Unconfined, false).is_none());
        assert_eq!(profile_for(&Seccomp::Custom("{}".into()), true), Some("{}"));
    }
}
