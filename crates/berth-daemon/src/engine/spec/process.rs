//! The process of a container or an exec: capabilities, rlimits, environment, user.

use crate::engine::user::ResolvedUser;
use crate::error::{DaemonError, Result};
use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    Process, ProcessBuilder, UserBuilder,
};
use std::collections::HashSet;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set after CapAdd / CapDrop (`ALL` works in both).
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>> {
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    if privileged {
        return Ok(all);
    }
    let mut set: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let check = |c: &String| -> Result<()> {
        if c == "CAP_ALL" || all.contains(c) {
            Ok(())
        } else {
            Err(DaemonError::InvalidParameter(format!(
                "unknown capability: \"{c}\""
            )))
        }
    };
    let add: Vec<String> = add.iter().map(|c| normalize_cap(c)).collect();
    let drop: Vec<String> = drop.iter().map(|c| normalize_cap(c)).collect();
    for c in add.iter().chain(&drop) {
        check(c)?;
    }
    if drop.iter().any(|c| c == "CAP_ALL") {
        set.clear();
    } else {
        set.retain(|c| !drop.contains(c));
    }
    if add.iter().any(|c| c == "CAP_ALL") {
        set = all.clone();
    } else {
        for c in add {
            if !set.contains(&c) {
                set.push(c);
            }
        }
    }
    Ok(set)
}

/// `nofile` → RLIMIT_NOFILE: the ulimit names Docker takes.
pub fn rlimit_type(n: &str) -> Result<PosixRlimitType> {
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if known.contains(&n) {
        serde_json::from_value(serde_json::Value::String(format!(
            "RLIMIT_{}",
            n.to_ascii_uppercase()
        )))
        .map_err(|e| DaemonError::System(format!("ulimit {n}: {e}")))
    } else {
        Err(DaemonError::InvalidParameter(format!(
            "invalid ulimit type: {n}"
        )))
    }
}

/// The environment: image env overlaid by the container's, plus PATH, HOSTNAME, HOME, TERM.
pub fn environment(env: &[String], hostname: &str, home: &str, tty: bool) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let has = |out: &Vec<String>, k: &str| out.iter().any(|e| e.split('=').next() == Some(k));
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        out.push(format!("PATH={}", berth_runtime::process::DEFAULT_PATH));
    }
    out.push(format!("HOSTNAME={hostname}"));
    for e in env {
        let key = e.split('=').next().unwrap_or("");
        out.retain(|o| o.split('=').next() != Some(key));
        out.push(e.clone());
    }
    if tty && !has(&out, "TERM") {
        out.push("TERM=xterm".into());
    }
    if !has(&out, "HOME") {
        out.push(format!("HOME={home}"));
    }
    out
}

/// What a container's or an exec's OCI process is made of.
pub struct ProcessParts<'a> {
    pub tty: bool,
    pub user: &'a ResolvedUser,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// Capability names (`CAP_CHOWN`) from `capabilities`.
    pub caps: &'a [String],
    pub no_new_privileges: bool,
    pub console_size: Option<(u16, u16)>,
    /// None: the limits of the daemon (a container) or of the container (an exec).
    pub rlimits: Option<Vec<PosixRlimit>>,
    pub oom_score_adj: Option<i32>,
}

pub(crate) fn built(e: oci_spec::OciSpecError) -> DaemonError {
    DaemonError::System(format!("building the OCI spec: {e}"))
}

/// `HostConfig.Ulimits` as rlimits (checked at create).
pub fn rlimits(ulimits: &[berth_api::container::Ulimit]) -> Result<Vec<PosixRlimit>> {
    ulimits
        .iter()
        .map(|u| {
            PosixRlimitBuilder::default()
                .typ(rlimit_type(&u.name)?)
                .soft(u.soft.max(0) as u64)
                .hard(u.hard.max(0) as u64)
                .build()
                .map_err(built)
        })
        .collect()
}

pub fn oci_process(p: ProcessParts) -> Result<Process> {
    let caps = p
        .caps
        .iter()
        .map(|c| {
            serde_json::from_value::<Capability>(serde_json::Value::String(c.clone()))
                .map_err(|_| DaemonError::InvalidParameter(format!("unknown capability: \"{c}\"")))
        })
        .collect::<Result<HashSet<_>>>()?;
    // Inheritable and ambient stay empty, as Docker's: a file's inheritable capabilities
    // must not reach a non-root user (CVE-2022-24769).
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(built)?;
    let user = UserBuilder::default()
        .uid(p.user.uid)
        .gid(p.user.gid)
        .additional_gids(p.user.additional_gids.clone())
        .build()
        .map_err(built)?;
    // Every field is set: the builder fills unset ones from Process::default(), which is
    // not Docker's (a 1024 nofile limit, no_new_privileges on).
    let mut process = ProcessBuilder::default()
        .terminal(p.tty)
        .user(user)
        .args(p.args)
        .env(p.env)
        .cwd(p.cwd)
        .capabilities(capabilities)
        .no_new_privileges(p.no_new_privileges)
        .build()
        .map_err(built)?;
    process.set_rlimits(p.rlimits);
    process.set_oom_score_adj(p.oom_score_adj);
    process.set_console_size(match p.console_size {
        Some((h, w)) => Some(
            oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(h))
                .width(u64::from(w))
                .build()
                .map_err(built)?,
        ),
        None => None,
    });
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_add_drop() {
        let c = capabilities(&["NET_ADMIN".into()], &["chown".into()], false).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        let c = capabilities(&[], &["ALL".into()], false).unwrap();
        assert!(c.is_empty());
        assert!(capabilities(&["BOGUS".into()], &[], false).is_err());
    }

    #[test]
    fn env_merges_and_defaults() {
        let e = environment(
            &["PATH=/x".into(), "A=1".into(), "A=2".into()],
            "h",
            "/root",
            true,
        );
        assert_eq!(
            e,
            vec!["HOSTNAME=h", "PATH=/x", "A=2", "TERM=xterm", "HOME=/root"]
        );
    }

    #[test]
    fn process_has_only_what_was_asked() {
        let user = ResolvedUser {
            uid: 1,
            gid: 2,
            additional_gids: vec![3],
            home: "/".into(),
        };
        let caps = capabilities(&[], &[], false).unwrap();
        let p = oci_process(ProcessParts {
            tty: false,
            user: &user,
            args: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            caps: &caps,
            no_new_privileges: false,
            console_size: None,
            rlimits: None,
            oom_score_adj: None,
        })
        .unwrap();
        assert_eq!(p.rlimits(), &None);
        assert_eq!(p.no_new_privileges(), Some(false));
        let c = p.capabilities().as_ref().unwrap();
        assert!(c.inheritable().as_ref().unwrap().is_empty());
        assert_eq!(c.bounding().as_ref().unwrap().len(), DEFAULT_CAPS.len());
        assert_eq!(
            rlimit_type("nofile").unwrap(),
            PosixRlimitType::RlimitNofile
        );
        assert!(rlimit_type("bogus").is_err());
    }
}
