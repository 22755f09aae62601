//! Where the CRI server listens and where it finds CNI networks and plugins.

use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/berth/cri.sock";
pub const DEFAULT_CNI_CONF_DIR: &str = "/etc/cni/net.d";
/// The CNI spec's bin dir, then Debian's (containernetworking-plugins).
pub const DEFAULT_CNI_BIN_DIRS: &[&str] = &["/opt/cni/bin", "/usr/lib/cni"];

#[derive(Debug, Clone)]
pub struct CriConfig {
    pub socket: PathBuf,
    pub cni_conf_dir: PathBuf,
    pub cni_bin_dirs: Vec<PathBuf>,
    /// The address of the streaming server (exec, attach, port-forward) whose URLs the
    /// kubelet is handed; loopback with a free port by default.
    pub streaming_address: String,
    /// Where NRI plugins connect (NRI is off without it).
    pub nri_socket: Option<PathBuf>,
}

impl Default for CriConfig {
    fn default() -> Self {
        Self {
            socket: DEFAULT_SOCKET.into(),
            cni_conf_dir: DEFAULT_CNI_CONF_DIR.into(),
            cni_bin_dirs: DEFAULT_CNI_BIN_DIRS.iter().map(PathBuf::from).collect(),
            streaming_address: "127.0.0.1:0".into(),
            nri_socket: None,
        }
    }
}
