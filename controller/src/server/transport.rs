//! Where plain gRPC may go. Without TLS (`--insecure`, node.yaml `insecure: true`), an address
//! nonstop listens on, talks to or adds as a controller member must be loopback (127.0.0.0/8 or
//! ::1): over a real network, plain gRPC would let anyone on it control the cluster. One rule
//! for the daemon's node.yaml, `nonstop member add` and the server's `AddMember`.

use std::net::SocketAddr;

/// Refuses an address that is not loopback.
pub fn loopback_only(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "{addr} is not a loopback address: without TLS, nonstop only listens on and talks to \
         127.0.0.0/8 or ::1, because plain gRPC would let anyone on the network control the \
         cluster (configure `tls` in node.yaml)"
    ))
}

/// A new member's address: an IP address and port; loopback unless the cluster runs with TLS
/// (see [`loopback_only`]).
pub fn member_address(text: &str, tls: bool) -> Result<SocketAddr, String> {
    let addr = text
        .parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is not an IP address and port (127.0.0.1:7704)"))?;
    if !tls {
        loopback_only(addr)?;
    }
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(format!(
            "{addr}: a member needs an address and a port to be reached at"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i10_8_a_member_is_an_ip_address_on_loopback() {
        for good in ["127.0.0.1:7704", "127.0.0.9:1", "[::1]:7704"] {
            assert!(member_address(good, false).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("10.0.0.1:7704", "10.0.0.1:7704 is not a loopback address"),
            ("0.0.0.0:7704", "0.0.0.0:7704 is not a loopback address"),
            ("[fd00::1]:7704", "[fd00::1]:7704 is not a loopback address"),
            (
                "localhost:7704",
                "\"localhost:7704\" is not an IP address and port",
            ),
        ] {
            let err = member_address(bad, false).unwrap_err();
            assert!(err.starts_with(why), "{bad}: {err}");
        }
        assert!(member_address("198.18.0.4:7701", true).is_ok());
        for bad in ["0.0.0.0:7701", "198.18.0.4:0", "host:7701"] {
            assert!(member_address(bad, true).is_err(), "{bad}");
        }
    }
}
