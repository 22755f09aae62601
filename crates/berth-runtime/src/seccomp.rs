//! The OCI spec's `linux.seccomp`, compiled with libseccomp and loaded into the process
//! that is about to become the container's program.

use crate::error::{Result, RuntimeError};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// The spec's section as libseccomp needs it: oci-spec's `LinuxSeccomp` read back through
/// its serde names, which are the names libseccomp's constants have.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeccompSpec {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<Rule>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: Option<u64>,
    op: String,
}

fn invalid(what: String) -> RuntimeError {
    RuntimeError::InvalidSpec(format!("seccomp: {what}"))
}

fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno.unwrap_or(0) as u16),
        other => return Err(invalid(format!("unknown action {other}"))),
    })
}

fn compare(a: &Arg) -> Result<ScmpArgCompare> {
    let op = match a.op.as_str() {
        "SCMP_CMP_EQ" => ScmpCompareOp::Equal,
        "SCMP_CMP_NE" => ScmpCompareOp::NotEqual,
        "SCMP_CMP_LT" => ScmpCompareOp::Less,
        "SCMP_CMP_LE" => ScmpCompareOp::LessOrEqual,
        "SCMP_CMP_GT" => ScmpCompareOp::Greater,
        "SCMP_CMP_GE" => ScmpCompareOp::GreaterEqual,
        // OCI (and Docker): `value` is the mask, `valueTwo` what the masked argument equals.
        "SCMP_CMP_MASKED_EQ" => {
            return Ok(ScmpArgCompare::new(
                a.index,
                ScmpCompareOp::MaskedEqual(a.value),
                a.value_two.unwrap_or(0),
            ))
        }
        other => return Err(invalid(format!("unknown comparison {other}"))),
    };
    Ok(ScmpArgCompare::new(a.index, op, a.value))
}

impl SeccompSpec {
    fn from_oci(section: &LinuxSeccomp) -> Result<Self> {
        let v = serde_json::to_value(section).map_err(|e| invalid(e.to_string()))?;
        serde_json::from_value(v).map_err(|e| invalid(e.to_string()))
    }

    /// Builds the filter. Syscalls this libseccomp does not know are skipped, as runc does.
    fn compile(&self, no_new_privileges: bool) -> Result<ScmpFilterContext> {
        let err = |what: &str, e: libseccomp::error::SeccompError| invalid(format!("{what}: {e}"));
        let default = action(&self.default_action, self.default_errno_ret)?;
        let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("new filter", e))?;
        for a in self.architectures.iter().flatten() {
            let arch = ScmpArch::from_str(a).map_err(|e| err(a, e))?;
            // The native architecture is already there.
            let _ = ctx.add_arch(arch);
        }
        // Without no_new_privileges the filter is loaded while still privileged (as runc).
        ctx.set_ctl_nnp(no_new_privileges)
            .map_err(|e| err("nnp", e))?;
        for r in self.syscalls.iter().flatten() {
            let act = action(&r.action, r.errno_ret)?;
            if act == default {
                continue; // libseccomp refuses rules that repeat the default
            }
            let cmps = r
                .args
                .iter()
                .flatten()
                .map(compare)
                .collect::<Result<Vec<_>>>()?;
            for name in &r.names {
                let Ok(sys) = ScmpSyscall::from_name(name) else {
                    continue;
                };
                let added = if cmps.is_empty() {
                    ctx.add_rule(act, sys)
                } else {
                    ctx.add_rule_conditional(act, sys, &cmps)
                };
                added.map_err(|e| err(name, e))?;
            }
        }
        Ok(ctx)
    }
}

/// Name of the compiled filter in a berth bundle, beside config.json.
pub const BPF_FILE: &str = "seccomp.bpf";

/// A filter to load: compiled BPF (berth's bundles carry it; compiling Docker's profile
/// takes ~14 ms, so the daemon does it once per distinct filter) or the spec to compile.
pub enum Filter {
    Bpf(Vec<u8>),
    Spec(LinuxSeccomp),
}

