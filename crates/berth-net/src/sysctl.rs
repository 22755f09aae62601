//! Per-interface sysctls of an endpoint (`DriverOpts`
//! `com.docker.network.endpoint.sysctls`, API 1.46): `net.ipv4.conf.IFNAME.log_martians=1`,
//! `IFNAME` standing for the interface's name in the container, written inside the
//! container's network namespace.

use crate::error::{NetError, Result};
use std::fs::File;
use std::path::Path;

/// The driver option that carries them.
pub const ENDPOINT_SYSCTLS: &str = "com.docker.network.endpoint.sysctls";

/// `IFNAME`, in any case: the docker CLI lowercases driver options.
fn is_ifname(part: &str) -> bool {
    part.eq_ignore_ascii_case("IFNAME")
}

/// A comma-separated list of `key=value`, checked: each key starts with `net.`, names the
/// interface as `IFNAME`, and is a plain dotted name; values are one line.
pub fn parse(list: &str) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |why: &str| NetError::Invalid(format!("invalid endpoint sysctl {item:?}: {why}"));
        let (key, value) = item.split_once('=').ok_or_else(|| bad("want key=value"))?;
        if !key.starts_with("net.") || !key.split('.').any(is_ifname) {
            return Err(bad(
                "the key must start with net. and name the interface as IFNAME",
            ));
        }
        if !key.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            return Err(bad("the key must be a dotted name"));
        }
        if value.contains(['\n', '\0']) {
            return Err(bad("the value must be one line"));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

/// Writes `sysctls` (with `IFNAME` replaced by `ifname`) in the network namespace
/// `netns`, from a short-lived thread that joins it: /proc/sys/net shows the namespace
/// of the thread that opens it.
pub fn apply_in(netns: &Path, ifname: &str, sysctls: &[(String, String)]) -> Result<()> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let ns =
        File::open(netns).map_err(|e| NetError::sys("the container's network namespace", e))?;
    let writes: Vec<(String, String)> = sysctls
        .iter()
        .map(|(k, v)| {
            let path = k
                .split('.')
                .map(|p| if is_ifname(p) { ifname } else { p })
                .collect::<Vec<_>>()
                .join("/");
            (format!("/proc/sys/{path}"), v.clone())
        })
        .collect();
    std::thread::spawn(move || -> Result<()> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::sys("joining the container's network namespace", e))?;
        for (path, value) in writes {
            std::fs::write(&path, &value)
                .map_err(|e| NetError::sys(format!("writing {path}"), e))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| NetError::Invalid("sysctl thread panicked".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_interface() {
        let ok = parse("net.ipv4.conf.IFNAME.log_martians=1, net.ipv6.conf.IFNAME.disable_ipv6=1")
            .unwrap();
        assert_eq!(ok.len(), 2);
        // As the docker CLI sends it, lowercased.
        assert!(parse("net.ipv4.conf.ifname.log_martians=1").is_ok());
        assert!(parse("net.ipv4.ip_forward=1").is_err());
        assert!(parse("kernel.IFNAME.x=1").is_err());
        assert!(parse("net.ipv4.conf.IFNAME/../../x=1").is_err());
        assert!(parse("net.ipv4.conf.IFNAME.x").is_err());
    }
}
