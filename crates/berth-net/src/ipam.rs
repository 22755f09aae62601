//! Address allocation in one IPv4 subnet (and `Pool6`, in one IPv6 subnet), as Docker's
//! default IPAM does it: the network
//! and broadcast addresses and the gateway are never handed out, addresses come from the
//! IP range if one is set, and the next free address after the last one given is taken
//! (so a released address is not reused at once).

use crate::error::{NetError, Result};
use ipnet::{Ipv4Net, Ipv6Net};
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

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

    /// dockerd's subnet status: addresses in use or reserved (network, broadcast,
    /// gateway, allocated), and addresses of the range still free for allocation.
    pub fn status(&self) -> SubnetStatus {
        let reserved = [self.subnet.network(), self.subnet.broadcast(), self.gateway]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let range_size =
            u64::from(u32::from(self.range.broadcast()) - u32::from(self.range.network())) + 1;
        let unusable_in_range = [self.subnet.network(), self.subnet.broadcast(), self.gateway]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|ip| self.range.contains(ip))
            .count() as u64;
        let allocated_in_range = self
            .allocated
            .iter()
            .filter(|ip| self.range.contains(*ip))
            .count() as u64;
        SubnetStatus {
            ips_in_use: reserved + self.allocated.len() as u64,
            dynamic_ips_available: range_size - unusable_in_range - allocated_in_range,
        }
    }
}

/// How much of a subnet is used (`GET /networks/{id}` `Status.IPAM.Subnets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubnetStatus {
    #[serde(rename = "IPsInUse")]
    pub ips_in_use: u64,
    #[serde(rename = "DynamicIPsAvailable")]
    pub dynamic_ips_available: u64,
}

/// `fd12:3456:789a::/64` → the subnet (host bits zero, room for a gateway and hosts).
pub fn parse_subnet6(s: &str) -> Result<Ipv6Net> {
    let net: Ipv6Net = s
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid subnet {s}")))?;
    if net.trunc() != net {
        return Err(NetError::Invalid(format!(
            "invalid subnet {s}: it should be {}",
            net.trunc()
        )));
    }
    if net.prefix_len() > 126 {
        return Err(NetError::Invalid(format!(
            "invalid subnet {s}: too small for a network"
        )));
    }
    Ok(net)
}

/// A unique local /64 (RFC 4193) for a network given none, its 40-bit global ID taken
/// from `id` (the network's random ID), as Docker picks one from fd00::/8.
pub fn ula_subnet(id: &str) -> Ipv6Net {
    let hex: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .take(10)
        .collect();
    let global = u64::from_str_radix(&format!("{hex:0<10}"), 16).unwrap_or(0) & 0xff_ffff_ffff;
    let prefix = (0xfdu128 << 120) | (u128::from(global) << 80);
    Ipv6Net::new(Ipv6Addr::from(prefix), 64).unwrap_or_default()
}

/// Address allocation in one IPv6 subnet: the subnet-router anycast address (the
/// subnet's first) and the gateway are never handed out; the next free address after the
/// last one given is taken.
#[derive(Debug, Clone)]
pub struct Pool6 {
    subnet: Ipv6Net,
    gateway: Ipv6Addr,
    allocated: BTreeSet<Ipv6Addr>,
    /// The offset in the subnet of the last address given.
    last: u128,
}

/// How far past the last address a free one is looked for: a /64 is never scanned whole.
const SCAN6: u128 = 1 << 20;

impl Pool6 {
    pub fn new(subnet: Ipv6Net, gateway: Option<Ipv6Addr>) -> Result<Self> {
        let gateway = gateway.unwrap_or_else(|| offset6(&subnet, 1));
        if !subnet.contains(&gateway) || gateway == subnet.network() {
            return Err(NetError::Invalid(format!(
                "no matching subnet for gateway {gateway}"
            )));
        }
        Ok(Self {
            subnet,
            gateway,
            allocated: BTreeSet::new(),
            last: 0,
        })
    }

    pub fn subnet(&self) -> Ipv6Net {
        self.subnet
    }

