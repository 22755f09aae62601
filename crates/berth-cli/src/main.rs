#![recursion_limit = "256"]
//! `berth`: the docker-compatible CLI, the daemon (`berth daemon` or `berthd`), and the
//! internal shim and exec helper. This file only parses arguments and dispatches.

mod cli;
mod client;
mod commands;
mod credentials;
mod daemon_config;
mod docs;
mod format;
mod progress;
mod stream;
mod units;

use clap::{CommandFactory, FromArgMatches};
use cli::{BuilderCommand, Cli, Command, ContainerCommand, DaemonArgs, DaemonCli, ImageCommand};
use client::{CliError, Client};
use commands::{containers, images, run, system};

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    // Bound at /sbin/docker-init in a container started with --init.
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "docker-init")
    {
        let args: Vec<String> = std::env::args().skip(1).collect();
        std::process::exit(berth_runtime::init_process::run(&args));
    }
    // The runtime's own processes (a container's shim, the exec helper) are started by
    // berth-runtime, which alone knows their arguments. They stay single-threaded.
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("shim") => std::process::exit(berth_runtime::shim::main(&args[1..])),
        Some("nsexec") => std::process::exit(berth_runtime::exec::main(&args[1..])),
        Some("pod-init") => std::process::exit(berth_runtime::pod_init::main(&args[1..])),
        Some("pod-userns") => std::process::exit(berth_runtime::pod_userns::main()),
        _ => {}
    }
    let code = if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "berthd")
    {
        let m = DaemonCli::command().get_matches();
        match DaemonCli::from_arg_matches(&m) {
            Ok(cli) => configured_daemon(cli.args, &m),
            Err(e) => e.exit(),
        }
    } else {
        let m = Cli::command().get_matches();
        let cli = Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit());
        match cli.command {
            Command::Completion { shell } => docs::completion(shell),
            Command::GenerateMan { dir } => docs::generate_man(&dir),
            Command::Daemon(a) => match m.subcommand_matches("daemon") {
                Some(dm) => configured_daemon(a, dm),
                None => daemon(a),
            },
            Command::Registry(cli::RegistryCommand::Serve {
                addr,
                root,
                htpasswd,
                tls_cert,
                tls_key,
                tls_client_ca,
            }) => registry_serve(berth_registry_server::ServeOptions {
                addr: &addr,
                root: &root,
                htpasswd: htpasswd.as_deref(),
                tls: tls_cert
                    .as_deref()
                    .zip(tls_key.as_deref())
                    .map(|(cert, key)| berth_registry::tls::ServerFiles {
                        cert,
                        key,
                        client_ca: tls_client_ca.as_deref(),
                    }),
            }),
            Command::Registry(cli::RegistryCommand::GarbageCollect { root, dry_run }) => {
                registry_gc(&root, dry_run)
            }
            command => client_main(cli.host, cli.tls, command),
        }
    };
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// The daemon with its configuration file applied over the defaults (flags given on the
/// command line are `dm`'s).
fn configured_daemon(mut a: DaemonArgs, dm: &clap::ArgMatches) -> i32 {
    let from_flag = |id: &str| dm.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let (path, explicit) = match &a.config_file {
        Some(p) => (p.clone(), true),
        None => (std::path::PathBuf::from(daemon_config::DEFAULT_PATH), false),
    };
    if let Err(e) = daemon_config::apply(&mut a, &path, explicit, &from_flag) {
        eprintln!(
            "berthd: unable to configure the daemon with file {}: {e}",
            path.display()
        );
        return 1;
    }
    daemon(a)
}

