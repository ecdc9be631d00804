//! The host's side of the guest's network (DESIGN decision 12): a user-space network in Rust,
//! behind the virtio-net device (`crate::virtio::net`), run by the device worker.
//!
//! [`Gateway`] is the machine's LAN: it is the guest's router at [`GATEWAY`], answers ARP
//! and ping there, is its DHCP server (`dhcp`) and name server (`dns`, [`Names`]), and
//! carries TCP to port 80 to the page's `fetch()` (`web`), TCP to other ports to a relay
//! (`relay`, over `wisp`), and the page's requests to servers in the guest (`forward`).
//! The addresses follow QEMU's user-mode network, which people know: the guest is
//! [`GUEST`] on [`PREFIX_LEN`], its router and name server [`GATEWAY`].
//!
//! Architecture invariant: `net/` is plain Rust (no js-sys); the device worker hands it
//! frames and the time and sends what it returns to the guest.

mod dhcp;
mod dns;
pub mod forward;
mod gateway;
pub mod http;
pub mod relay;
#[cfg(test)]
mod test_lan;
pub mod web;
pub mod wisp;

pub use dns::Names;

/// The network's counters, for the page's machine card (the guest sees its own side with
/// `ifconfig eth0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetCounters {
    /// Frames the guest sent, and frames it was given.
    pub frames_out: u64,
    pub frames_in: u64,
    /// Frames dropped: malformed or oversized from the guest, or for the guest while it had
    /// no receive buffers.
    pub drops: u64,
    /// HTTP requests carried to the page's `fetch()`, and connections ended by a reset.
    pub requests: u64,
    pub resets: u64,
    /// Streams opened through the relay, and those that ended with a reset (refused,
    /// unreachable, the relay lost).
    pub relayed: u64,
    pub relay_failed: u64,
}
pub use gateway::Gateway;

use std::collections::VecDeque;
use std::net::Ipv4Addr;

/// The guest's address (`/etc/network/interfaces` in `build/rootfs.toml` sets it).
pub const GUEST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The host's address on the guest's LAN: router, ping target, name server.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const PREFIX_LEN: u8 = 24;
/// The name under which the guest reaches the page's own site (`http://alpenglow.host/`).
pub const SITE_NAME: &str = "alpenglow.host";
/// The gateway's MAC address (locally administered).
pub const GATEWAY_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x35, 0x02];

/// Moves bytes waiting for the guest into its TCP socket, as far as the socket has room;
/// true if any moved.
fn send_queued(socket: &mut smoltcp::socket::tcp::Socket, queue: &mut VecDeque<u8>) -> bool {
    let mut moved = false;
    while !queue.is_empty() && socket.can_send() {
        let (front, _) = queue.as_slices();
        match socket.send_slice(front) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                queue.drain(..n);
                moved = true;
            }
        }
    }
    moved
}
