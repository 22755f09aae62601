//! Container create/inspect/list types (`/containers/...`).

use crate::strslice::StrSlice;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Docker's `Config`: what the image or the user says a container runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<HashMap<String, serde_json::Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<StrSlice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    pub image: String,
    pub volumes: Option<HashMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<StrSlice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: Option<HashMap<String, String>>,
}

/// Docker's `HostConfig`: how the host runs the container. Fields berth does not act on
/// yet are still accepted (and type-checked) so clients that send them keep working.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub container_i_d_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<HashMap<String, serde_json::Value>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub tmpfs: Option<HashMap<String, String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    pub runtime: String,
    pub isolation: String,
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Option<Vec<serde_json::Value>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub init: Option<bool>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub console_size: Option<Vec<u32>>,
    #[serde(rename = "Mounts")]
    pub mounts: Option<Vec<Mount>>,
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `--device-cgroup-rule`: `c 10:229 rwm`.
    pub device_cgroup_rules: Option<Vec<String>>,
    /// Fields of the Engine API that berth does not model: kept so that a set one is
    /// refused by name rather than dropped without a word (only unset ones are stored,
    /// and inspect shows them as dockerd does).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `HostConfig.Mounts[]` (`--mount`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Fields not modeled here, refused when set.
    #[serde(flatten, skip_serializing)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `POST /containers/create` body: Config fields at the top level plus HostConfig.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    pub host_config: HostConfig,
    pub networking_config: Option<serde_json::Value>,
    /// Top-level fields that neither Config nor the request models (refused when set).
    #[serde(flatten, skip_serializing)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `State` in container inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// The health check's state, for a container that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `State.Health`: `starting`, `healthy` or `unhealthy`, with the last probes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthcheckResult>,
}

/// One probe of a health check.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub graph_driver: serde_json::Value,
    pub mounts: Vec<MountPoint>,
    pub config: Config,
    pub network_settings: serde_json::Value,
}

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub ports: Vec<serde_json::Value>,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    pub host_config: serde_json::Value,
    pub network_settings: serde_json::Value,
    pub mounts: Vec<MountPoint>,
    /// The health status (API 1.52): `none` without a check or when not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
    /// With `size=1`: the bytes of its writable layer, and of that with its image's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
}

/// `POST /containers/{id}/wait` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub status_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerPruneResponse {
    pub containers_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_as_docker_cli_sends_it() {
        let body = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,
            "AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,
            "StdinOnce":false,"Env":null,"Cmd":["echo","hi"],"Image":"busybox",
            "Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},
            "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[40,120],
            "CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
            "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,
            "PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
            "SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"",
            "CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,
            "Devices":[],"PidsLimit":null,"Ulimits":[],"MaskedPaths":null,"ReadonlyPaths":null},
            "NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let req: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.config.image, "busybox");
        assert_eq!(req.config.cmd.unwrap().0, vec!["echo", "hi"]);
        assert!(req.host_config.auto_remove);
    }

    #[test]
    fn wrong_type_is_rejected() {
        let body = r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#;
        assert!(serde_json::from_str::<CreateRequest>(body).is_err());
    }
}
