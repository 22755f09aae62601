//! The files Docker writes for each container: /etc/hosts and /etc/resolv.conf.

use std::net::IpAddr;

/// The entries every container's /etc/hosts starts with.
pub const BASE_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's embedded resolver's address, inside every container on a user network.
pub const EMBEDDED_DNS: &str = "127.0.0.11";

/// Docker's fallback when the host has no nameserver a container can reach.
const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// /etc/hosts: the base entries, `extra` (`--add-host`, links) in order, then the
/// container's own address and names.
pub fn hosts(own: Option<(IpAddr, &[String])>, extra: &[(String, IpAddr)]) -> String {
    let mut out = BASE_HOSTS.to_string();
    for (name, ip) in extra {
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some((ip, names)) = own {
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    out
}

/// What a container's resolv.conf says besides its nameservers.
#[derive(Debug, Clone, Default)]
pub struct ResolvOptions {
    /// `--dns`: replaces the host's nameservers.
    pub nameservers: Vec<String>,
    /// `--dns-search`: replaces the host's search domains.
    pub search: Vec<String>,
    /// `--dns-option`: replaces the host's options.
    pub options: Vec<String>,
}

fn is_loopback(ns: &str) -> bool {
    ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// resolv.conf from the host's: its nameservers (without loopback ones, which the
/// container cannot reach), search domains and options, each replaced by what the user
/// gave. With `embedded`, the nameserver is Docker's resolver at 127.0.0.11, which
/// forwards what it does not know to the host's nameservers.
pub fn resolv_conf(host: &str, user: &ResolvOptions, embedded: bool) -> String {
    let mut nameservers = vec![];
    let mut search = vec![];
    let mut options = vec![];
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => nameservers.extend(words.next().map(str::to_string)),
            Some("search") | Some("domain") => search = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if !user.nameservers.is_empty() {
        nameservers = user.nameservers.clone();
    }
    if !user.search.is_empty() {
        search = user.search.clone();
    }
    if !user.options.is_empty() {
        options = user.options.clone();
    }
    let mut out = String::new();
    if embedded {
        out.push_str(&format!("nameserver {EMBEDDED_DNS}\n"));
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    } else {
        nameservers.retain(|ns| !is_loopback(ns));
        if nameservers.is_empty() {
            nameservers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
        }
        for ns in &nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The nameservers the embedded resolver forwards to: the user's, else the host's
/// (loopback ones included: the resolver runs in the daemon, on the host).
pub fn upstream_nameservers(host: &str, user: &ResolvOptions) -> Vec<String> {
    if !user.nameservers.is_empty() {
        return user.nameservers.clone();
    }
    host.lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

    #[test]
    fn resolv_conf_as_docker_writes_it() {
        let plain = resolv_conf(HOST, &ResolvOptions::default(), false);
        assert_eq!(
            plain,
            "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
        );
        let embedded = resolv_conf(HOST, &ResolvOptions::default(), true);
        assert_eq!(
            embedded,
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        let only_local = resolv_conf("nameserver 127.0.0.1\n", &ResolvOptions::default(), false);
        assert_eq!(only_local, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let user = ResolvOptions {
            nameservers: vec!["192.0.2.1".into()],
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            resolv_conf(HOST, &user, false),
            "nameserver 192.0.2.1\nsearch a.example\noptions ndots:2\n"
        );
        assert_eq!(
            upstream_nameservers(HOST, &ResolvOptions::default()),
            ["127.0.0.53", "10.0.0.2"]
        );
    }

    #[test]
    fn hosts_file() {
        let h = hosts(
            Some(("172.17.0.2".parse().unwrap(), &["abc123".to_string()])),
            &[("db".into(), "10.1.1.1".parse().unwrap())],
        );
        assert!(h.starts_with(BASE_HOSTS));
        assert!(h.ends_with("10.1.1.1\tdb\n172.17.0.2\tabc123\n"));
    }
}
