//! berth's built-in OCI runtime and per-container shim.
//!
//! The daemon uses the typed task API (`task`): a `Runtime` creates tasks, a `Task` is
//! one container's shim. The shim (`shim::main`) reads an OCI bundle, creates the container with one `clone` (new
//! mount/pid/uts/ipc/net namespaces), places it in its cgroup, and then stays beside it:
//! holding its stdio, writing the json-file log, serving attach/exec/kill/resize on a unix
//! socket, and recording the exit status atomically. Nothing here knows about HTTP.

pub mod cgroups;
mod clone3;
pub mod console;
pub mod error;
pub mod exec;
pub mod hygiene;
pub mod init;
pub mod init_process;
pub mod json_log;
pub mod mounts;
pub mod pod_init;
pub mod pod_userns;
pub mod process;
pub mod root;
pub mod sealed_binary;
pub mod seccomp;
pub mod shim;
pub mod task;
pub mod userns;

pub use error::RuntimeError;
