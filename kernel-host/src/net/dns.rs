//! The gateway's name server: every name resolves, to an address the gateway hands out from
//! [`POOL`] (RFC 2544's benchmarking range, where no real host is). The host cannot resolve
//! names itself (a page has no DNS), so the guest gets a stand-in address per name, and a
//! later connection to that address is carried to the name ([`Names::name_of`]).
//!
//! Messages are parsed and written with simple-dns (smoltcp's DNS wire module writes only
//! queries). Its parser follows only backward pointers in names, so a query cannot make it
//! loop; it rejects a question of a type it does not know, which then gets FORMERR rather
//! than an empty answer.

use simple_dns::rdata::{RData, A, PTR};
use simple_dns::{
    Name, Packet, PacketFlag, Question, ResourceRecord, CLASS, OPCODE, QCLASS, QTYPE, RCODE, TYPE,
};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// The first address of the pool, 198.18.0.0/15.
pub const POOL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
pub const POOL_PREFIX_LEN: u8 = 15;
/// How long the guest may cache an answer, in seconds. The addresses never change while the
/// gateway lives, so this only bounds what a guest keeps across a new gateway.
pub const TTL: u32 = 300;

/// Longest name in text without the trailing dot (RFC 1035 2.3.4's 255 octets on the wire).
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
/// The pool's addresses less its first and last (network and broadcast look odd to programs).
const POOL_SIZE: usize = (1 << (32 - POOL_PREFIX_LEN)) - 2;

/// The names the guest has looked up and the addresses they were given, both ways.
pub struct Names {
    by_name: HashMap<String, Ipv4Addr>,
    /// The name of the pool address `POOL + 1 + i` at `i`.
    by_addr: Vec<String>,
    capacity: usize,
}

impl Default for Names {
    fn default() -> Names {
        Names::with_capacity(POOL_SIZE)
    }
}

impl Names {
    fn with_capacity(capacity: usize) -> Names {
        Names {
            by_name: HashMap::new(),
            by_addr: Vec::new(),
            capacity: capacity.min(POOL_SIZE),
        }
    }

    /// The pool address of `name` (any case, with or without the trailing dot), given now if
    /// it has none yet; None if `name` is not a host name or the pool is used up.
    pub fn address_of(&mut self, name: &str) -> Option<Ipv4Addr> {
        let name = normalize(
            name.strip_suffix('.')
                .unwrap_or(name)
                .split('.')
                .map(str::as_bytes),
        )?;
        self.address_of_normalized(name)
    }

    fn address_of_normalized(&mut self, name: String) -> Option<Ipv4Addr> {
        if let Some(&addr) = self.by_name.get(&name) {
            return Some(addr);
        }
        if self.by_addr.len() >= self.capacity {
            return None;
        }
        let index = u32::try_from(self.by_addr.len()).ok()?;
        let addr = Ipv4Addr::from(u32::from(POOL) + 1 + index);
        self.by_addr.push(name.clone());
        self.by_name.insert(name, addr);
        Some(addr)
    }

    /// The name that `addr` was given for (lower case, no trailing dot), if it was.
    pub fn name_of(&self, addr: Ipv4Addr) -> Option<&str> {
        let index = u32::from(addr).checked_sub(u32::from(POOL) + 1)?;
        self.by_addr
            .get(usize::try_from(index).ok()?)
            .map(String::as_str)
    }

