//! The last steps before `execve`: find the program, set rlimits, become the user, keep
//! only the allowed capabilities.

use crate::error::{Result, RuntimeError};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, Process};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `cmd` the way Go's exec.LookPath does for Docker, with Docker's messages.
pub fn find_executable(cmd: &str, env: &[String], cwd: &Path) -> Result<PathBuf> {
    let check = |p: &Path| -> Option<Result<PathBuf>> {
        let m = std::fs::metadata(p).ok()?;
        if m.is_dir() || m.permissions().mode() & 0o111 == 0 {
            return Some(Err(RuntimeError::PermissionDenied(format!(
                "\"{cmd}\": permission denied"
            ))));
        }
        Some(Ok(p.to_path_buf()))
    };
    if cmd.is_empty() {
        return Err(RuntimeError::NotFound(
            "\"\": executable file not found in $PATH".into(),
        ));
    }
    if cmd.contains('/') {
        let p = if cmd.starts_with('/') {
            PathBuf::from(cmd)
        } else {
            cwd.join(cmd)
        };
        return check(&p).unwrap_or_else(|| {
            Err(RuntimeError::NotFound(format!(
                "\"{cmd}\": stat {cmd}: no such file or directory"
            )))
        });
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        match check(&Path::new(dir).join(cmd)) {
            Some(Ok(p)) => return Ok(p),
            Some(Err(e)) => denied = denied.or(Some(e)),
            None => {}
        }
    }
    Err(denied.unwrap_or_else(|| {
        RuntimeError::NotFound(format!("\"{cmd}\": executable file not found in $PATH"))
    }))
}

fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

pub fn set_rlimits(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let name = serde_json::to_value(l.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let res = rlimit_resource(&name)
            .ok_or_else(|| RuntimeError::InvalidSpec(format!("unknown rlimit {name}")))?;
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: `r` is a valid rlimit struct that outlives the call.
        if unsafe { libc::setrlimit(res, &r) } != 0 {
            return Err(RuntimeError::sys(
                format!("setrlimit {name}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

fn cap_set(set: &Option<oci_spec::runtime::Capabilities>) -> HashSet<caps::Capability> {
    set.iter()
        .flatten()
        .filter_map(|c| {
            let s = serde_json::to_value(c).ok()?;
            s.as_str()?.parse().ok()
        })
        .collect()
}

/// Drops the bounding set to what the spec allows (while still privileged).
pub fn drop_bounding(c: &LinuxCapabilities) -> Result<()> {
    let keep = cap_set(c.bounding());
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, caps::CapSet::Bounding, cap).unwrap_or(false)
        {
            caps::drop(None, caps::CapSet::Bounding, cap).map_err(|e| {
                RuntimeError::sys("dropping capability", std::io::Error::other(e.to_string()))
            })?;
        }
    }
    Ok(())
}

/// Sets the remaining capability sets, after the uid change.
pub fn apply_capabilities(c: &LinuxCapabilities) -> Result<()> {
    let err = |e: caps::errors::CapsError| {
        RuntimeError::sys("setting capabilities", std::io::Error::other(e.to_string()))
    };
    // Only what this process still holds can be kept (a privileged container asks for
    // every capability; the host may not have them all, as Docker's "all" means too).
    let held = caps::read(None, caps::CapSet::Permitted).map_err(err)?;
    let bounded = caps::read(None, caps::CapSet::Bounding).map_err(err)?;
    let allowed = |set: &Option<oci_spec::runtime::Capabilities>| -> HashSet<caps::Capability> {
        cap_set(set)
            .into_iter()
            .filter(|c| held.contains(c) && bounded.contains(c))
            .collect()
    };
    // Each capset must keep effective within permitted: shrink effective first.
    caps::set(None, caps::CapSet::Effective, &allowed(c.effective())).map_err(err)?;
    caps::set(None, caps::CapSet::Permitted, &allowed(c.permitted())).map_err(err)?;
    caps::set(None, caps::CapSet::Inheritable, &allowed(c.inheritable())).map_err(err)?;
    let ambient = allowed(c.ambient());
    if !ambient.is_empty() {
        caps::set(None, caps::CapSet::Ambient, &ambient).map_err(err)?;
    }
    Ok(())
}

/// Becomes the spec's user (groups, gid, uid), keeping capabilities for `apply_capabilities`.
pub fn switch_user(p: &Process) -> Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
    let u = p.user();
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // SAFETY: prctl with PR_SET_KEEPCAPS takes plain integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    setgroups(&groups).map_err(|e| RuntimeError::sys("setgroups", e))?;
    setgid(Gid::from_raw(u.gid())).map_err(|e| RuntimeError::sys("setgid", e))?;
    setuid(Uid::from_raw(u.uid())).map_err(|e| RuntimeError::sys("setuid", e))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Everything between "the namespaces and mounts are ready" and `execve`, shared by the
/// container's init and by exec'd processes. Returns what to pass to `execve`.
pub struct Prepared {
    pub program: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

/// `keep`: the descriptors besides stdio that must survive until `execve` (sync pipes,
/// close-on-exec); every other one is closed before the working directory is entered.
pub fn prepare(p: &Process, keep: &[std::os::fd::RawFd]) -> Result<Prepared> {
    let args = p.args().clone().unwrap_or_default();
    let env = p.env().clone().unwrap_or_default();
    let first = args.first().cloned().unwrap_or_default();
    let cwd = p.cwd();
    crate::hygiene::close_fds_except(keep);
    crate::hygiene::reset_signals()?;
    if !cwd.as_os_str().is_empty() {
        std::fs::create_dir_all(cwd).ok();
        nix::unistd::chdir(cwd).map_err(|e| {
            RuntimeError::sys(
                format!(
                    "chdir to cwd (\"{}\") set in config.json failed",
                    cwd.display()
                ),
                e,
            )
        })?;
    }
    crate::hygiene::check_cwd_inside_root()?;
    let program = find_executable(&first, &env, cwd)?;
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| RuntimeError::InvalidSpec("NUL byte in argument".into()))
    };
    Ok(Prepared {
        program: cstr(&program.to_string_lossy())?,
        argv: args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
    })
}

/// The privilege steps: rlimits, bounding set, seccomp, user, capabilities.
pub fn drop_privileges(p: &Process, seccomp: Option<&crate::seccomp::Filter>) -> Result<()> {
    let nnp = p.no_new_privileges() == Some(true);
    if let Some(r) = p.rlimits() {
        set_rlimits(r)?;
    }
    if let Some(c) = p.capabilities() {
        drop_bounding(c)?;
    }
    // Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN: do it while the
    // process still has it. The filter allows what follows (setuid, capset, execve).
    if let (Some(s), false) = (seccomp, nnp) {
        crate::seccomp::apply(s, false)?;
    }
    switch_user(p)?;
    if let Some(c) = p.capabilities() {
        apply_capabilities(c)?;
    }
    if nnp {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if let Some(s) = seccomp {
            crate::seccomp::apply(s, true)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_messages_match_docker() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        assert!(find_executable("sh", &env, Path::new("/")).is_ok());
        let e = find_executable("no-such-cmd-xyz", &env, Path::new("/")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"no-such-cmd-xyz\": executable file not found in $PATH"
        );
        assert_eq!(e.exit_code(), 127);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "x").unwrap();
        let e = find_executable(plain.to_str().unwrap(), &env, Path::new("/")).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        let e = find_executable("/nope", &env, Path::new("/")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"/nope\": stat /nope: no such file or directory"
        );
    }
}
