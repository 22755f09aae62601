//! Where the API listens, as dockerd's `-H`: unix sockets (0660, root and the docker
//! group), TCP with TLS — mutual with `--tlsverify` — and sockets handed over by systemd
//! (`fd://`). Plain TCP gives anyone who can reach the port root on this machine, so it is
//! refused unless asked for with `--tls=false`.

use crate::error::{DaemonError, Result};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
    /// `fd://` (every socket systemd passed) or `fd://N`.
    Fd(Option<RawFd>),
}

pub fn parse_host(h: &str) -> Result<Host> {
    let bad = || {
        DaemonError::InvalidParameter(format!(
            "invalid -H {h:?}: use unix:///path, tcp://host:port or fd://"
        ))
    };
    if let Some(p) = h.strip_prefix("unix://") {
        return (!p.is_empty())
            .then(|| Host::Unix(p.into()))
            .ok_or_else(bad);
    }
    if let Some(a) = h.strip_prefix("tcp://") {
        let a = a.trim_end_matches('/');
        // Docker's default port for TLS.
        let a = if a.contains(':') {
            a.to_string()
        } else {
            format!("{a}:2376")
        };
        return Ok(Host::Tcp(a));
    }
    if let Some(n) = h.strip_prefix("fd://") {
        return match n {
            "" => Ok(Host::Fd(None)),
            n => n.parse().map(|n| Host::Fd(Some(n))).map_err(|_| bad()),
        };
    }
    Err(bad())
}

/// The TLS of TCP listeners (dockerd's `--tls`, `--tlsverify`, `--tlscacert`,
/// `--tlscert`, `--tlskey`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsSettings {
    /// Nothing said: TCP is refused.
    #[default]
    Unset,
    /// `--tls=false`: plain TCP, with a loud warning.
    Disabled,
    /// `--tls`: the server is TLS, clients are not checked.
    Server { cert: PathBuf, key: PathBuf },
    /// `--tlsverify`: clients must present a certificate signed by `ca`.
    Mutual {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
}

pub enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

/// The systemd sockets this process was given (`LISTEN_FDS`, from fd 3).
pub fn activation_fds() -> Vec<RawFd> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let n: RawFd = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !ours || n <= 0 {
        return vec![];
    }
    (3..3 + n.min(64)).collect()
}

/// Refuses a `tcp://` host when nothing was said about TLS: plain TCP must be asked for.
pub fn check_tls(hosts: &[Host], tls: &TlsSettings) -> Result<()> {
    match hosts.iter().find(|h| matches!(h, Host::Tcp(_))) {
        Some(Host::Tcp(addr)) if *tls == TlsSettings::Unset => Err(DaemonError::InvalidParameter(format!(
            "refusing to listen on tcp://{addr} without TLS: anyone who reaches it is root on this machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls=false to accept that)"
        ))),
        _ => Ok(()),
    }
}

/// Binds every host. `activation` are the fds systemd passed (see `activation_fds`).
pub fn bind_all(hosts: &[Host], tls: &TlsSettings, activation: &[RawFd]) -> Result<Vec<Listener>> {
    check_tls(hosts, tls)?;
    let acceptor = match tls {
        TlsSettings::Unset | TlsSettings::Disabled => None,
        TlsSettings::Server { cert, key } => Some(acceptor(cert, key, None)?),
        TlsSettings::Mutual { ca, cert, key } => Some(acceptor(cert, key, Some(ca))?),
    };
    let mut out = vec![];
    for h in hosts {
        match h {
            Host::Unix(p) => out.push(Listener::Unix(bind_unix(p)?)),
            Host::Tcp(addr) => {
                if *tls == TlsSettings::Disabled {
                    eprintln!("berthd: WARNING: the API listens on tcp://{addr} WITHOUT TLS OR AUTHENTICATION: anyone who can reach this port controls this machine as root");
                }
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|_| l))
                    .map_err(|e| DaemonError::System(format!("listening on tcp://{addr}: {e}")))?;
                let l = tokio::net::TcpListener::from_std(l)
                    .map_err(|e| DaemonError::System(format!("tcp://{addr}: {e}")))?;
                out.push(Listener::Tcp(l, acceptor.clone()));
            }
            Host::Fd(which) => {
                let fds: Vec<RawFd> = match which {
                    None => activation.to_vec(),
                    Some(n) if activation.contains(n) => vec![*n],
                    Some(n) => {
                        return Err(DaemonError::InvalidParameter(format!(
                            "fd://{n}: not a socket this daemon was given (LISTEN_FDS)"
                        )))
                    }
                };
                if fds.is_empty() {
                    return Err(DaemonError::InvalidParameter(
                        "fd://: no sockets were passed (LISTEN_FDS/LISTEN_PID)".into(),
                    ));
                }
                for fd in fds {
                    out.push(from_activation(fd, acceptor.clone())?);
                }
            }
        }
    }
    Ok(out)
}