    /// The reply to one DNS message the guest sent to port 53, or None when there is no
    /// header to answer (or the message is itself a response).
    pub fn answer(&mut self, query: &[u8]) -> Option<Vec<u8>> {
        // QR set: a response, which is never answered (no loops between servers).
        if query.len() < 12 || query[2] & 0x80 != 0 {
            return None;
        }
        let Ok(packet) = Packet::parse(query) else {
            return Some(header_only(query, RCODE::FormatError));
        };
        if packet.opcode() != OPCODE::StandardQuery {
            return Some(header_only(query, RCODE::NotImplemented));
        }
        // Nobody sends several questions in one query (RFC 9619 forbids it).
        let [question] = &packet.questions[..] else {
            return Some(header_only(query, RCODE::FormatError));
        };
        let mut reply = Packet::new_reply(packet.id());
        reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
        if packet.has_flags(PacketFlag::RECURSION_DESIRED) {
            reply.set_flags(PacketFlag::RECURSION_DESIRED);
        }
        let (rcode, rdata) = self.lookup(question);
        *reply.rcode_mut() = rcode;
        if let Some(rdata) = rdata {
            reply.answers.push(ResourceRecord::new(
                question.qname.clone(),
                CLASS::IN,
                TTL,
                rdata,
            ));
        }
        reply.questions.push(question.clone());
        reply.build_bytes_vec_compressed().ok()
    }

    /// The answer to `question`: its code and the record, if there is one.
    fn lookup(&mut self, question: &Question) -> (RCODE, Option<RData<'static>>) {
        if !matches!(question.qclass, QCLASS::CLASS(CLASS::IN) | QCLASS::ANY) {
            return (RCODE::Refused, None);
        }
        let labels = question.qname.get_labels();
        let Some(name) = normalize(labels.iter().map(|l| l.as_ref())) else {
            return (RCODE::NameError, None);
        };
        let wants = |ty: TYPE| matches!(question.qtype, QTYPE::ANY) || question.qtype == ty.into();
        if let Some(addr) = reverse(&name) {
            // A reverse name exists only for a pool address that was given out; it gets no
            // pool address of its own.
            return match self.name_of(addr) {
                Some(target) if wants(TYPE::PTR) => match Name::new(target) {
                    Ok(target) => (RCODE::NoError, Some(RData::PTR(PTR(target.into_owned())))),
                    Err(_) => (RCODE::ServerFailure, None),
                },
                Some(_) => (RCODE::NoError, None),
                None => (RCODE::NameError, None),
            };
        }
        if name.ends_with("in-addr.arpa") || name.ends_with("ip6.arpa") {
            return (RCODE::NameError, None);
        }
        match self.address_of_normalized(name) {
            Some(addr) if wants(TYPE::A) => (RCODE::NoError, Some(RData::A(A::from(addr)))),
            // The name exists, with no record of this type (AAAA among them): NODATA.
            Some(_) => (RCODE::NoError, None),
            None => (RCODE::ServerFailure, None),
        }
    }
}

