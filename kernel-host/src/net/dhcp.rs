//! The gateway's DHCP server (RFC 2131), for the guest kernel's `ip=dhcp` and for
//! `udhcpc -i eth0`: it leases the one address [`GUEST`] with the gateway as router and name
//! server.
//!
//! It keeps no state: there is one guest and one address, so whoever asks is offered
//! [`GUEST`], and a release or decline frees nothing. Replies go to 255.255.255.255:68,
//! because a client still unconfigured listens on a raw socket and has no address to
//! answer ARP for.

use super::{GATEWAY, GUEST, PREFIX_LEN};
use smoltcp::wire::{DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr};
use std::net::Ipv4Addr;

/// How long a lease lasts, in seconds: a day; the guest renews it at half that.
pub const LEASE_SECS: u32 = 24 * 60 * 60;
/// T1 and T2, RFC 2131's defaults (4.4.5): half and seven eighths of the lease.
const RENEW_SECS: u32 = LEASE_SECS / 2;
const REBIND_SECS: u32 = LEASE_SECS / 8 * 7;

// Option codes smoltcp's `DhcpRepr` does not emit itself.
const OPT_MESSAGE: u8 = 56;
const OPT_RENEWAL_TIME: u8 = 58;
const OPT_REBINDING_TIME: u8 = 59;

/// BOOTP's minimum message (RFC 1542 2.1): some clients drop shorter ones.
const MIN_LEN: usize = 300;

/// The subnet mask for [`PREFIX_LEN`].
fn subnet_mask() -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(PREFIX_LEN))
            .unwrap_or(0),
    )
}

/// The reply to one DHCP message the guest sent to port 67 (the UDP payload), or None when
/// it gets none: not DHCP, not for this server, or a message that needs no answer.
pub fn answer(request: &[u8]) -> Option<Vec<u8>> {
    let packet = DhcpPacket::new_checked(request).ok()?;
    let request = DhcpRepr::parse(&packet).ok()?;
    match request.message_type {
        DhcpMessageType::Discover => Some(reply(&request, DhcpMessageType::Offer)),
        DhcpMessageType::Request => {
            // A client that names another server has chosen that server's offer (4.3.2).
            if request.server_identifier.is_some_and(|id| id != GATEWAY) {
                return None;
            }
            // SELECTING and INIT-REBOOT name the address in option 50, RENEWING and
            // REBINDING in ciaddr.
            let wanted = request
                .requested_ip
                .or((!request.client_ip.is_unspecified()).then_some(request.client_ip));
            if wanted == Some(GUEST) {
                Some(reply(&request, DhcpMessageType::Ack))
            } else {
                Some(nak(&request))
            }
        }
        DhcpMessageType::Inform => Some(reply(&request, DhcpMessageType::Ack)),
        // Nothing to free for a release; a decline (the address is in use on the LAN)
        // cannot happen on a LAN of two, and there is no other address to offer.
        _ => None,
    }
}

/// An OFFER or ACK with the whole configuration; for an INFORM, an ACK without address or
/// lease (RFC 2131 3.4).
fn reply(request: &DhcpRepr, message_type: DhcpMessageType) -> Vec<u8> {
    let inform = request.message_type == DhcpMessageType::Inform;
    let times = [
        DhcpOption {
            kind: OPT_RENEWAL_TIME,
            data: &RENEW_SECS.to_be_bytes(),
        },
        DhcpOption {
            kind: OPT_REBINDING_TIME,
            data: &REBIND_SECS.to_be_bytes(),
        },
    ];
    let repr = DhcpRepr {
        message_type,
        transaction_id: request.transaction_id,
        secs: 0,
        client_hardware_address: request.client_hardware_address,
        // Table 3: ciaddr is echoed in an ACK (a renewing or informing client's), else 0.
        client_ip: if message_type == DhcpMessageType::Ack {
            request.client_ip
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        your_ip: if inform { Ipv4Addr::UNSPECIFIED } else { GUEST },
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: Some(GATEWAY),
        subnet_mask: Some(subnet_mask()),
        relay_agent_ip: request.relay_agent_ip,
        broadcast: request.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GATEWAY),
        parameter_request_list: None,
        dns_servers: Some([GATEWAY].into_iter().collect()),
        max_size: None,
        lease_duration: (!inform).then_some(LEASE_SECS),
        // smoltcp's `emit` leaves these two out; they go in `additional_options`.
        renew_duration: None,
        rebind_duration: None,
        additional_options: if inform { &[] } else { &times },
    };
    emit(&repr)
}