fn acceptor(cert: &Path, key: &Path, ca: Option<&PathBuf>) -> Result<tokio_rustls::TlsAcceptor> {
    let config = berth_registry::tls::server_config(berth_registry::tls::ServerFiles {
        cert,
        key,
        client_ca: ca.map(|c| c.as_path()),
    })
    .map_err(|e| DaemonError::InvalidParameter(format!("TLS: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A socket systemd passed: unix or TCP, whichever it is.
fn from_activation(fd: RawFd, tls: Option<tokio_rustls::TlsAcceptor>) -> Result<Listener> {
    let addr = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrStorage>(fd)
        .map_err(|e| DaemonError::System(format!("fd://{fd}: {e}")))?;
    let family = nix::sys::socket::SockaddrLike::family(&addr);
    let wrap = |e: std::io::Error| DaemonError::System(format!("fd://{fd}: {e}"));
    if family == Some(nix::sys::socket::AddressFamily::Unix) {
        // SAFETY: systemd handed this descriptor to this process to own.
        let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        l.set_nonblocking(true).map_err(wrap)?;
        Ok(Listener::Unix(
            tokio::net::UnixListener::from_std(l).map_err(wrap)?,
        ))
    } else {
        // SAFETY: as above.
        let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        l.set_nonblocking(true).map_err(wrap)?;
        Ok(Listener::Tcp(
            tokio::net::TcpListener::from_std(l).map_err(wrap)?,
            tls,
        ))
    }
}

/// The API socket, 0660 and owned by root and the `docker` group where that group exists
/// (dockerd's rule), whatever the umask.
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener> {
    bind_socket(path, 0o660, docker_group())
        .map_err(|e| DaemonError::System(format!("listening on {}: {e}", path.display())))
}

/// A unix socket at `path` with `mode`, owned by root and `group` (if given), from its
/// first moment whatever the umask: bound inside a fresh 0700 dir, given its mode and
/// owner there, and only then renamed into place, so at no moment can anyone else
/// connect to it. A missing parent is made 0711. A socket left there by a daemon that
/// died is replaced; any other file is refused.
pub fn bind_socket(
    path: &Path,
    mode: u32,
    group: Option<u32>,
) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a socket",
                path.display()
            )));
        }
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(parent)?;
    }
    let staging = parent.join(format!(".berth-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
    let result = (|| {
        let tmp = staging.join("sock");
        let listener = tokio::net::UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        nix::unistd::chown(
            &tmp,
            Some(nix::unistd::Uid::from_raw(0)),
            group.map(nix::unistd::Gid::from_raw),
        )?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// The `docker` group's gid, read from /etc/group itself: getgrnam goes through NSS,
/// which a static binary cannot load (it crashed the release build).
fn docker_group() -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == "docker").then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_takes_them() {
        assert_eq!(
            parse_host("unix:///run/b.sock").unwrap(),
            Host::Unix("/run/b.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1").unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(parse_host("fd://").unwrap(), Host::Fd(None));
        assert_eq!(parse_host("fd://3").unwrap(), Host::Fd(Some(3)));
        assert!(parse_host("http://x").is_err());
        assert!(parse_host("unix://").is_err());
    }

    #[test]
    fn plain_tcp_is_refused_unless_asked_for() {
        let hosts = [Host::Fd(None), Host::Tcp("127.0.0.1:0".into())];
        let e = check_tls(&hosts, &TlsSettings::Unset).unwrap_err();
        assert!(e.to_string().contains("without TLS"), "{e}");
        assert!(check_tls(&hosts, &TlsSettings::Disabled).is_ok());
    }
}
