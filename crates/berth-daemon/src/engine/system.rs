//! `/version` and `/info`.

use super::Engine;
use berth_api::system::Version;

pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Engine {
    pub fn version(&self) -> Version {
        Version {
            platform: serde_json::json!({"Name": "berth"}),
            components: vec![serde_json::json!({
                "Name": "Engine", "Version": BERTH_VERSION,
                "Details": {"ApiVersion": berth_api::API_VERSION, "MinAPIVersion": berth_api::MIN_API_VERSION, "Os": "linux", "Arch": "amd64", "KernelVersion": kernel_version()}
            })],
            version: BERTH_VERSION.into(),
            api_version: berth_api::API_VERSION.into(),
            min_a_p_i_version: berth_api::MIN_API_VERSION.into(),
            git_commit: env!("BERTH_GIT_COMMIT").into(),
            go_version: "rust".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: kernel_version(),
            build_time: env!("BERTH_BUILD_TIME").into(),
        }
    }

    /// `info`'s `Runtimes`: the built-in one and each external one, as dockerd lists
    /// them (`path`, `runtimeArgs`).
    fn runtimes_info(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert(
            crate::config::BUILTIN_RUNTIME.into(),
            serde_json::json!({"path": self.cfg.berth_binary}),
        );
        for (name, r) in &self.cfg.runtimes {
            let mut v = serde_json::json!({"path": r.path});
            if !r.args.is_empty() {
                v["runtimeArgs"] = serde_json::json!(r.args);
            }
            out.insert(name.clone(), v);
        }
        serde_json::Value::Object(out)
    }

    /// `info`'s `RegistryConfig`: Docker Hub's mirrors in `Mirrors` as dockerd shows
    /// them, and every registry with mirrors in `IndexConfigs`.
    fn registry_config(&self) -> serde_json::Value {
        let mut index = serde_json::Map::new();
        for (registry, mirrors) in &self.cfg.registry_mirrors {
            index.insert(
                registry.clone(),
                serde_json::json!({"Name": registry, "Mirrors": mirrors,
                    "Secure": !self.registry.is_insecure_registry(registry), "Official": registry == "docker.io"}),
            );
        }
        serde_json::json!({
            "IndexConfigs": index,
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "Mirrors": self.cfg.registry_mirrors.get("docker.io").cloned().unwrap_or_default(),
        })
    }

    pub fn info(&self) -> serde_json::Value {
        let all = self.all();
        let running = all
            .iter()
            .filter(|c| c.is_running() && !c.record().state.paused)
            .count();
        let paused = all.iter().filter(|c| c.record().state.paused).count();
        let mem_total = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|k| k.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024;
        let cgroup_version = match berth_runtime::cgroups::detect() {
            berth_runtime::cgroups::Version::V1 => "1",
            berth_runtime::cgroups::Version::V2 => "2",
        };
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let mut security_options = vec!["name=seccomp,profile=builtin", "name=cgroupns"];
        if self.cfg.no_new_privileges {
            security_options.push("name=no-new-privileges");
        }
        serde_json::json!({
            "ID": "berth",
            "Containers": all.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": all.len() - running - paused,
            "Images": self.images.ids().len(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "local", "none"]},
            "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
            "CPUShares": true, "PidsLimit": true, "IPv4Forwarding": false,
            "Debug": false,
            "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
            "NGoroutines": 0,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "KernelVersion": kernel_version(),
            "OperatingSystem": "berth",
            "OSType": "linux",
            "Architecture": "x86_64",
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": self.registry_config(),
            "DockerRootDir": self.cfg.data_root,
            "Name": hostname,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": BERTH_VERSION,
            "Runtimes": self.runtimes_info(),
            "DefaultRuntime": self.cfg.default_runtime,
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "SecurityOptions": security_options,
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            // berth runs containers itself: no containerd socket or namespaces.
            "Containerd": null,
            "FirewallBackend": {"Driver": "nftables"},
            "DiscoveredDevices": [],
            "CDISpecDirs": [],
            "CPUSet": true,
            "OomKillDisable": cgroup_version == "1",
            // Network create takes subnets from Docker's default pools; none are configured.
            "DefaultAddressPools": [],
            "GenericResources": null,
            // berth reaches registries directly: it uses no proxy.
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "NEventsListener": self.events.listeners(),
            "OSVersion": os_version(),
            "Warnings": [],
        })
    }
}

/// The host's OS version (`VERSION_ID` of /etc/os-release), as dockerd reports it.
fn os_version() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VERSION_ID="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_default()
}
