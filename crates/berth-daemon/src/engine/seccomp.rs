//! Docker's default seccomp profile, narrowed (as dockerd does) to the rules that apply
//! to one container — its capabilities, this architecture, this kernel — and written as
//! the OCI spec's `linux.seccomp` (oci-spec's `LinuxSeccomp`, which the runtime compiles
//! and caches). The profile is Docker's own, kept as data.

use super::security_opt::Seccomp;
use crate::error::{DaemonError, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSyscallBuilder,
};
use serde::Deserialize;

const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");
/// Docker's name for this machine's architecture in the profile.
const NATIVE_ARCH: &str = "amd64";
const NATIVE_SCMP_ARCH: &str = "SCMP_ARCH_X86_64";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
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
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
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

/// The OCI `linux.seccomp` section for a container with these capabilities.
pub fn oci_seccomp(profile: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let p: Profile = serde_json::from_str(profile).map_err(|e| {
        DaemonError::InvalidParameter(format!("decoding seccomp profile failed: {e}"))
    })?;
    let mut architectures: Vec<Arch> = vec![];
    for a in p.arch_map.iter().flatten() {
        if a.architecture == NATIVE_SCMP_ARCH {
            for name in std::iter::once(&a.architecture).chain(a.sub_architectures.iter().flatten())
            {
                architectures.push(
                    serde_json::from_value(serde_json::Value::String(name.clone())).map_err(
                        |_| {
                            DaemonError::InvalidParameter(format!(
                                "seccomp profile: unknown architecture {name}"
                            ))
                        },
                    )?,
                );
            }
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
        let mut rule = LinuxSyscallBuilder::default()
            .names(r.names.clone())
            .action(r.action);
        if let Some(e) = r.errno_ret {
            rule = rule.errno_ret(e);
        }
        if let Some(args) = &r.args {
            rule = rule.args(args.clone());
        }
        syscalls.push(rule.build().map_err(invalid_profile)?);
    }
    let mut out = LinuxSeccompBuilder::default()
        .default_action(p.default_action)
        .architectures(architectures)
        .syscalls(syscalls);
    if let Some(e) = p.default_errno_ret {
        out = out.default_errno_ret(e);
    }
    out.build().map_err(invalid_profile)
}

fn invalid_profile(e: oci_spec::OciSpecError) -> DaemonError {
    DaemonError::InvalidParameter(format!("seccomp profile: {e}"))
}

/// The section a container with Docker's default capabilities gets.
pub fn default_section() -> Result<LinuxSeccomp> {
    let caps: Vec<String> = super::spec::DEFAULT_CAPS
        .iter()
        .map(|s| s.to_string())
        .collect();
    oci_seccomp(DEFAULT_PROFILE, &caps)
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
        let names: Vec<String> = s
            .syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
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
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.architectures().as_ref().unwrap()[0], Arch::ScmpArchX86_64);
        let mut with_admin = caps.clone();
        with_admin.push("CAP_SYS_ADMIN".into());
        let s = oci_seccomp(DEFAULT_PROFILE, &with_admin).unwrap();
        assert!(s
            .syscalls()
            .iter()
            .flatten()
            .any(|r| r.names().contains(&"mount".to_string())));
    }

    #[test]
    fn security_options() {
        assert!(profile_for(&Seccomp::Default, false).is_some());
        assert!(profile_for(&Seccomp::Default, true).is_none());
        assert!(profile_for(&Seccomp::Unconfined, false).is_none());
        assert_eq!(profile_for(&Seccomp::Custom("{}".into()), true), Some("{}"));
    }
}
