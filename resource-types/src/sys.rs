//! The only system calls this crate makes without a safe wrapper, kept in one small module so
//! that every `unsafe` block can be read at once. The rest of the crate cannot use `unsafe`
//! (the crate denies it; this module alone allows it).
#![allow(unsafe_code)]

use nix::libc;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Makes a command's child die with this thread's process: the child asks the kernel for
/// SIGKILL when its parent goes (PR_SET_PDEATHSIG), so nothing the agent started outlives it.
///
/// The kernel ties the signal to the *thread* that forked the child, so every such child is
/// forked by the one thread of `crate::spawner`, which lives as long as the process.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = Pid::this();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: prctl(2), getppid(2) and kill(2) are, and the
    // closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died between fork and prctl: then nobody will signal us.
            if nix::unistd::getppid() != parent {
                nix::sys::signal::raise(Signal::SIGKILL)?;
            }
            Ok(())
        });
    }
}

/// Sends `payload` as one link-layer frame of EtherType `protocol` to the broadcast address
/// of interface `ifindex`, through a packet socket (`AF_PACKET`, `SOCK_DGRAM`: the kernel
/// writes the Ethernet header). Used for gratuitous ARP.
pub fn send_link_broadcast(
    socket: BorrowedFd<'_>,
    ifindex: u32,
    protocol: u16,
    payload: &[u8],
) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: the buffer and the address outlive the call, and the lengths passed are theirs.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
