//! Address allocation in one IPv4 subnet, as Docker's default IPAM does it: the network
//! and broadcast addresses and the gateway are never handed out, addresses come from the
//! IP range if one is set, and the next free address after the last one given is taken
//! (so a released address is not reused at once).

use crate::error::{NetError, Result};
use ipnet::Ipv4Net;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

#[derive(Debug, Clone)]
pub struct Pool {
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    /// Where dynamic addresses come from (`--ip-range`); the subnet if unset.
    range: Ipv4Net,
    allocated: BTreeSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
}

/// `172.18.0.0/16` → the subnet (host bits must be zero, as Docker requires).
pub fn parse_subnet(s: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid subnet {s}")))?;
    if net.trunc() != net {
        return Err(NetError::Invalid(format!(
            "invalid subnet {s}: it should be {}",
            net.trunc()
        )));
    }
    if net.prefix_len() > 30 {
        return Err(NetError::Invalid(format!(
            "invalid subnet {s}: too small for a network"
        )));
    }
    Ok(net)
}

impl Pool {
    /// A pool with `gateway` (default: the subnet's first address) and an optional range.
    pub fn new(subnet: Ipv4Net, gateway: Option<Ipv4Addr>, range: Option<Ipv4Net>) -> Result<Self> {
        let gateway = match gateway {
            Some(g) => g,
            None => subnet
                .hosts()
                .next()
                .ok_or_else(|| NetError::Invalid(format!("subnet {subnet} has no hosts")))?,
        };
        if !subnet.contains(&gateway) {
            return Err(NetError::Invalid(format!(
                "no matching subnet for gateway {gateway}"
            )));
        }
        let range = range.unwrap_or(subnet);
        if !subnet.contains(&range) {
            return Err(NetError::Invalid(format!(
                "no matching subnet for range {range}"
            )));
        }
        Ok(Self {
            subnet,
            gateway,
            range,
            allocated: BTreeSet::new(),
            last: None,
        })
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn usable(&self, ip: Ipv4Addr) -> bool {
        ip != self.subnet.network() && ip != self.subnet.broadcast() && ip != self.gateway
    }

    /// Marks an address in use (a container that was running before a daemon restart).
    pub fn reserve(&mut self, ip: Ipv4Addr) -> Result<()> {
        if !self.subnet.contains(&ip) || !self.usable(ip) {
            return Err(NetError::Invalid(format!(
                "address {ip} is not usable in subnet {}",
                self.subnet
            )));
        }
        if !self.allocated.insert(ip) {
            return Err(NetError::InUse);
        }
        Ok(())
    }

    /// The address asked for, or the next free one.
    pub fn allocate(&mut self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        if let Some(ip) = requested {
            if !self.subnet.contains(&ip) {
                return Err(NetError::Invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
            self.reserve(ip)?;
            return Ok(ip);
        }
        let start = u32::from(self.last.unwrap_or(self.range.network()));
        let (lo, hi) = (
            u32::from(self.range.network()),
            u32::from(self.range.broadcast()),
        );
        let span = hi - lo + 1;
        for step in 1..=span {
            let ip = Ipv4Addr::from(lo + (start - lo + step) % span);
            if self.usable(ip) && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(self.subnet.to_string()))
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }

    pub fn in_use(&self) -> usize {
        self.allocated.len()
    }
}

/// Docker's MAC address for a container address: 02:42 and the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn hands_out_addresses_in_order_skipping_the_gateway() {
        let mut p = Pool::new(parse_subnet("10.9.0.0/29").unwrap(), None, None).unwrap();
        assert_eq!(p.gateway(), ip("10.9.0.1"));
        let got: Vec<_> = (0..5).map(|_| p.allocate(None).unwrap()).collect();
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"].map(ip)
        );
        assert!(matches!(p.allocate(None), Err(NetError::Exhausted(_))));
        // A released address comes back only after the others.
        p.release(ip("10.9.0.3"));
        assert_eq!(p.allocate(None).unwrap(), ip("10.9.0.3"));
    }

    #[test]
    fn requested_addresses_and_ranges() {
        let subnet = parse_subnet("172.30.0.0/24").unwrap();
        let mut p = Pool::new(
            subnet,
            Some(ip("172.30.0.254")),
            Some("172.30.0.128/25".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(p.allocate(None).unwrap(), ip("172.30.0.129"));
        assert_eq!(
            p.allocate(Some(ip("172.30.0.10"))).unwrap(),
            ip("172.30.0.10")
        );
        assert!(matches!(
            p.allocate(Some(ip("172.30.0.10"))),
            Err(NetError::InUse)
        ));
        assert!(p.allocate(Some(ip("172.30.0.254"))).is_err(), "the gateway");
        assert!(p.allocate(Some(ip("10.0.0.1"))).is_err(), "outside");
        assert!(Pool::new(subnet, Some(ip("10.0.0.1")), None).is_err());
    }

    #[test]
    fn subnets_must_be_networks() {
        assert!(parse_subnet("10.1.2.3/16").is_err());
        assert!(parse_subnet("nonsense").is_err());
        assert!(parse_subnet("10.1.0.0/31").is_err());
        assert_eq!(format_mac(&mac_for(ip("172.17.0.2"))), "02:42:ac:11:00:02");
    }
}