fn daemon(a: DaemonArgs) -> i32 {
    // Whatever fds whoever started berthd left open (a host directory, a pipe) are closed
    // before anything else: shims and containers must never inherit them. Only the sockets
    // systemd passed for fd:// hosts are kept.
    let activation_fds = if a.hosts.iter().any(|h| h.starts_with("fd://")) {
        berth_daemon::listen::activation_fds()
    } else {
        vec![]
    };
    berth_runtime::hygiene::close_fds_except(&activation_fds);
    for fd in &activation_fds {
        // SAFETY: fcntl on a descriptor this process owns; close-on-exec keeps it from shims.
        unsafe { libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDNAMES");
    if a.nri_socket.is_some() && !a.cri {
        eprintln!("berthd: --nri-socket needs --cri (NRI plugins see CRI's pods and containers)");
        return 1;
    }
    let tls = match daemon_tls(&a) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("berthd: {e}");
            return 1;
        }
    };
    let hosts = if a.hosts.is_empty() {
        vec![format!(
            "unix://{}",
            a.exec_root.join("berth.sock").display()
        )]
    } else {
        a.hosts.clone()
    };
    let mut log_opts = std::collections::BTreeMap::new();
    for o in &a.log_opts {
        let Some((k, v)) = o.split_once('=') else {
            eprintln!("berthd: invalid --log-opt {o:?}: want key=value");
            return 1;
        };
        log_opts.insert(k.to_string(), v.to_string());
    }
    if let Err(e) = berth_daemon::engine::logs::LogOptions::parse(None, &log_opts) {
        eprintln!("berthd: {e}");
        return 1;
    }
    // Shims (and so inits and exec helpers) run from a sealed copy, never the host file.
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let sealed = match berth_runtime::sealed_binary::SealedBinary::copy_of(&exe) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd: {e}");
            return 1;
        }
    };
    let berth_binary = sealed.path();
    // Lives as long as the daemon: its path is how shims are started.
    std::mem::forget(sealed);
    let runtimes = match daemon_runtimes(&a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berthd: {e}");
            return 1;
        }
    };
    if a.default_runtime != berth_daemon::config::BUILTIN_RUNTIME
        && !runtimes.contains_key(&a.default_runtime)
    {
        eprintln!(
            "berthd: default runtime {:?} is not a configured runtime",
            a.default_runtime
        );
        return 1;
    }
    let registry_mirrors = match daemon_mirrors(&a.registry_mirrors) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("berthd: {e}");
            return 1;
        }
    };
    let cfg = berth_daemon::DaemonConfig {
        data_root: a.data_root,
        exec_root: a.exec_root,
        hosts,
        pidfile: a.pidfile,
        berth_binary,
        cgroup_parent: a.cgroup_parent,
        warm_shims: a.warm_shims,
        bridge: a.bridge,
        bip: a.bip,
        fixed_cidr: a.fixed_cidr,
        mtu: a.mtu,
        ip_forward: a.ip_forward,
        ip_masq: a.ip_masq,
        insecure_registries: a.insecure_registries,
        registry_certs_dir: a.registry_certs_dir,
        no_new_privileges: a.no_new_privileges,
        log_opts,
        api_header_timeout: std::time::Duration::from_secs(a.api_header_timeout.max(1)),
        api_max_connections_per_client: a.api_max_connections_per_client.max(1),
        tls,
        activation_fds,
        runtimes,
        default_runtime: a.default_runtime.clone(),
        registry_mirrors,
    };
    let mut services = vec![];
    if a.cri {
        services.push(berth_cri::server::service(berth_cri::CriConfig {
            socket: a.cri_socket,
            streaming_address: a.cri_stream_address.to_string(),
            nri_socket: a.nri_socket,
            cni_conf_dir: a.cni_conf_dir,
            cni_bin_dirs: if a.cni_bin_dirs.is_empty() {
                berth_cri::config::DEFAULT_CNI_BIN_DIRS
                    .iter()
                    .map(std::path::PathBuf::from)
                    .collect()
            } else {
                a.cni_bin_dirs
            },
        }));
    }
    serve_until_done("berthd", berth_daemon::server::run_with(cfg, services))
}