/// A NAK: the client asked for an address it cannot have and must start over.
fn nak(request: &DhcpRepr) -> Vec<u8> {
    let message = [DhcpOption {
        kind: OPT_MESSAGE,
        data: b"the only address here is 10.0.2.15",
    }];
    let repr = DhcpRepr {
        message_type: DhcpMessageType::Nak,
        transaction_id: request.transaction_id,
        secs: 0,
        client_hardware_address: request.client_hardware_address,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        router: None,
        subnet_mask: None,
        relay_agent_ip: request.relay_agent_ip,
        broadcast: request.broadcast,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(GATEWAY),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: None,
        renew_duration: None,
        rebind_duration: None,
        additional_options: &message,
    };
    emit(&repr)
}

fn emit(repr: &DhcpRepr) -> Vec<u8> {
    // Zeros after the end option are padding.
    let mut buf = vec![0; repr.buffer_len().max(MIN_LEN)];
    // Cannot fail: the buffer is as long as `buffer_len` says the options need.
    let _ = repr.emit(&mut DhcpPacket::new_unchecked(&mut buf));
    buf
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::virtio::net::GUEST_MAC;
    use smoltcp::wire::EthernetAddress;

    pub(crate) const XID: u32 = 0x1234_5678;

    /// A client's message as udhcpc sends it.
    pub(crate) fn request(
        message_type: DhcpMessageType,
        requested_ip: Option<Ipv4Addr>,
        server_identifier: Option<Ipv4Addr>,
    ) -> Vec<u8> {
        let repr = DhcpRepr {
            message_type,
            transaction_id: XID,
            secs: 3,
            client_hardware_address: EthernetAddress(GUEST_MAC),
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: Ipv4Addr::UNSPECIFIED,
            server_ip: Ipv4Addr::UNSPECIFIED,
            router: None,
            subnet_mask: None,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            broadcast: false,
            requested_ip,
            client_identifier: Some(EthernetAddress(GUEST_MAC)),
            server_identifier,
            parameter_request_list: Some(&[1, 3, 6, 12, 15, 28, 42]),
            dns_servers: None,
            max_size: Some(576),
            lease_duration: None,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[],
        };
        emit(&repr)
    }

    /// The option `kind`'s data in a reply.
    fn option(reply: &[u8], kind: u8) -> Option<Vec<u8>> {
        let packet = DhcpPacket::new_checked(reply).unwrap();
        let data = packet
            .options()
            .find(|o| o.kind == kind)
            .map(|o| o.data.to_vec());
        data
    }

    /// The reply's fields, for `f` (`DhcpRepr` borrows the packet it was parsed from).
    fn with_repr<R>(reply: &[u8], f: impl FnOnce(&DhcpRepr) -> R) -> R {
        let packet = DhcpPacket::new_checked(reply).unwrap();
        f(&DhcpRepr::parse(&packet).unwrap())
    }

    fn message_type(reply: &[u8]) -> DhcpMessageType {
        with_repr(reply, |r| r.message_type)
    }

    pub(crate) fn assert_configuration(reply: &[u8]) {
        with_repr(reply, |repr| {
            assert_eq!(repr.transaction_id, XID);
            assert_eq!(repr.client_hardware_address, EthernetAddress(GUEST_MAC));
            assert_eq!(repr.your_ip, GUEST);
            assert_eq!(repr.router, Some(GATEWAY));
            assert_eq!(repr.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
            assert_eq!(repr.server_identifier, Some(GATEWAY));
            assert_eq!(repr.dns_servers.as_deref(), Some(&[GATEWAY][..]));
            assert_eq!(repr.lease_duration, Some(86400));
            assert_eq!(repr.renew_duration, Some(43200));
            assert_eq!(repr.rebind_duration, Some(75600));
        });
        assert!(reply.len() >= 300);
    }

    #[test]
    fn discover_gets_an_offer_of_the_guest_address() {
        let reply = answer(&request(DhcpMessageType::Discover, None, None)).unwrap();
        assert_eq!(message_type(&reply), DhcpMessageType::Offer);
        assert_configuration(&reply);
    }

    #[test]
    fn request_for_the_offer_gets_an_ack() {
        let reply = answer(&request(
            DhcpMessageType::Request,
            Some(GUEST),
            Some(GATEWAY),
        ))
        .unwrap();
        assert_eq!(message_type(&reply), DhcpMessageType::Ack);
        assert_configuration(&reply);
    }

    #[test]
    fn renewal_names_the_address_in_ciaddr() {
        let mut msg = request(DhcpMessageType::Request, None, None);
        DhcpPacket::new_unchecked(&mut msg[..]).set_client_ip(GUEST);
        assert_eq!(message_type(&answer(&msg).unwrap()), DhcpMessageType::Ack);
    }

    #[test]
    fn request_for_another_address_gets_a_nak() {
        let other = Ipv4Addr::new(10, 0, 2, 99);
        let reply = answer(&request(DhcpMessageType::Request, Some(other), None)).unwrap();
        with_repr(&reply, |repr| {
            assert_eq!(repr.message_type, DhcpMessageType::Nak);
            assert_eq!(repr.transaction_id, XID);
            assert_eq!(repr.your_ip, Ipv4Addr::UNSPECIFIED);
            assert_eq!(repr.server_identifier, Some(GATEWAY));
            assert_eq!(repr.lease_duration, None);
        });
    }

    #[test]
    fn request_to_another_server_is_ignored() {
        let other = Ipv4Addr::new(10, 0, 2, 3);
        assert!(answer(&request(DhcpMessageType::Request, Some(GUEST), Some(other))).is_none());
    }

    #[test]
    fn inform_gets_configuration_without_a_lease() {
        let mut msg = request(DhcpMessageType::Inform, None, None);
        DhcpPacket::new_unchecked(&mut msg[..]).set_client_ip(GUEST);
        let reply = answer(&msg).unwrap();
        with_repr(&reply, |repr| {
            assert_eq!(repr.message_type, DhcpMessageType::Ack);
            assert_eq!(repr.your_ip, Ipv4Addr::UNSPECIFIED);
            assert_eq!(repr.client_ip, GUEST);
            assert_eq!(repr.lease_duration, None);
            assert_eq!(repr.router, Some(GATEWAY));
        });
        assert_eq!(option(&reply, OPT_RENEWAL_TIME), None);
    }

    #[test]
    fn release_and_decline_get_nothing() {
        for t in [DhcpMessageType::Release, DhcpMessageType::Decline] {
            assert!(answer(&request(t, Some(GUEST), Some(GATEWAY))).is_none());
        }
    }

    #[test]
    fn garbage_gets_nothing() {
        let mut truncated = request(DhcpMessageType::Discover, None, None);
        truncated.truncate(200);
        let mut no_cookie = request(DhcpMessageType::Discover, None, None);
        no_cookie[236] ^= 0xff;
        let mut bad_option = request(DhcpMessageType::Discover, None, None);
        // An option whose length runs past the end.
        bad_option.truncate(240);
        bad_option.extend_from_slice(&[53, 200, 1]);
        for junk in [
            vec![],
            vec![0xff; 3],
            vec![0; 300],
            vec![0xff; 600],
            truncated,
            no_cookie,
            bad_option,
        ] {
            assert!(answer(&junk).is_none(), "{junk:?}");
        }
        // A server's own message type from a client.
        assert!(answer(&request(DhcpMessageType::Offer, None, None)).is_none());
    }
}