/// The filter as classic BPF instructions (8 bytes each), as the kernel takes them.
pub fn compile_bpf(section: &LinuxSeccomp) -> Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let ctx = SeccompSpec::from_oci(section)?.compile(false)?;
    let fd = nix::sys::memfd::memfd_create(
        c"berth-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| RuntimeError::sys("memfd", e))?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&mut f)
        .map_err(|e| invalid(format!("exporting the filter: {e}")))?;
    let mut out = vec![];
    f.rewind()
        .and_then(|_| f.read_to_end(&mut out))
        .map_err(|e| RuntimeError::sys("reading the filter", e))?;
    Ok(out)
}

/// Loads compiled BPF into the calling thread. Without no_new_privileges this needs
/// CAP_SYS_ADMIN, which the caller still holds.
fn load_bpf(bpf: &[u8]) -> Result<()> {
    if bpf.is_empty() || !bpf.len().is_multiple_of(8) || bpf.len() / 8 > u16::MAX as usize {
        return Err(invalid(format!(
            "compiled filter has a bad length ({})",
            bpf.len()
        )));
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / 8) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `bpf`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(RuntimeError::sys(
            "loading the seccomp filter",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Loads the filter into the calling process (and its future children).
pub fn apply(filter: &Filter, no_new_privileges: bool) -> Result<()> {
    match filter {
        Filter::Bpf(b) => load_bpf(b),
        Filter::Spec(section) => {
            let ctx = SeccompSpec::from_oci(section)?.compile(no_new_privileges)?;
            ctx.load()
                .map_err(|e| invalid(format!("loading the filter: {e}")))
        }
    }
}

/// The filter for a bundle: its compiled BPF if present, else its spec's seccomp section.
pub fn for_bundle(bundle: &std::path::Path, spec: &oci_spec::runtime::Spec) -> Option<Filter> {
    let section = section_of(spec)?;
    match std::fs::read(bundle.join(BPF_FILE)) {
        Ok(b) => Some(Filter::Bpf(b)),
        Err(_) => Some(Filter::Spec(section.clone())),
    }
}

/// The spec's `linux.seccomp`, if any.
pub fn section_of(spec: &oci_spec::runtime::Spec) -> Option<&LinuxSeccomp> {
    spec.linux().as_ref()?.seccomp().as_ref()
}

const MAX_CACHED_FILTERS: usize = 64;

/// Compiled filters by their section: compiling Docker's profile takes ~14 ms, and most
/// containers share one of a few filters.
#[derive(Default)]
pub struct FilterCache {
    compiled: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl FilterCache {
    /// The compiled filter for a section (compiling it on first use).
    pub fn get(&self, section: &LinuxSeccomp) -> Result<Arc<Vec<u8>>> {
        let key = serde_json::to_string(section).map_err(|e| invalid(e.to_string()))?;
        if let Some(b) = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(b.clone());
        }
        let bpf = Arc::new(compile_bpf(section)?);
        let mut compiled = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        // Custom profiles come from users: the cache must not grow without bound.
        if compiled.len() >= MAX_CACHED_FILTERS {
            compiled.clear();
        }
        compiled.insert(key, bpf.clone());
        Ok(bpf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_rules_with_arguments() {
        let v = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        });
        let section: LinuxSeccomp = serde_json::from_value(v).unwrap();
        let s = SeccompSpec::from_oci(&section).unwrap();
        assert!(s.compile(false).is_ok());
        let bpf = compile_bpf(&section).unwrap();
        assert!(!bpf.is_empty() && bpf.len().is_multiple_of(8));
        let cache = FilterCache::default();
        assert_eq!(*cache.get(&section).unwrap(), bpf);
        let bad = serde_json::json!({"defaultAction": "SCMP_ACT_NOPE"});
        assert!(serde_json::from_value::<LinuxSeccomp>(bad).is_err());
    }
}