/// The external OCI runtimes: runc and crun when found on PATH (as dockerd registers
/// runc), then those the flags and daemon.json add, by name.
fn daemon_runtimes(
    a: &DaemonArgs,
) -> Result<std::collections::BTreeMap<String, berth_runtime::task::ExternalRuntime>, String> {
    use berth_runtime::task::ExternalRuntime;
    let runtime = |name: &str, path: std::path::PathBuf| ExternalRuntime {
        name: name.into(),
        path,
        args: a.runtime_args.get(name).cloned().unwrap_or_default(),
    };
    let mut out = std::collections::BTreeMap::new();
    for name in ["runc", "crun"] {
        if let Some(path) = find_on_path(name) {
            out.insert(name.to_string(), runtime(name, path));
        }
    }
    for spec in &a.add_runtimes {
        let Some((name, path)) = spec
            .split_once('=')
            .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        else {
            return Err(format!("invalid runtime {spec:?}: want name=path"));
        };
        if name == berth_daemon::config::BUILTIN_RUNTIME {
            return Err(format!(
                "runtime name {name:?} is reserved for the built-in runtime"
            ));
        }
        let path = if path.contains('/') {
            std::path::PathBuf::from(path)
        } else {
            find_on_path(path).ok_or_else(|| format!("runtime {name}: {path} is not on PATH"))?
        };
        if !path.is_file() {
            return Err(format!("runtime {name}: {} does not exist", path.display()));
        }
        out.insert(name.to_string(), runtime(name, path));
    }
    Ok(out)
}

/// `--registry-mirror` values by registry: `URL` is Docker Hub's (as dockerd), and
/// `REGISTRY=URL` another registry's. Each URL is checked.
fn daemon_mirrors(
    specs: &[String],
) -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for spec in specs {
        let (registry, url) = match spec.split_once('=') {
            Some((r, u)) if !r.contains("://") => (r, u),
            _ => ("docker.io", spec.as_str()),
        };
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            r => r,
        };
        if registry.is_empty() || registry.contains('/') {
            return Err(format!(
                "invalid registry mirror {spec:?}: want URL or REGISTRY=URL"
            ));
        }
        berth_registry::client::Mirror::parse(url).map_err(|e| e.to_string())?;
        out.entry(registry.to_string())
            .or_default()
            .push(url.trim_end_matches('/').to_string());
    }
    Ok(out)
}

/// An executable named `name` in $PATH (or the sbin dirs, where Debian puts runc).
fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// dockerd's TLS flags as settings: --tlsverify (mutual), --tls (server only), --tls=false
/// (plain TCP, asked for), or nothing said. Files default to $DOCKER_CERT_PATH or ~/.docker.
fn daemon_tls(a: &DaemonArgs) -> Result<berth_daemon::listen::TlsSettings, String> {
    use berth_daemon::listen::TlsSettings;
    let dir = std::env::var_os("DOCKER_CERT_PATH")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".docker")))
        .unwrap_or_default();
    let file = |flag: &Option<std::path::PathBuf>, name: &str| {
        flag.clone().unwrap_or_else(|| dir.join(name))
    };
    if a.tlsverify {
        if a.tls == Some(false) {
            return Err("--tlsverify and --tls=false contradict each other".into());
        }
        return Ok(TlsSettings::Mutual {
            ca: file(&a.tlscacert, "ca.pem"),
            cert: file(&a.tlscert, "cert.pem"),
            key: file(&a.tlskey, "key.pem"),
        });
    }
    Ok(match a.tls {
        Some(true) => TlsSettings::Server {
            cert: file(&a.tlscert, "cert.pem"),
            key: file(&a.tlskey, "key.pem"),
        },
        Some(false) => TlsSettings::Disabled,
        None => TlsSettings::Unset,
    })
}

/// Runs a server on a multi-threaded runtime; its error goes to stderr, as exit code 1.
fn serve_until_done<E: std::fmt::Display>(
    name: &str,
    server: impl std::future::Future<Output = Result<(), E>>,
) -> i32 {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(server).map_err(|e| e.to_string()));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    }
}

fn registry_serve(opts: berth_registry_server::ServeOptions<'_>) -> i32 {
    serve_until_done("berth registry", berth_registry_server::serve(opts))
}