/// `labels` as one lower-case name, if they make a host name: labels of 1 to 63 letters,
/// digits, hyphens or underscores (SRV-style names), 253 characters in all.
fn normalize<'a>(labels: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    let mut name = String::new();
    for label in labels {
        let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
        if label.is_empty() || label.len() > MAX_LABEL_LEN || !label.iter().all(ok) {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        // ASCII, checked above.
        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    (!name.is_empty() && name.len() <= MAX_NAME_LEN).then_some(name)
}

/// The address of a reverse name, `d.c.b.a.in-addr.arpa`.
fn reverse(name: &str) -> Option<Ipv4Addr> {
    let octets = name.strip_suffix(".in-addr.arpa")?;
    let mut parts = octets.split('.').map(|p| p.parse::<u8>().ok());
    let (d, c, b, a) = (
        parts.next()??,
        parts.next()??,
        parts.next()??,
        parts.next()??,
    );
    parts.next().is_none().then_some(Ipv4Addr::new(a, b, c, d))
}

/// A reply with `query`'s header (id, opcode, RD) and `rcode`, and nothing else: for a query
/// whose question cannot be echoed.
fn header_only(query: &[u8], rcode: RCODE) -> Vec<u8> {
    let mut reply = vec![0; 12];
    reply[..2].copy_from_slice(&query[..2]);
    // QR, and the query's opcode and RD bits.
    reply[2] = 0x80 | (query[2] & 0x79);
    // RA, and the code.
    reply[3] = 0x80 | (rcode as u8);
    reply
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as musl's resolver sends it: one question, recursion desired.
    pub(crate) fn query(id: u16, name: &str, qtype: TYPE) -> Vec<u8> {
        let mut packet = Packet::new_query(id);
        packet.set_flags(PacketFlag::RECURSION_DESIRED);
        packet.questions.push(Question::new(
            Name::new_unchecked(name),
            qtype.into(),
            CLASS::IN.into(),
            false,
        ));
        packet.build_bytes_vec().unwrap()
    }

    /// The code and the answers' data of a reply to a query with `id`.
    pub(crate) fn parse_reply(reply: &[u8], id: u16) -> (RCODE, Vec<RData<'static>>) {
        let packet = Packet::parse(reply).unwrap();
        assert_eq!(packet.id(), id);
        assert!(packet.has_flags(PacketFlag::RESPONSE));
        let rcode = packet.rcode();
        let answers = packet
            .answers
            .into_iter()
            .map(|rr| {
                assert_eq!(rr.ttl, TTL);
                rr.rdata.into_owned()
            })
            .collect();
        (rcode, answers)
    }

    fn a(names: &mut Names, name: &str) -> Ipv4Addr {
        let (rcode, answers) = parse_reply(&names.answer(&query(7, name, TYPE::A)).unwrap(), 7);
        assert_eq!(rcode, RCODE::NoError);
        match &answers[..] {
            [RData::A(a)] => Ipv4Addr::from(a.clone()),
            ref other => panic!("not one A record: {other:?}"),
        }
    }

    #[test]
    fn a_query_gets_a_pool_address() {
        let mut names = Names::default();
        assert_eq!(
            a(&mut names, "alpenglow.host"),
            Ipv4Addr::new(198, 18, 0, 1)
        );
        assert_eq!(
            names.name_of(Ipv4Addr::new(198, 18, 0, 1)),
            Some("alpenglow.host")
        );
    }

    #[test]
    fn a_name_keeps_its_address_and_names_differ() {
        let mut names = Names::default();
        let first = a(&mut names, "alpenglow.host");
        let other = a(&mut names, "example.org");
        assert_ne!(first, other);
        assert_eq!(a(&mut names, "alpenglow.host"), first);
        assert_eq!(a(&mut names, "ALPENGLOW.host."), first);
        assert_eq!(names.address_of("Alpenglow.Host."), Some(first));
        assert_eq!(names.name_of(other), Some("example.org"));
    }

    #[test]
    fn name_of_round_trips_and_knows_only_given_addresses() {
        let mut names = Names::default();
        let addr = names.address_of("www.example.com").unwrap();
        assert_eq!(names.name_of(addr), Some("www.example.com"));
        assert_eq!(names.name_of(Ipv4Addr::new(198, 18, 0, 2)), None);
        assert_eq!(names.name_of(POOL), None);
        assert_eq!(names.name_of(Ipv4Addr::new(10, 0, 2, 2)), None);
    }

    #[test]
    fn aaaa_gets_no_error_and_no_answers() {
        let mut names = Names::default();
        let reply = names
            .answer(&query(9, "alpenglow.host", TYPE::AAAA))
            .unwrap();
        assert_eq!(parse_reply(&reply, 9), (RCODE::NoError, vec![]));
        // The name was given its address all the same: the A query that follows gets it.
        assert_eq!(
            a(&mut names, "alpenglow.host"),
            Ipv4Addr::new(198, 18, 0, 1)
        );
    }

    #[test]
    fn ptr_for_a_pool_address_gets_the_name() {
        let mut names = Names::default();
        let addr = a(&mut names, "alpenglow.host");
        let [w, x, y, z] = addr.octets();
        let reverse = format!("{z}.{y}.{x}.{w}.in-addr.arpa");
        let reply = names.answer(&query(3, &reverse, TYPE::PTR)).unwrap();
        let (rcode, answers) = parse_reply(&reply, 3);
        assert_eq!(rcode, RCODE::NoError);
        match &answers[..] {
            [RData::PTR(PTR(name))] => assert_eq!(name.to_string(), "alpenglow.host"),
            other => panic!("not one PTR record: {other:?}"),
        }
        let reply = names
            .answer(&query(4, "2.2.0.10.in-addr.arpa", TYPE::PTR))
            .unwrap();
        assert_eq!(parse_reply(&reply, 4), (RCODE::NameError, vec![]));
        assert_eq!(names.name_of(Ipv4Addr::new(198, 18, 0, 2)), None);
    }

    #[test]
    fn invalid_names_are_nxdomain_and_get_no_address() {
        let mut names = Names::default();
        let long_label = "a".repeat(64);
        let long_name = ["abcdefghi"; 26].join(".");
        for bad in ["a b.example", "caf\u{e9}.example", "under_score!.example"] {
            let reply = names.answer(&query(5, bad, TYPE::A)).unwrap();
            assert_eq!(parse_reply(&reply, 5), (RCODE::NameError, vec![]), "{bad}");
            assert_eq!(names.address_of(bad), None, "{bad}");
        }
        // Too long for the wire format: simple-dns does not parse them.
        for bad in [&long_label, &long_name] {
            let reply = names.answer(&query(5, bad, TYPE::A)).unwrap();
            assert_eq!(reply[3] & 0x0f, RCODE::FormatError as u8, "{bad}");
            assert_eq!(names.address_of(bad), None, "{bad}");
        }
        let longest = ["abcdefghi"; 25].join(".") + ".abc";
        assert_eq!(longest.len(), 253);
        assert!(names.address_of(&longest).is_some());
        assert_eq!(names.address_of(&(longest + "d")), None);
        assert_eq!(names.address_of(""), None);
        assert_eq!(names.address_of("a..b"), None);
        assert_eq!(names.name_of(Ipv4Addr::new(198, 18, 0, 2)), None);
    }

    #[test]
    fn a_full_pool_is_servfail() {
        let mut names = Names::with_capacity(1);
        a(&mut names, "one.example");
        let reply = names.answer(&query(6, "two.example", TYPE::A)).unwrap();
        assert_eq!(parse_reply(&reply, 6), (RCODE::ServerFailure, vec![]));
        assert_eq!(a(&mut names, "one.example"), Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn the_pool_ends_before_its_broadcast_address() {
        let last = Ipv4Addr::from(u32::from(POOL) + POOL_SIZE as u32);
        assert_eq!(last, Ipv4Addr::new(198, 19, 255, 254));
    }

    #[test]
    fn malformed_queries_get_formerr_or_nothing() {
        let mut names = Names::default();
        // No header: nothing.
        for junk in [&[][..], &[1, 2, 3], &[0; 11]] {
            assert_eq!(names.answer(junk), None);
        }
        // A header, then a question cut short.
        let mut cut = query(0xbeef, "alpenglow.host", TYPE::A);
        cut.truncate(20);
        let reply = names.answer(&cut).unwrap();
        assert_eq!(reply[..2], [0xbe, 0xef]);
        assert_eq!(reply[3] & 0x0f, RCODE::FormatError as u8);
        // A name that points at itself.
        let mut looped = cut[..12].to_vec();
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(names.answer(&looped).unwrap()[3] & 0x0f, 1);
        // Two questions.
        let mut two = query(1, "a.example", TYPE::A);
        two[5] = 2;
        two.extend_from_within(12..);
        assert_eq!(names.answer(&two).unwrap()[3] & 0x0f, 1);
        // A response is never answered.
        let mut response = query(1, "a.example", TYPE::A);
        response[2] |= 0x80;
        assert_eq!(names.answer(&response), None);
        // Random bytes never panic.
        let mut x: u32 = 1;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = names.answer(&bytes);
        }
        assert_eq!(names.name_of(Ipv4Addr::new(198, 18, 0, 1)), None);
    }
}
