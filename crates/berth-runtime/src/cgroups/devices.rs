//! Which devices a container may open or make: Docker's default allow list, for the v1
//! `devices` controller as text rules and for cgroup v2 as an eBPF program
//! (`BPF_PROG_TYPE_CGROUP_DEVICE`), which v2 needs: without one, a container with the
//! default CAP_MKNOD could make and open the host's disks.

use crate::error::{Result, RuntimeError};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Devices every container may use (Docker's default allow list), as v1 writes them.
pub const DEFAULT_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// One allow rule: `c 1:3 rwm`, `b *:* m`, `a *:* rwm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// BPF_DEVCG_DEV_BLOCK (1) or _CHAR (2); None for both.
    kind: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    /// BPF_DEVCG_ACC_MKNOD (1) | _READ (2) | _WRITE (4).
    access: u32,
}

impl Rule {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || RuntimeError::InvalidSpec(format!("invalid device rule {s:?}"));
        let mut parts = s.split_whitespace();
        let kind = match parts.next().ok_or_else(bad)? {
            "a" => None,
            "b" => Some(1),
            "c" => Some(2),
            _ => return Err(bad()),
        };
        let (major, minor) = parts
            .next()
            .ok_or_else(bad)?
            .split_once(':')
            .ok_or_else(bad)?;
        let num = |n: &str| -> Result<Option<u32>> {
            match n {
                "*" => Ok(None),
                n => n.parse().map(Some).map_err(|_| bad()),
            }
        };
        let mut access = 0;
        for c in parts.next().ok_or_else(bad)?.chars() {
            access |= match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => return Err(bad()),
            };
        }
        Ok(Self {
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access,
        })
    }
}

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95;

/// The program: allow what a rule allows, deny the rest. Registers: r2 the device type,
/// r3 the access asked for, r4 major, r5 minor (from `struct bpf_cgroup_dev_ctx`).
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = vec![];
        // Each check jumps to the end of this rule's block when it does not match; the
        // offsets are filled in once the block's length is known.
        if let Some(k) = r.kind {
            block.push(insn(JNE_K, 2, 0, 0, k as i32));
        }
        if r.access != 7 {
            // Allowed only if nothing asked for lies outside the rule's access.
            block.push(insn(MOV_X, 1, 3, 0, 0));
            block.push(insn(AND_K, 1, 0, 0, !(r.access as i32)));
            block.push(insn(JNE_K, 1, 0, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf<T>(cmd: libc::c_long, attr: &T) -> std::io::Result<i64> {
    // SAFETY: `attr` is a valid bpf_attr prefix of the size passed, alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(rc)
}

/// Attaches an allow-list program made of `rules` to the cgroup v2 dir `cgroup`.
pub fn attach_filter(cgroup: &OwnedFd, rules: &[Rule]) -> Result<()> {
    let insns = program(rules);
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"berth_devcg");
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    let prog = match bpf(BPF_PROG_LOAD, &load) {
        Ok(fd) => fd,
        Err(e) => {
            // Once more with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            load.log_level = 1;
            load.log_size = log.len() as u32;
            load.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &load);
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_end_matches('\0')
                .lines()
                .last()
                .unwrap_or("")
                .to_string();
            return Err(RuntimeError::sys(
                format!("loading the device filter ({last})"),
                e,
            ));
        }
    };
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that we own.
    let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
    let attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &attach)
        .map_err(|e| RuntimeError::sys("attaching the device filter", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's default rules, parsed.
    fn default_rules() -> Vec<Rule> {
        DEFAULT_RULES
            .iter()
            .filter_map(|r| Rule::parse(r).ok())
            .collect()
    }

    #[test]
    fn rules_parse_and_compile() {
        let r = Rule::parse("c 136:* rwm").unwrap();
        assert_eq!(
            (r.kind, r.major, r.minor, r.access),
            (Some(2), Some(136), None, 7)
        );
        assert_eq!(Rule::parse("b *:* m").unwrap().access, 1);
        assert!(Rule::parse("x 1:1 r").is_err());
        assert!(Rule::parse("c 1 rwm").is_err());
        let p = program(&default_rules());
        assert_eq!(p.last().map(|i| i.code), Some(EXIT));
        // Every jump lands inside the program.
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JNE_K {
                assert!(i + 1 + (ins.off as usize) < p.len());
            }
        }
    }
}