fn registry_gc(root: &std::path::Path, dry_run: bool) -> i32 {
    let result = berth_registry_server::storage::Storage::open(root)
        .and_then(|s| s.garbage_collect(dry_run));
    match result {
        Ok(c) => {
            for d in &c.blobs {
                println!("{d}");
            }
            let verb = if dry_run {
                "eligible for deletion"
            } else {
                "deleted"
            };
            println!("{} blobs {verb}, {} bytes", c.blobs.len(), c.bytes);
            0
        }
        Err(e) => {
            eprintln!("berth registry: {e}");
            1
        }
    }
}

fn host(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("BERTH_HOST").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| cli::DEFAULT_HOST.to_string())
}

fn client_main(host_flag: Option<String>, tls: cli::ClientTls, command: Command) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let client = Client::new(&host(host_flag), &tls)?;
        dispatch(&client, command).await
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            match e {
                CliError::Daemon { .. } | CliError::Connect(_) | CliError::Other(_) => 1,
            }
        }
    }
}

async fn dispatch(c: &Client, command: Command) -> client::Result<i32> {
    match command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(c, a).await,
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            run::create_cmd(c, a).await
        }
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            run::start(c, a).await
        }
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
            run::attach(c, a).await
        }
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => run::exec(c, a).await,
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => {
            containers::stop(c, a, false).await
        }
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            containers::stop(c, a, true).await
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => {
            containers::kill(c, a).await
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => containers::rm(c, a).await,
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => containers::ps(c, a).await,
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => {
            containers::logs(c, a).await
        }
        Command::Inspect(a) => containers::inspect(c, a, None).await,
        Command::Container(ContainerCommand::Inspect(a)) => {
            containers::inspect(c, a, Some("container")).await
        }
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => {
            containers::top(c, a).await
        }
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => {
            containers::wait(c, a).await
        }
        Command::Rename {
            container,
            new_name,
        }
        | Command::Container(ContainerCommand::Rename {
            container,
            new_name,
        }) => containers::rename(c, &container, &new_name).await,
        Command::Build(a) => commands::build::build(c, a).await,
        Command::Builder(BuilderCommand::Prune { all, force: _ }) => {
            commands::build::prune(c, all).await
        }
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            images::commit(c, a).await
        }
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => {
            commands::files::cp(c, a).await
        }
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            commands::files::export(c, a).await
        }
        Command::Diff { container } | Command::Container(ContainerCommand::Diff { container }) => {
            commands::files::diff(c, &container).await
        }
        Command::Port {
            container,
            private_port,
        }
        | Command::Container(ContainerCommand::Port {
            container,
            private_port,
        }) => containers::port(c, &container, private_port.as_deref()).await,
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            containers::simple(c, a, "pause").await
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            containers::simple(c, a, "unpause").await
        }
        Command::Container(ContainerCommand::Prune(a)) => containers::prune(c, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(c, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(c, a).await,
        Command::Image(ImageCommand::Inspect(a)) => containers::inspect(c, a, Some("image")).await,
        Command::Tag { source, target } | Command::Image(ImageCommand::Tag { source, target }) => {
            images::tag(c, &source, &target).await
        }
        Command::Image(ImageCommand::History(a)) => images::history(c, a).await,
        Command::Network(cmd) => commands::objects::network(c, cmd).await,
        Command::Volume(cmd) => commands::objects::volume(c, cmd).await,
        Command::Image(ImageCommand::Prune(a)) => images::prune(c, a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => images::import(c, a).await,
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => images::save(c, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => images::load(c, a).await,
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => images::pull(c, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => images::push(c, a).await,
        Command::Login(a) => system::login(c, a).await,
        Command::Logout { server } => system::logout(server.as_deref()),
        Command::Version(a) => system::version(c, a).await,
        Command::Info(a) => system::info(c, a).await,
        Command::Events(a) => system::events(c, a).await,
        Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => {
            containers::update(c, a).await
        }
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
            commands::stats::stats(c, a).await
        }
        Command::Daemon(_)
        | Command::Registry(_)
        | Command::Completion { .. }
        | Command::GenerateMan { .. } => Ok(0),
    }
}
