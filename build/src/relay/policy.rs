//! Which destinations the relay connects to. A relay on someone's machine must not become a
//! way for any web page into their network, so without rules it reaches only public
//! addresses; each `--allow HOST:PORTS` rule then narrows that down, and only a rule that
//! names an address, a network or a host name reaches a private or loopback address.
//!
//! HOST is `*` (any public address), a name (`example.org`), a name suffix (`*.example.org`),
//! an address (`127.0.0.1`, `[::1]`) or a network (`10.0.0.0/8`); PORTS is `*`, `22` or
//! `8000-8099`.

use anyhow::{bail, Context, Result};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    AnyPublic,
    Name(String),
    /// `*.suffix`: the suffix with its leading dot.
    Suffix(String),
    Net(IpAddr, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    host: Host,
    ports: (u16, u16),
    text: String,
}

/// The relay's rules; none means "any public address, any port".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rules.is_empty() {
            return f.write_str("any public address, any port");
        }
        let texts: Vec<&str> = self.rules.iter().map(|r| r.text.as_str()).collect();
        f.write_str(&texts.join(", "))
    }
}

fn parse_ports(text: &str) -> Result<(u16, u16)> {
    if text == "*" {
        return Ok((1, u16::MAX));
    }
    let port = |t: &str| -> Result<u16> {
        match t.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => bail!("{t:?} is not a port (1-65535)"),
        }
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if a > b {
                bail!("the port range {text} is empty");
            }
            Ok((a, b))
        }
        None => port(text).map(|p| (p, p)),
    }
}

fn parse_host(text: &str) -> Result<Host> {
    if text == "*" {
        return Ok(Host::AnyPublic);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Some((addr, prefix)) = bare.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .with_context(|| format!("{addr:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        match prefix.parse::<u8>() {
            Ok(p) if p <= max => return Ok(Host::Net(addr, p)),
            _ => bail!("{prefix:?} is not a prefix length for {addr} (0-{max})"),
        }
    }
    if let Ok(addr) = bare.parse::<IpAddr>() {
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        return Ok(Host::Net(addr, bits));
    }
    let name = text.trim_end_matches('.').to_ascii_lowercase();
    let (suffix, labels) = match name.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, name.as_str()),
    };
    let valid = !labels.is_empty()
        && labels.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !valid {
        bail!("{text:?} is not a host name, an address or a network");
    }
    Ok(if suffix {
        Host::Suffix(format!(".{labels}"))
    } else {
        Host::Name(name)
    })
}

impl Rule {
    pub fn parse(text: &str) -> Result<Rule> {
        let (host, ports) = text
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty() && (!h.contains(':') || h.ends_with(']')))
            .with_context(|| {
                format!(
                    "the rule {text:?} is not HOST:PORTS (e.g. example.org:443, \
                     127.0.0.1:8000-8099, [::1]:22, *:*)"
                )
            })?;
        Ok(Rule {
            host: parse_host(host).with_context(|| format!("in the rule {text:?}"))?,
            ports: parse_ports(ports).with_context(|| format!("in the rule {text:?}"))?,
            text: text.to_string(),
        })
    }

    fn allows(&self, name: &str, port: u16, addr: IpAddr) -> bool {
        if port < self.ports.0 || port > self.ports.1 {
            return false;
        }
        match &self.host {
            Host::AnyPublic => is_public(addr),
            Host::Name(n) => *n == name,
            Host::Suffix(s) => name.ends_with(s.as_str()),
            Host::Net(net, prefix) => in_net(addr, *net, *prefix),
        }
    }
}

impl Policy {
    pub fn new(rules: &[String]) -> Result<Policy> {
        Ok(Policy {
            rules: rules
                .iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<_>>()?,
        })
    }

    /// Whether the client may reach `addr` (which `host`, as the client named it, resolved
    /// to) on `port`.
    pub fn allows(&self, host: &str, port: u16, addr: IpAddr) -> bool {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if self.rules.is_empty() {
            return is_public(addr);
        }
        self.rules.iter().any(|r| r.allows(&name, port, addr))
    }
}

