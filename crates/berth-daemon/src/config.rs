use std::path::PathBuf;

/// How the daemon was started (dockerd's flag names).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// `--data-root`: images, containers, volumes.
    pub data_root: PathBuf,
    /// `--exec-root`: sockets and runtime state.
    pub exec_root: PathBuf,
    /// `-H`: where to listen (`unix:///path`).
    pub hosts: Vec<String>,
    pub pidfile: Option<PathBuf>,
    /// The `berth` binary the shims are started from.
    pub berth_binary: PathBuf,
    /// cgroup parent for containers (`/berth`).
    pub cgroup_parent: String,
    /// How many shims to keep started ahead of time.
    pub warm_shims: usize,
    /// Registries whose certificates are not checked (or reached over plain HTTP when
    /// they have no TLS), besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Per-registry CAs and client certificates (`<dir>/<host:port>/ca.crt`).
    pub registry_certs_dir: PathBuf,
    /// `--no-new-privileges`: containers get no_new_privileges unless SecurityOpt says
    /// `no-new-privileges=false`.
    pub no_new_privileges: bool,
    /// `--log-opt key=value`: json-file options for containers that do not set them.
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// How long a client may take to send a request's headers.
    pub api_header_timeout: std::time::Duration,
    /// Connections one client (peer uid or address) may have open at once.
    pub api_max_connections_per_client: usize,
    /// TLS of `tcp://` hosts.
    pub tls: crate::listen::TlsSettings,
    /// `--bridge`: the default bridge network's device.
    pub bridge: String,
    /// `--bip`: the default bridge's address and prefix.
    pub bip: String,
    /// `--fixed-cidr`: where the default bridge's container addresses come from.
    pub fixed_cidr: Option<String>,
    /// `--mtu` of the default bridge.
    pub mtu: u32,
    /// `--ip-forward`: let the host route containers' traffic (dockerd's default).
    pub ip_forward: bool,
    /// `--ip-masq`: masquerade containers' traffic that leaves the host.
    pub ip_masq: bool,
    /// Sockets systemd passed for `fd://` hosts.
    pub activation_fds: Vec<std::os::fd::RawFd>,
    /// External OCI runtimes by name (runc, crun, what `--add-runtime` and daemon.json's
    /// `runtimes` add); `berth`, the built-in one, is not among them.
    pub runtimes: std::collections::BTreeMap<String, berth_runtime::task::ExternalRuntime>,
    /// The runtime of containers that do not choose one.
    pub default_runtime: String,
    /// Mirrors by registry (`docker.io` for Docker Hub's), tried in order on a pull.
    pub registry_mirrors: std::collections::BTreeMap<String, Vec<String>>,
}

/// The built-in runtime's name.
pub const BUILTIN_RUNTIME: &str = "berth";

impl DaemonConfig {
    /// The runtime a container asked for (`""`: the default), checked to exist.
    pub fn resolve_runtime(&self, asked: &str) -> Result<String, String> {
        let name = if asked.is_empty() {
            self.default_runtime.as_str()
        } else {
            asked
        };
        if name == BUILTIN_RUNTIME || self.runtimes.contains_key(name) {
            Ok(name.to_string())
        } else {
            Err(format!("unknown or invalid runtime name: {name}"))
        }
    }
}

impl DaemonConfig {
    pub fn containers_dir(&self) -> PathBuf {
        self.data_root.join("containers")
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }
    /// Runtime state of one container (exit status, pid) under the exec root.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("containers").join(id)
    }
    /// The shim's socket; kept short because unix socket paths are limited to 108 bytes.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        self.exec_root.join("s").join(&id[..id.len().min(24)])
    }
}
