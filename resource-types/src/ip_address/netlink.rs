//! The netlink side of `ip-address`: find a link, add, find and delete an address, through
//! rtnetlink, optionally inside a named network namespace.
//!
//! A socket belongs to the network namespace of the thread that created it. To act in
//! `/var/run/netns/NAME`, a short-lived thread enters the namespace (setns), creates the
//! sockets and exits; the sockets keep working from any thread afterwards.

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use std::io;
use std::net::IpAddr;

/// Where named network namespaces live (`ip netns add` puts them there).
pub const NETNS_DIR: &str = "/var/run/netns";

/// Runs `make` in a thread that entered network namespace `netns` (`None`: this one), with
/// the tokio runtime entered so that async sockets register with it.
pub fn in_netns<T, F>(netns: Option<&str>, make: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let Some(name) = netns else { return make() };
    check_netns_name(name).map_err(|reason| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("netns: {reason}"))
    })?;
    let path = std::path::Path::new(NETNS_DIR).join(name);
    let runtime = tokio::runtime::Handle::current();
    let worker = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| netns_error(&path, e))?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io::Error::other(format!("setns {}: {e}", path.display())))?;
        let _guard = runtime.enter();
        make()
    });
    worker
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
}

/// Whether `name` can name a network namespace: a single file name under [`NETNS_DIR`], as
/// `ip netns add` makes them. The reason when it cannot.
pub fn check_netns_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.contains(['/', '\0'])
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a network namespace name (a file name under {NETNS_DIR}, \
             as `ip netns add` makes them)"
        ))
    }
}

/// Opening the namespace failed: a missing namespace says so and keeps the `NotFound` kind
/// (removing an address from a namespace that is gone is done), naming the property.
fn netns_error(path: &std::path::Path, e: io::Error) -> io::Error {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let reason = if e.kind() == io::ErrorKind::NotFound {
        format!(
            "no network namespace named {name:?} ({} does not exist)",
            path.display()
        )
    } else {
        format!("network namespace {name:?} ({}): {e}", path.display())
    };
    io::Error::new(e.kind(), format!("netns: {reason}"))
}

/// A netlink connection in one namespace.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

/// A link as the handler needs it.
#[derive(Clone, Debug)]
pub struct Link {
    /// Its index.
    pub index: u32,
    /// Administratively up and with carrier.
    pub up: bool,
    /// Its hardware address (empty for links without one).
    pub mac: Vec<u8>,
}

impl Netlink {
    /// Opens a connection in `netns` (`None`: the agent's namespace).
    pub fn connect(netns: Option<&str>) -> io::Result<Netlink> {
        let (conn, handle, _) = in_netns(netns, rtnetlink::new_connection)?;
        // The connection task ends when the last handle is dropped.
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link named `name`.
    pub async fn link(&self, name: &str) -> io::Result<Link> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(to_link(&msg)),
            Ok(None) => Err(no_such_interface(name)),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == nix::libc::ENODEV => {
                Err(no_such_interface(name))
            }
            Err(e) => Err(io::Error::other(format!("interface {name:?}: {e}"))),
        }
    }

    /// The address messages for `ip/prefix` on link `index`.
    pub async fn find(
        &self,
        index: u32,
        ip: IpAddr,
        prefix: u8,
    ) -> io::Result<Vec<AddressMessage>> {
        self.handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(ip)
            .set_prefix_length_filter(prefix)
            .execute()
            .try_collect()
            .await
            .map_err(|e| io::Error::other(format!("listing addresses: {e}")))
    }

    /// Adds `ip/prefix` to link `index`; already there is fine. IPv6 skips duplicate address
    /// detection, so the address serves at once (a virtual address is expected to move).
    pub async fn add(&self, index: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let mut req = self.handle.address().add(index, ip, prefix);
        if ip.is_ipv6() {
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == nix::libc::EEXIST => {
                Ok(())
            }
            Err(e) => Err(io::Error::other(format!("adding {ip}/{prefix}: {e}"))),
        }
    }

    /// Deletes `ip/prefix` from link `index`; not there is fine.
    pub async fn delete(&self, index: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        for msg in self.find(index, ip, prefix).await? {
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e))
                    if e.raw_code().abs() == nix::libc::EADDRNOTAVAIL => {}
                Err(e) => return Err(io::Error::other(format!("deleting {ip}/{prefix}: {e}"))),
            }
        }
        Ok(())
    }
}

fn to_link(msg: &LinkMessage) -> Link {
    let flags = msg.header.flags;
    let mac = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(mac) => Some(mac.clone()),
        _ => None,
    });
    Link {
        index: msg.header.index,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        mac: mac.unwrap_or_default(),
    }
}

fn no_such_interface(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no interface named {name:?}"),
    )
}
