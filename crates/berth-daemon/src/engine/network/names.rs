//! What a container's /etc/hosts and resolv.conf say beyond its own address:
//! `--add-host`, legacy `--link`, `--dns`, `--dns-search`, `--dns-option`.

use crate::error::{DaemonError, Result};
use berth_api::container::HostConfig;
use std::net::{IpAddr, Ipv4Addr};

/// `name:ip` or `name=ip` (`host-gateway`: the default bridge's address, `gateway`).
pub fn extra_host(spec: &str, gateway: Option<Ipv4Addr>) -> Result<(String, IpAddr)> {
    let bad = || {
        DaemonError::InvalidParameter(format!(
            "HostConfig.ExtraHosts: invalid IP address in add-host: {spec:?}"
        ))
    };
    let (name, ip) = spec
        .split_once('=')
        .or_else(|| spec.split_once(':'))
        .ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    let ip = match ip.trim_start_matches('[').trim_end_matches(']') {
        "host-gateway" => IpAddr::V4(gateway.unwrap_or(Ipv4Addr::UNSPECIFIED)),
        other => other.parse().map_err(|_| bad())?,
    };
    Ok((name.to_string(), ip))
}

/// `name[:alias]` of a legacy link: (the container, the alias it is known by).
pub fn parse_link(spec: &str) -> Result<(String, String)> {
    let spec = spec.trim_start_matches('/');
    let (name, alias) = match spec.split_once(':') {
        Some((n, a)) => (n, a.rsplit('/').next().unwrap_or(a)),
        None => (spec, spec),
    };
    if name.is_empty() || alias.is_empty() {
        return Err(DaemonError::InvalidParameter(format!(
            "HostConfig.Links: invalid link {spec:?}"
        )));
    }
    Ok((name.to_string(), alias.to_string()))
}

/// The user's resolver settings.
pub fn resolv_options(hc: &HostConfig) -> berth_net::files::ResolvOptions {
    berth_net::files::ResolvOptions {
        nameservers: hc.dns.clone().unwrap_or_default(),
        search: hc.dns_search.clone().unwrap_or_default(),
        options: hc.dns_options.clone().unwrap_or_default(),
    }
}

/// The environment Docker gives a container for each legacy link: the linked
/// container's name, its exposed ports as `ALIAS_PORT_80_TCP=tcp://ip:80` and friends,
/// and its own environment as `ALIAS_ENV_KEY`.
pub fn link_env(
    alias: &str,
    own_name: &str,
    ip: &str,
    exposed: &[(u16, &str)],
    target_env: &[String],
) -> Vec<String> {
    let prefix: String = alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut out = vec![format!(
        "{prefix}_NAME=/{}/{alias}",
        own_name.trim_start_matches('/')
    )];
    let mut ports: Vec<(u16, &str)> = exposed.to_vec();
    ports.sort();
    if let Some((port, proto)) = ports.first() {
        out.push(format!("{prefix}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &ports {
        let p = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        out.push(format!("{p}={proto}://{ip}:{port}"));
        out.push(format!("{p}_ADDR={ip}"));
        out.push(format!("{p}_PORT={port}"));
        out.push(format!("{p}_PROTO={proto}"));
    }
    for e in target_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        // Docker leaves out the variables every container has.
        if matches!(k, "HOME" | "HOSTNAME" | "PATH") {
            continue;
        }
        out.push(format!("{prefix}_ENV_{k}={v}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_hosts_and_links() {
        let gw_ip = Ipv4Addr::new(172, 17, 0, 1);
        let gw = Some(gw_ip);
        assert_eq!(
            extra_host("db:10.0.0.5", gw).unwrap(),
            ("db".into(), "10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            extra_host("h=host-gateway", gw).unwrap().1,
            IpAddr::V4(gw_ip)
        );
        assert_eq!(
            extra_host("v6:[::1]", gw).unwrap().1,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(extra_host("nohost", gw).is_err());
        assert!(extra_host("x:not-an-ip", gw).is_err());
        assert_eq!(
            parse_link("web:site").unwrap(),
            ("web".into(), "site".into())
        );
        assert_eq!(
            parse_link("/web:/me/site").unwrap(),
            ("web".into(), "site".into())
        );
        assert_eq!(parse_link("web").unwrap(), ("web".into(), "web".into()));
        let env = link_env(
            "db",
            "/app",
            "10.0.0.5",
            &[(5432, "tcp")],
            &["PGDATA=/d".into(), "PATH=/bin".into()],
        );
        assert_eq!(
            env,
            [
                "DB_NAME=/app/db",
                "DB_PORT=tcp://10.0.0.5:5432",
                "DB_PORT_5432_TCP=tcp://10.0.0.5:5432",
                "DB_PORT_5432_TCP_ADDR=10.0.0.5",
                "DB_PORT_5432_TCP_PORT=5432",
                "DB_PORT_5432_TCP_PROTO=tcp",
                "DB_ENV_PGDATA=/d",
            ]
        );
    }
}
