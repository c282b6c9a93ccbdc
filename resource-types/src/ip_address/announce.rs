//! Telling the neighbours that an address moved here: a gratuitous ARP (IPv4) or an
//! unsolicited neighbour advertisement (IPv6, RFC 4861 7.2.6), as MSCS's IP Address resource
//! and Pacemaker's IPaddr2 do, so that peers update their caches at once instead of after
//! their entries time out.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsFd;

use super::netlink::in_netns;

const ETH_P_ARP: u16 = 0x0806;

/// Announces `ip` on link `ifindex` with hardware address `mac`, from namespace `netns`.
pub fn announce(netns: Option<&str>, ifindex: u32, mac: &[u8], ip: IpAddr) -> io::Result<()> {
    let Ok(mac) = <[u8; 6]>::try_from(mac) else {
        // Not an Ethernet-like link (loopback, tunnels): nobody to tell.
        return Ok(());
    };
    match ip {
        IpAddr::V4(v4) => {
            let socket = in_netns(netns, || {
                let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
                Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))
            })?;
            crate::sys::send_link_broadcast(socket.as_fd(), ifindex, ETH_P_ARP, &arp(mac, v4))
        }
        IpAddr::V6(v6) => {
            let socket = in_netns(netns, || {
                Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            })?;
            socket.set_multicast_hops_v6(255)?;
            socket.set_multicast_if_v6(ifindex)?;
            socket.bind(&SockAddr::from(SocketAddrV6::new(v6, 0, 0, 0)))?;
            let all_nodes =
                SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1), 0, 0, ifindex);
            socket.send_to(&neighbour_advert(mac, v6), &all_nodes.into())?;
            Ok(())
        }
    }
}

/// A gratuitous ARP request: sender and target protocol address both `ip`.
pub fn arp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    p.extend_from_slice(&mac);
    p.extend_from_slice(&ip.octets());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&ip.octets());
    p
}

/// An unsolicited neighbour advertisement with the Override flag and the target link-layer
/// address option. The kernel fills in the ICMPv6 checksum.
pub fn neighbour_advert(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let mut p = Vec::with_capacity(32);
    p.extend_from_slice(&[136, 0, 0, 0]); // type, code, checksum
    p.extend_from_slice(&[0x20, 0, 0, 0]); // flags: Override
    p.extend_from_slice(&ip.octets());
    p.extend_from_slice(&[2, 1]); // option: target link-layer address, 8 bytes
    p.extend_from_slice(&mac);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_have_the_wire_layout() {
        let mac = [2, 0, 0, 0, 0, 1];
        let a = arp(mac, Ipv4Addr::new(198, 18, 0, 10));
        assert_eq!(a.len(), 28);
        assert_eq!(&a[14..18], &[198, 18, 0, 10]);
        assert_eq!(&a[24..28], &[198, 18, 0, 10]);
        let n = neighbour_advert(mac, "fd00::10".parse().unwrap());
        assert_eq!(n.len(), 32);
        assert_eq!(n[0], 136);
        assert_eq!(&n[26..32], &mac);
    }
}
