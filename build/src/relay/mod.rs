//! `cargo x relay`: a Wisp relay (`kernel_host::net::wisp`) that gives the guest real TCP.
//! The page connects to it with a WebSocket (`?relay=ws://127.0.0.1:8081/`); each stream the
//! guest opens becomes a TCP connection from this machine, if the [`Policy`] allows it.
//!
//! It listens on loopback unless told otherwise: anyone who can reach it can make
//! connections from this machine.

mod policy;
mod session;

pub use policy::Policy;
pub use session::BUFFER_PACKETS;

use anyhow::{Context, Result};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

/// The default address of `cargo x relay`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// A relay serving in the background (for `cargo x up --relay` and the tests).
pub struct Relay {
    /// `ws://host:port/`, what the page's `relay` setting takes.
    pub url: String,
}

/// Binds `listen` and serves every client on its own thread, in the background.
pub fn start(
    listen: &str,
    policy: Policy,
    log: Arc<dyn Fn(String) + Send + Sync>,
) -> Result<Relay> {
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("the relay cannot listen on {listen}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("the relay's address on {listen}"))?;
    let policy = Arc::new(policy);
    thread::spawn(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(tcp) => {
                    let (policy, log) = (policy.clone(), log.clone());
                    thread::spawn(move || accept(tcp, policy, log));
                }
                Err(e) => log(format!("relay: accepting a connection failed: {e}")),
            }
        }
    });
    Ok(Relay {
        url: format!("ws://{addr}/"),
    })
}

fn accept(tcp: TcpStream, policy: Arc<Policy>, log: Arc<dyn Fn(String) + Send + Sync>) {
    let Ok(peer) = tcp.peer_addr() else {
        return;
    };
    match tungstenite::accept(tcp) {
        Ok(ws) => {
            log(format!("{peer}: session open"));
            session::run(ws, policy, peer, log);
        }
        Err(e) => log(format!("{peer}: not a WebSocket handshake: {e}")),
    }
}

/// `cargo x relay`: serves until interrupted, logging every stream.
pub fn run(listen: &str, allow: &[String]) -> Result<()> {
    let policy = Policy::new(allow)?;
    let rules = policy.to_string();
    let relay = start(listen, policy, Arc::new(|line| eprintln!("relay: {line}")))?;
    println!("Wisp relay on {} (allowing: {rules})", relay.url);
    println!(
        "Open the page with ?relay={} (or set it in Settings); Ctrl-C stops the relay.",
        relay.url
    );
    loop {
        thread::park();
    }
}

#[cfg(test)]
mod tests;