    pub fn gateway(&self) -> Ipv6Addr {
        self.gateway
    }

    fn size(&self) -> u128 {
        match 128 - u32::from(self.subnet.prefix_len()) {
            128 => u128::MAX,
            bits => 1u128 << bits,
        }
    }

    pub fn reserve(&mut self, ip: Ipv6Addr) -> Result<()> {
        if !self.subnet.contains(&ip) || ip == self.subnet.network() || ip == self.gateway {
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

    pub fn allocate(&mut self, requested: Option<Ipv6Addr>) -> Result<Ipv6Addr> {
        if let Some(ip) = requested {
            if !self.subnet.contains(&ip) {
                return Err(NetError::Invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
            self.reserve(ip)?;
            return Ok(ip);
        }
        let size = self.size();
        for step in 1..=SCAN6.min(size) {
            let offset = (self.last + step) % size;
            let ip = offset6(&self.subnet, offset);
            if offset != 0 && ip != self.gateway && !self.allocated.contains(&ip) {
                self.allocated.insert(ip);
                self.last = offset;
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(self.subnet.to_string()))
    }

    pub fn release(&mut self, ip: Ipv6Addr) {
        self.allocated.remove(&ip);
    }

    /// As `Pool::status`, saturating at 2^64 - 1 as dockerd does.
    pub fn status(&self) -> SubnetStatus {
        let used = 2 + self.allocated.len() as u128; // the subnet-router anycast address and the gateway
        SubnetStatus {
            ips_in_use: u64::try_from(used).unwrap_or(u64::MAX),
            dynamic_ips_available: u64::try_from(self.size().saturating_sub(used))
                .unwrap_or(u64::MAX),
        }
    }
}

fn offset6(subnet: &Ipv6Net, offset: u128) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(subnet.network()).wrapping_add(offset))
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
    fn subnet_status_counts_reserved_and_free() {
        let mut p = Pool::new(parse_subnet("10.9.0.0/29").unwrap(), None, None).unwrap();
        p.allocate(None).unwrap();
        let s = p.status();
        // network, broadcast, gateway and one container; 8 - 3 - 1 left.
        assert_eq!((s.ips_in_use, s.dynamic_ips_available), (4, 4));
        let range = Pool::new(
            parse_subnet("10.9.0.0/24").unwrap(),
            None,
            Some(parse_subnet("10.9.0.128/25").unwrap()),
        )
        .unwrap();
        // The broadcast address is in the range: 128 - 1 free.
        assert_eq!(range.status().dynamic_ips_available, 127);
        let p6 = Pool6::new(parse_subnet6("fd00::/64").unwrap(), None).unwrap();
        // A /64 less its router anycast address and gateway.
        assert_eq!(p6.status().dynamic_ips_available, u64::MAX - 1);
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

    #[test]
    fn ipv6_pool() {
        let subnet = parse_subnet6("fd00:1:2::/64").unwrap();
        let mut p = Pool6::new(subnet, None).unwrap();
        assert_eq!(p.gateway(), "fd00:1:2::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            p.allocate(None).unwrap(),
            "fd00:1:2::2".parse::<Ipv6Addr>().unwrap()
        );
        let asked: Ipv6Addr = "fd00:1:2::99".parse().unwrap();
        assert_eq!(p.allocate(Some(asked)).unwrap(), asked);
        assert!(p.allocate(Some(asked)).is_err(), "taken");
        assert!(p.allocate(Some("fd00:9::1".parse().unwrap())).is_err());
        assert!(parse_subnet6("fd00:1:2::1/64").is_err());
        let small = parse_subnet6("fd00::/126").unwrap();
        let mut p = Pool6::new(small, None).unwrap();
        p.allocate(None).unwrap();
        p.allocate(None).unwrap();
        assert!(
            p.allocate(None).is_err(),
            "::0 and the gateway are never given"
        );
        let ula = ula_subnet("0123456789abcdef");
        assert_eq!(ula.to_string(), "fd01:2345:6789::/64");
    }
}
