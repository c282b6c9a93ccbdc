//! `ip-address`: a virtual IP address (IPv4 or IPv6) added to an interface through netlink,
//! optionally inside a named network namespace, announced to the neighbours after it is added
//! (gratuitous ARP / unsolicited neighbour advertisement). looks_alive: the address is
//! present; is_alive: present and the link up (administratively and with carrier).
//!
//! Without a `/prefix` the address is a host address (/32, /128): it adds no route.

use async_trait::async_trait;
use nonstop_contract::builtin;
use nonstop_contract::schema::check_address;
use nonstop_contract::typedef::TypeDef;
use std::net::IpAddr;

use crate::extend::{self, Validated};
use crate::handler::{
    Footprint, HandlerError, Health, OpenContext, ResourceHandler, ResourceInstance, Result,
};

pub mod announce;
pub mod netlink;

use netlink::Netlink;

/// The `ip-address` handler.
#[derive(Debug)]
pub struct IpAddressHandler {
    def: TypeDef,
}

impl IpAddressHandler {
    /// A handler for `def`, whose schema is the ip-address schema or extends it.
    pub fn new(def: TypeDef) -> Self {
        IpAddressHandler { def }
    }
}

#[async_trait]
impl ResourceHandler for IpAddressHandler {
    fn def(&self) -> &TypeDef {
        &self.def
    }

    async fn open(&self, ctx: OpenContext) -> Result<Box<dyn ResourceInstance>> {
        let props = extend::validate(&self.def, &builtin::ip_address().schema, &ctx.properties)?;
        Ok(Box::new(IpAddress::new(&props)?))
    }

    /// Removes the addresses a dead agent left, then does the default clean-up.
    async fn clean_up(&self, footprint: &Footprint) {
        for (netns, interface, address) in &footprint.addresses {
            let netns = (!netns.is_empty()).then_some(netns.as_str());
            let Ok((ip, prefix)) = check_address(address) else {
                continue;
            };
            let addr = IpAddress::from_parts(netns, interface, ip, prefix);
            if let Err(e) = addr.remove().await {
                tracing::warn!("clean-up of {address} on {interface}: {e}");
            }
        }
        crate::cleanup::run_commands(footprint, self.def.stop.limit()).await;
    }
}

fn invalid(property: &str, reason: String) -> HandlerError {
    HandlerError::InvalidProperties(vec![nonstop_contract::schema::PropertyError {
        property: property.into(),
        reason,
    }])
}

/// One virtual address.
#[derive(Debug)]
pub struct IpAddress {
    netns: Option<String>,
    interface: String,
    ip: IpAddr,
    prefix: u8,
    /// Set from the start of online until an offline or terminate removed it.
    added: bool,
}

impl IpAddress {
    fn new(p: &Validated) -> Result<Self> {
        let text = p.str("address").unwrap_or_default();
        let (ip, prefix) = check_address(text).map_err(|r| invalid("address", r))?;
        if let Some(ns) = p.str("netns") {
            netlink::check_netns_name(ns).map_err(|r| invalid("netns", r))?;
        }
        Ok(Self::from_parts(
            p.str("netns"),
            p.str("interface").unwrap_or_default(),
            ip,
            prefix,
        ))
    }

    fn from_parts(netns: Option<&str>, interface: &str, ip: IpAddr, prefix: Option<u8>) -> Self {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        IpAddress {
            netns: netns.map(String::from),
            interface: interface.to_string(),
            ip,
            prefix: prefix.unwrap_or(full),
            added: false,
        }
    }

    fn error(&self, entry: &'static str, e: std::io::Error) -> HandlerError {
        HandlerError::Failed {
            entry,
            reason: format!(
                "{}/{} on {:?}{}: {e}",
                self.ip,
                self.prefix,
                self.interface,
                self.ns()
            ),
        }
    }

    fn ns(&self) -> String {
        self.netns
            .as_ref()
            .map(|n| format!(" in netns {n:?}"))
            .unwrap_or_default()
    }

    async fn link(&self) -> std::io::Result<(Netlink, netlink::Link)> {
        let nl = Netlink::connect(self.netns.as_deref())?;
        let link = nl.link(&self.interface).await?;
        Ok((nl, link))
    }

    async fn add(&self) -> std::io::Result<()> {
        let (nl, link) = self.link().await?;
        nl.add(link.index, self.ip, self.prefix).await?;
        announce::announce(self.netns.as_deref(), link.index, &link.mac, self.ip)
            .map_err(|e| std::io::Error::new(e.kind(), format!("announcing: {e}")))
    }

    async fn remove(&self) -> std::io::Result<()> {
        match self.link().await {
            Ok((nl, link)) => nl.delete(link.index, self.ip, self.prefix).await,
            // The interface is gone, and the address with it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn health(&self, need_link_up: bool) -> Health {
        let (nl, link) = match self.link().await {
            Ok(found) => found,
            Err(e) => return Health::Dead(e.to_string()),
        };
        match nl.find(link.index, self.ip, self.prefix).await {
            Ok(found) if found.is_empty() => Health::Dead(format!(
                "{}/{} is not on {:?}{}",
                self.ip,
                self.prefix,
                self.interface,
                self.ns()
            )),
            Ok(_) if need_link_up && !link.up => {
                Health::Dead(format!("link {:?} is down", self.interface))
            }
            Ok(_) => Health::Alive,
            Err(e) => Health::Dead(e.to_string()),
        }
    }
}

#[async_trait]
impl ResourceInstance for IpAddress {
    async fn online(&mut self) -> Result<()> {
        self.added = true;
        self.add().await.map_err(|e| self.error("online", e))
    }

    async fn offline(&mut self) -> Result<()> {
        self.remove().await.map_err(|e| self.error("offline", e))?;
        self.added = false;
        Ok(())
    }

    async fn terminate(&mut self) {
        match self.remove().await {
            Ok(()) => self.added = false,
            Err(e) => tracing::warn!("{}", self.error("terminate", e)),
        }
    }

    async fn looks_alive(&mut self) -> Health {
        self.health(false).await
    }

    async fn is_alive(&mut self) -> Health {
        self.health(true).await
    }

    fn footprint(&self) -> Footprint {
        if self.added {
            self.intent()
        } else {
            Footprint::default()
        }
    }

    fn intent(&self) -> Footprint {
        let ns = self.netns.clone().unwrap_or_default();
        let entry = (
            ns,
            self.interface.clone(),
            format!("{}/{}", self.ip, self.prefix),
        );
        Footprint {
            addresses: vec![entry],
            ..Footprint::default()
        }
    }
}
