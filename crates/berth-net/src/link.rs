//! Links through rtnetlink: the host's bridge, and a container's veth pair.

use crate::error::{NetError, Result};
use futures_util::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The errno of a failed netlink request, if the kernel gave one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// A netlink connection in the namespace of the thread that makes it. Its socket stays
/// in that namespace whichever thread then uses it.
fn connect_here() -> std::io::Result<Handle> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A netlink connection inside the network namespace `netns` (an open /proc/<pid>/ns/net),
/// made on a short-lived thread that joins it: threads of the runtime never change
/// namespace.
fn connect_in(netns: &File) -> Result<Handle> {
    let runtime = tokio::runtime::Handle::current();
    let ns = netns
        .try_clone()
        .map_err(|e| NetError::sys("the container's network namespace", e))?;
    std::thread::spawn(move || -> std::io::Result<Handle> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let _entered = runtime.enter();
        connect_here()
    })
    .join()
    .map_err(|_| NetError::Invalid("netlink thread panicked".into()))?
    .map_err(|e| NetError::sys("netlink in the container's namespace", e))
}

/// A container's end of a network: what `Netlink::attach` sets up.
#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    /// The container's network namespace (`/proc/<pid>/ns/net`).
    pub netns: &'a Path,
    pub bridge: &'a str,
    /// The veth's host end.
    pub host_ifname: &'a str,
    /// The veth's end in the container (`eth0`).
    pub ifname: &'a str,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// The default route; None for an internal network.
    pub gateway: Option<Ipv4Addr>,
    /// On an IPv6 network: the address and prefix, and the default route if any.
    pub address6: Option<(Ipv6Addr, u8)>,
    pub gateway6: Option<Ipv6Addr>,
    pub mac: [u8; 6],
    pub mtu: u32,
}

/// rtnetlink in the host's network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Must be called inside a tokio runtime, in the host's network namespace.
    pub fn connect() -> Result<Self> {
        Ok(Self {
            handle: connect_here().map_err(|e| NetError::sys("netlink", e))?,
        })
    }

    pub async fn index_of(&self, name: &str) -> Result<Option<u32>> {
        index_of(&self.handle, name).await
    }

    /// The bridge `name` with `gateway/prefix_len` on it, up: made if missing, left as it
    /// is otherwise (another daemon's containers may be on it).
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix_len: u8,
        mtu: u32,
    ) -> Result<u32> {
        let index = match self.index_of(name).await? {
            Some(i) => i,
            None => {
                let add = self
                    .handle
                    .link()
                    .add(LinkBridge::new(name).mtu(mtu).build())
                    .execute()
                    .await;
                match add {
                    Ok(()) => {}
                    Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                    Err(e) => return Err(NetError::netlink(format!("creating bridge {name}"), e)),
                }
                self.index_of(name)
                    .await?
                    .ok_or_else(|| NetError::Invalid(format!("bridge {name} vanished")))?
            }
        };
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(gateway), prefix_len)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if errno(&e) == Some(libc::EEXIST) => {}
            Err(e) => {
                return Err(NetError::netlink(
                    format!("adding {gateway}/{prefix_len} to {name}"),
                    e,
                ))
            }
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("bringing {name} up"), e))?;
        Ok(index)
    }

    /// The IPv6 gateway `gateway/prefix_len` on bridge `name`, IPv6 turned on there.
    pub async fn add_bridge_address6(
        &self,
        name: &str,
        gateway: Ipv6Addr,
        prefix_len: u8,
    ) -> Result<()> {
        let index = self
            .index_of(name)
            .await?
            .ok_or_else(|| NetError::Invalid(format!("bridge {name} does not exist")))?;
        let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        std::fs::write(&path, "0").map_err(|e| NetError::sys(path, e))?;
        add_address6(&self.handle, index, gateway, prefix_len).await
    }

    /// Removes a link (a bridge, or a veth's host end, which takes its peer with it);
    /// one that is already gone is not an error.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let Some(index) = self.index_of(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("deleting {name}"), e)),
        }
    }

    /// Creates the container's veth pair with its inner end made directly inside the
    /// container's namespace, puts the host end on the bridge, then addresses the inner
    /// end and routes through the gateway from inside the namespace.
    pub async fn attach(&self, a: &Attachment<'_>) -> Result<()> {
        let netns = File::open(a.netns)
            .map_err(|e| NetError::sys(format!("opening {}", a.netns.display()), e))?;
        let bridge = self
            .index_of(a.bridge)
            .await?
            .ok_or_else(|| NetError::Invalid(format!("bridge {} does not exist", a.bridge)))?;
        let peer = rtnetlink::LinkMessageBuilder::<LinkUnspec>::new()
            .name(a.ifname.to_string())
            .address(a.mac.to_vec())
            .mtu(a.mtu)
            .setns_by_fd(netns.as_raw_fd())
            .build();
        let veth = LinkVeth::new(a.host_ifname, a.ifname)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .controller(bridge)
            .mtu(a.mtu)
            .up()
            .build();
        self.handle
            .link()
            .add(veth)
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("creating veth {}", a.host_ifname), e))?;
        let inside = async {
            let ns = connect_in(&netns)?;
            let index = index_of(&ns, a.ifname).await?.ok_or_else(|| {
                NetError::Invalid(format!("{} did not appear in the container", a.ifname))
            })?;
            ns.address()
                .add(index, IpAddr::V4(a.address), a.prefix_len)
                .execute()
                .await
                .map_err(|e| NetError::netlink(format!("addressing {}", a.ifname), e))?;
            ns.link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
                .map_err(|e| NetError::netlink(format!("bringing {} up", a.ifname), e))?;
            if let Some(gw) = a.gateway {
                ns.route()
                    .add(
                        RouteMessageBuilder::<Ipv4Addr>::new()
                            .gateway(gw)
                            .output_interface(index)
                            .build(),
                    )
                    .execute()
                    .await
                    .map_err(|e| NetError::netlink(format!("default route via {gw}"), e))?;
            }
            if let Some((addr, prefix)) = a.address6 {
                add_address6(&ns, index, addr, prefix).await?;
                if let Some(gw) = a.gateway6 {
                    ns.route()
                        .add(
                            RouteMessageBuilder::<Ipv6Addr>::new()
                                .gateway(gw)
                                .output_interface(index)
                                .build(),
                        )
                        .execute()
                        .await
                        .map_err(|e| NetError::netlink(format!("default route via {gw}"), e))?;
                }
            }
            Ok::<(), NetError>(())
        };
        if let Err(e) = inside.await {
            let _ = self.delete(a.host_ifname).await;
            return Err(e);
        }
        Ok(())
    }
}

/// An IPv6 address without duplicate address detection: usable at once, where DAD
/// would keep it tentative for a second or two. Addresses come from berth's own pool.
async fn add_address6(handle: &Handle, index: u32, addr: Ipv6Addr, prefix_len: u8) -> Result<()> {
    let mut req = handle.address().add(index, IpAddr::V6(addr), prefix_len);
    req.message_mut()
        .attributes
        .push(netlink_packet_route::address::AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::Nodad,
        ));
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(NetError::netlink(format!("adding {addr}/{prefix_len}"), e)),
    }
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(NetError::netlink(format!("looking up {name}"), e)),
    }
}