fn in_net(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_net(IpAddr::V4(a), net, prefix)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// An address on the public internet: not loopback, private, link-local, shared (CGNAT),
/// benchmarking, documentation, multicast or otherwise special.
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(a),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let special: [(Ipv4Addr, u8); 14] = [
        (Ipv4Addr::new(0, 0, 0, 0), 8),
        (Ipv4Addr::new(10, 0, 0, 0), 8),
        (Ipv4Addr::new(100, 64, 0, 0), 10),
        (Ipv4Addr::new(127, 0, 0, 0), 8),
        (Ipv4Addr::new(169, 254, 0, 0), 16),
        (Ipv4Addr::new(172, 16, 0, 0), 12),
        (Ipv4Addr::new(192, 0, 0, 0), 24),
        (Ipv4Addr::new(192, 0, 2, 0), 24),
        (Ipv4Addr::new(192, 168, 0, 0), 16),
        (Ipv4Addr::new(198, 18, 0, 0), 15),
        (Ipv4Addr::new(198, 51, 100, 0), 24),
        (Ipv4Addr::new(203, 0, 113, 0), 24),
        (Ipv4Addr::new(224, 0, 0, 0), 4),
        (Ipv4Addr::new(240, 0, 0, 0), 4),
    ];
    !special
        .iter()
        .any(|&(net, prefix)| in_net(IpAddr::V4(a), IpAddr::V4(net), prefix))
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let special: [(Ipv6Addr, u8); 6] = [
        (Ipv6Addr::UNSPECIFIED, 127),                          // :: and ::1
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),       // unique local
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),      // link-local
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),       // multicast
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),  // documentation
        (Ipv6Addr::new(0x0064, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64 (reaches IPv4)
    ];
    !special
        .iter()
        .any(|&(net, prefix)| in_net(IpAddr::V6(a), IpAddr::V6(net), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_rules_only_public_addresses_are_reached() {
        let p = Policy::default();
        assert!(p.allows("example.org", 443, ip("93.184.215.14")));
        assert!(p.allows("x", 22, ip("2606:4700::1111")));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.20.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!p.allows("x", 80, ip(private)), "{private}");
        }
    }

    #[test]
    fn rules_name_hosts_suffixes_networks_and_port_ranges() {
        let p = Policy::new(&[
            "127.0.0.1:7000-7009".into(),
            "*.Example.org:443".into(),
            "git.test:9418".into(),
            "10.0.0.0/8:*".into(),
            "[::1]:22".into(),
        ])
        .unwrap();
        assert!(p.allows("localhost", 7005, ip("127.0.0.1")));
        assert!(!p.allows("localhost", 7010, ip("127.0.0.1")));
        assert!(p.allows("www.example.ORG.", 443, ip("192.168.9.9")));
        assert!(!p.allows("example.org", 443, ip("93.184.215.14")));
        assert!(p.allows("git.test", 9418, ip("127.0.0.2")));
        assert!(p.allows("anything", 1, ip("10.255.0.1")));
        assert!(p.allows("ip6-localhost", 22, ip("::1")));
        // A rule narrows: a public address no rule names is not reached.
        assert!(!p.allows("example.com", 443, ip("93.184.215.14")));
    }

    #[test]
    fn the_any_host_rule_stays_public() {
        let p = Policy::new(&["*:443".into()]).unwrap();
        assert!(p.allows("example.org", 443, ip("93.184.215.14")));
        assert!(!p.allows("example.org", 80, ip("93.184.215.14")));
        assert!(!p.allows("localhost", 443, ip("127.0.0.1")));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (rule, says) in [
            ("example.org", "HOST:PORTS"),
            (":80", "HOST:PORTS"),
            ("example.org:0", "not a port"),
            ("example.org:90-80", "empty"),
            ("10.0.0.0/33:1", "prefix length"),
            ("exa mple.org:1", "not a host name"),
            ("::1:22", "HOST:PORTS"),
        ] {
            let e = format!("{:#}", Rule::parse(rule).unwrap_err());
            assert!(e.contains(says), "{rule}: {e}");
        }
    }
}
