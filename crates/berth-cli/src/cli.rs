//! Command-line definitions: docker's commands and flags.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A fast, light container engine that speaks Docker's API"
)]
pub struct Cli {
    /// Daemon socket to connect to (also BERTH_HOST, DOCKER_HOST)
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    #[command(flatten)]
    pub tls: ClientTls,
    #[command(subcommand)]
    pub command: Command,
}

/// `berthd [flags]`: the daemon under its own name.
#[derive(Parser)]
#[command(name = "berthd", version, about = "The berth daemon")]
pub struct DaemonCli {
    #[command(flatten)]
    pub args: DaemonArgs,
}

/// The docker CLI's TLS flags (with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH).
#[derive(Args, Debug, Clone, Default)]
pub struct ClientTls {
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default $DOCKER_CERT_PATH/ca.pem)
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default $DOCKER_CERT_PATH/cert.pem)
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default $DOCKER_CERT_PATH/key.pem)
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on objects
    Inspect(InspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff { container: String },
    /// List port mappings or a specific mapping for the container
    Port {
        container: String,
        /// PRIVATE_PORT[/PROTO]
        private_port: Option<String>,
    },
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// List images
    Images(ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Show the berth version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Run the berth daemon (also started as `berthd`)
    Daemon(DaemonArgs),
    /// Output shell completion code for bash, zsh or fish
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write berth's man pages into a directory (for packaging)
    #[command(hide = true)]
    GenerateMan { dir: PathBuf },
    /// A registry of your own
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    Run(RunArgs),
    Create(RunArgs),
    Start(StartArgs),
    Stop(StopArgs),
    Restart(StopArgs),
    Kill(KillArgs),
    #[command(alias = "remove")]
    Rm(RmArgs),
    Logs(LogsArgs),
    Attach(AttachArgs),
    Exec(ExecArgs),
    Inspect(InspectArgs),
    Top(TopArgs),
    Wait(NamesArgs),
    Rename {
        container: String,
        new_name: String,
    },
    Pause(NamesArgs),
    Unpause(NamesArgs),
    Stats(StatsArgs),
    Update(UpdateArgs),
    Commit(CommitArgs),
    Cp(CpArgs),
    Export(ExportArgs),
    Diff {
        container: String,
    },
    Port {
        container: String,
        private_port: Option<String>,
    },
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Serve the OCI distribution API
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: String,
        /// Where blobs, manifests and tags are kept
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Require basic auth from this htpasswd file (bcrypt, `htpasswd -B`)
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate (chain)
        #[arg(long = "tls-cert", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert
        #[arg(long = "tls-key", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates signed by these CAs (PEM)
        #[arg(long = "tls-client-ca", requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
    },
    /// Delete blobs no manifest references (run it with the registry stopped)
    GarbageCollect {
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Only report what would be deleted
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver (bridge)
    #[arg(short = 'd', long)]
    pub driver: Option<String>,
    /// A subnet in CIDR format (one IPv4, and with --ipv6 one IPv6)
    #[arg(long)]
    pub subnet: Vec<String>,
    /// The gateway of the subnet it is in
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Where containers' addresses come from, inside its subnet
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IPv6 networking too (a ULA /64 unless --subnet gives one)
    #[arg(long)]
    pub ipv6: bool,
    /// No access beyond the network's own bridge
    #[arg(long)]
    pub internal: bool,
    #[arg(long)]
    pub attachable: bool,
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Driver options (com.docker.network.bridge.name, com.docker.network.driver.mtu)
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    pub name: String,
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
        #[arg(long)]
        format: Option<String>,
    },
    Create(NetworkCreateArgs),
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks no container uses
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a container to a network
    Connect {
        #[arg(long = "alias")]
        alias: Vec<String>,
        #[arg(long)]
        ip: Option<String>,
        #[arg(long)]
        ip6: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        #[arg(short = 'f', long = "filter")]
        filter: Vec<String>,
        #[arg(long)]
        format: Option<String>,
    },
    Create {
        #[arg(short = 'd', long)]
        driver: Option<String>,
        #[arg(long = "label")]
        label: Vec<String>,
        /// Driver options (type, device, o)
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        name: Option<String>,
    },
    Inspect {
        #[arg(short = 'f', long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    #[command(alias = "remove")]
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused anonymous volumes (all unused ones with --all)
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    #[command(alias = "list")]
    Ls(ImagesArgs),
    #[command(alias = "remove")]
    Rm(RmiArgs),
    Inspect(InspectArgs),
    Tag {
        source: String,
        target: String,
    },
    History(HistoryArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    Import(ImportArgs),
    Save(SaveArgs),
    Load(LoadArgs),
    Pull(PullArgs),
    Push(PushArgs),
}

#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching (default ctrl-p,ctrl-q, or `detachKeys`
    /// in the docker CLI's config.json)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    #[arg(long)]
    pub privileged: bool,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// IPv4 address on the (user) network
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address on the (user, --ipv6) network
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// The MAC address of the container's interface on its network
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Another name for the container on its user network
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Nameservers for the container's resolv.conf
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Search domains for the container's resolv.conf
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Resolver options for the container's resolv.conf
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// A host-to-IP entry in /etc/hosts (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// A legacy link to another container (name[:alias])
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Expose a port without publishing it
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Publish every exposed port on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Security options (seccomp=unconfined)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Restart policy to apply when a container exits (no, on-failure[:max-retries],
    /// always, unless-stopped)
    #[arg(long)]
    pub restart: Option<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// What to do when the container turns unhealthy: none, kill, restart, stop
    #[arg(long = "health-on-failure")]
    pub health_on_failure: Option<String>,
    /// PID namespace to use (host, container:<name|id>)
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// IPC mode to use (private, shareable, host, none)
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// Cgroup namespace to use (host, private)
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// User namespace to use (host)
    #[arg(long = "userns")]
    pub userns: Option<String>,
    /// Mount a tmpfs directory (/path[:options])
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount (type=bind|tmpfs,source=,target=,readonly,...)
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// The OCI runtime to run the container with (berth, or one the daemon lists in
    /// `info`: runc, crun, ...)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Add a host device to the container (/dev/x[:/dev/y[:rwm]])
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list (c 10:229 rwm)
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Namespaced kernel parameters (key=value)
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Tune the host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj")]
    pub oom_score_adj: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size, max-file, compress)
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    #[arg(long = "platform")]
    pub platform: Option<String>,
    #[arg(long = "pull")]
    pub pull: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[arg(short = 'a', long)]
    pub attach: bool,
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching (default ctrl-p,ctrl-q, or `detachKeys`
    /// in the docker CLI's config.json)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    #[arg(short = 'l', long)]
    pub latest: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    #[arg(short = 'f', long)]
    pub follow: bool,
    #[arg(short = 't', long)]
    pub timestamps: bool,
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    #[arg(long = "sig-proxy", default_value_t = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching (default ctrl-p,ctrl-q, or `detachKeys`
    /// in the docker CLI's config.json)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching (default ctrl-p,ctrl-q, or `detachKeys`
    /// in the docker CLI's config.json)
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune {
        /// Remove all build cache, not just what no image or container uses
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag)
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Networking mode for the RUN instructions
    #[arg(long)]
    pub network: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// The context: a directory, or - for a tar (or a Dockerfile) on stdin
    pub path: String,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a local path (`-` reads a tar stream from stdin)
    pub source: String,
    /// CONTAINER:DEST_PATH or a local path (`-` writes a tar stream to stdout)
    pub destination: String,
    /// Keep the owners (uid:gid) of the copied files
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Follow a symlink at SRC_PATH in the container
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// No progress output (berth prints none)
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub container: String,
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(long)]
    pub digests: bool,
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(short = 'H', long = "human", default_value_t = true)]
    pub human: bool,
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    #[arg(long)]
    pub platform: Option<String>,
    /// A tarball path, or `-` for STDIN
    pub file: String,
    pub reference: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Platform, e.g. linux/amd64
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct FormatArgs {
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Daemon configuration file, in Docker's daemon.json keys
    #[arg(long = "config-file")]
    pub config_file: Option<PathBuf>,
    #[arg(
        long = "data-root",
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    pub data_root: PathBuf,
    #[arg(long = "exec-root", default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Daemon socket(s) to listen on
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    #[arg(long = "cgroup-parent", default_value = "/berth")]
    pub cgroup_parent: String,
    /// A registry whose certificate is not checked, or reached over plain HTTP when it
    /// has no TLS (host, host:port or CIDR; loopback ones always are)
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// A pull mirror: URL (for Docker Hub, as dockerd) or REGISTRY=URL (for any other
    /// registry); mirrors are tried in the order given, then the registry itself
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Per-registry CA and client certificates: <dir>/<host:port>/{ca.crt,client.cert,client.key}
    #[arg(long = "registry-certs-dir", default_value = berth_registry::tls::DEFAULT_CERTS_DIR)]
    pub registry_certs_dir: PathBuf,
    /// Shims kept started ahead of time (0: start each one on demand)
    #[arg(long = "warm-shims", default_value_t = 1)]
    pub warm_shims: usize,
    /// The default bridge network's device (made if missing)
    #[arg(short = 'b', long, default_value = "berth0")]
    pub bridge: String,
    /// The default bridge's address and prefix
    #[arg(long, default_value = "172.17.0.1/16")]
    pub bip: String,
    /// Give default bridge containers addresses from this range of --bip's subnet
    #[arg(long = "fixed-cidr")]
    pub fixed_cidr: Option<String>,
    /// MTU of the default bridge and its containers' interfaces
    #[arg(long, default_value_t = 1500)]
    pub mtu: u32,
    /// Turn on the host's IP forwarding, so containers reach other networks
    #[arg(long = "ip-forward", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub ip_forward: bool,
    /// Masquerade containers' traffic that leaves the host
    #[arg(long = "ip-masq", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub ip_masq: bool,
    /// Set no_new_privileges for every container that does not ask otherwise
    #[arg(long = "no-new-privileges")]
    pub no_new_privileges: bool,
    /// An external OCI runtime containers may choose with --runtime: name=path (runc and
    /// crun are added when found on PATH)
    #[arg(long = "add-runtime")]
    pub add_runtimes: Vec<String>,
    /// The runtime of containers that do not choose one (berth: the built-in one)
    #[arg(long = "default-runtime", default_value = "berth")]
    pub default_runtime: String,
    /// Serve Kubernetes' CRI v1 (RuntimeService, ImageService) beside the Engine API, on
    /// the same engine: berth is then a node's container runtime
    #[arg(long)]
    pub cri: bool,
    /// The CRI socket
    #[arg(long = "cri-socket", default_value = berth_cri::config::DEFAULT_SOCKET)]
    pub cri_socket: PathBuf,
    /// The address of the CRI streaming server that serves exec, attach and port-forward
    /// (the URLs handed to the kubelet): loopback on a free port unless given, as it
    /// carries a shell into containers to whoever can reach it with a live token
    #[arg(long = "cri-stream-address", default_value = "127.0.0.1:0")]
    pub cri_stream_address: std::net::SocketAddr,
    /// Serve NRI (the Node Resource Interface) to plugins on this socket: they take part
    /// in the lives of CRI's pods and containers (needs --cri)
    #[arg(long = "nri-socket")]
    pub nri_socket: Option<PathBuf>,
    /// Where the CRI server finds CNI network configs (the first in name order is used)
    #[arg(long = "cni-conf-dir", default_value = berth_cri::config::DEFAULT_CNI_CONF_DIR)]
    pub cni_conf_dir: PathBuf,
    /// Where CNI plugins are looked for, in order (default: /opt/cni/bin, then Debian's
    /// /usr/lib/cni)
    #[arg(long = "cni-bin-dir")]
    pub cni_bin_dirs: Vec<PathBuf>,
    /// daemon.json `runtimes.<name>.runtimeArgs`: arguments each runtime is run with.
    #[arg(skip)]
    pub runtime_args: std::collections::BTreeMap<String, Vec<String>>,
    /// Default json-file log options for containers (max-size, max-file, compress);
    /// berth rotates by default: max-size=20m, max-file=5
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Seconds a client may take to send a request's headers
    #[arg(long = "api-header-timeout", default_value_t = 30)]
    pub api_header_timeout: u64,
    /// Connections one client (peer uid or address) may have open at once
    #[arg(long = "api-max-connections-per-client", default_value_t = 1024)]
    pub api_max_connections_per_client: usize,
    /// Use TLS on tcp:// hosts (--tls=false: plain TCP, which gives the network root)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub tls: Option<bool>,
    /// Use TLS and require clients to present a certificate signed by --tlscacert
    #[arg(long)]
    pub tlsverify: bool,
    /// CA that client certificates must be signed by (default $DOCKER_CERT_PATH/ca.pem)
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's certificate (default $DOCKER_CERT_PATH/cert.pem)
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// The daemon's key (default $DOCKER_CERT_PATH/key.pem)
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json': one JSON object a line)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template ('table', 'json', or a Go-style template)
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}
