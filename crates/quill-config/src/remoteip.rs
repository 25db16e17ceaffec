//! mod_remoteip: the client's address when requests come through proxies
//! (`RemoteIPHeader X-Forwarded-For`), decided as httpd 2.4's
//! `remoteip_modify_request` decides it.
//!
//! ```text
//!  X-Forwarded-For: 203.0.113.7, 10.0.0.2      peer 10.0.0.9 (a trusted proxy)
//!                                 ◀── walked right to left while the
//!                                     address it came from is trusted
//!  client 203.0.113.7 (REMOTE_ADDR, %a, %h); the peer stays %{c}a
//! ```
//!
//! The walk: while the address the current entry came from (first the
//! peer, then each entry taken) matches a `RemoteIPTrustedProxy` or
//! `RemoteIPInternalProxy`, take the header's rightmost entry as the new
//! client. With no proxy configured at all, every peer is trusted. Behind
//! an internal proxy any address is taken; once a trusted (external)
//! proxy is passed, or when no proxy is configured, an address in a
//! private range (10/8, 127/8, 169.254/16, 172.16/12, 192.168/16, or
//! IPv6 outside 2000::/3) ends the walk. An entry that is not an IP
//! address ends it too (httpd would resolve a host name there; Quill
//! does not). The entries taken leave the header; the rest stay in it.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// One server's mod_remoteip settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RemoteIp {
    /// `RemoteIPHeader`: the header holding the addresses; `None`: the
    /// module does nothing.
    pub header: Option<String>,
    /// `RemoteIPProxiesHeader`: where the proxies passed are listed.
    pub proxies_header: Option<String>,
    /// `RemoteIPTrustedProxy`, `RemoteIPInternalProxy` (and their lists'
    /// entries), in configuration order.
    pub proxies: Vec<ProxyMatch>,
}

/// One trusted or internal proxy address or network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyMatch {
    pub net: IpNet,
    /// `RemoteIPInternalProxy`: private addresses it presents are taken.
    pub internal: bool,
}

/// An address and how many of its leading bits a match compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// Reads what httpd's `apr_ipsubnet_create` reads: an address, an
    /// address with `/bits`, an IPv4 address with `/netmask`, or a
    /// partial IPv4 address (`10.1` = 10.1.0.0/16).
    pub fn parse(s: &str) -> Option<IpNet> {
        let (addr, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let (ip, implied) = match addr.parse::<IpAddr>() {
            Ok(ip) => (ip, None),
            Err(_) => {
                // A partial IPv4 address: 1 to 3 numbers.
                let parts: Vec<&str> = addr.split('.').collect();
                if parts.is_empty() || parts.len() > 3 {
                    return None;
                }
                let mut octets = [0u8; 4];
                for (i, p) in parts.iter().enumerate() {
                    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    octets[i] = p.parse().ok()?;
                }
                (
                    IpAddr::V4(Ipv4Addr::from(octets)),
                    Some(8 * parts.len() as u8),
                )
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            None => implied.unwrap_or(max),
            Some(_) if implied.is_some() => return None,
            Some(m) if m.bytes().all(|b| b.is_ascii_digit()) && !m.is_empty() => {
                let bits: u8 = m.parse().ok()?;
                if bits == 0 || bits > max {
                    return None;
                }
                bits
            }
            Some(m) => {
                // A dotted netmask (IPv4 only), contiguous ones.
                let IpAddr::V4(_) = ip else { return None };
                let mask: Ipv4Addr = m.parse().ok()?;
                let bits = u32::from(mask);
                if bits.leading_ones() + bits.trailing_zeros() != 32 || bits == 0 {
                    return None;
                }
                bits.leading_ones() as u8
            }
        };
        Some(IpNet {
            addr: canonical(ip),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let shift = 32 - u32::from(self.prefix.min(32));
                let mask = u32::MAX.checked_shl(shift).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let shift = 128 - u32::from(self.prefix.min(128));
                let mask = u128::MAX.checked_shl(shift).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The addresses mod_remoteip will not take from an external proxy.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 10
                || a == 127
                || (a == 169 && b == 254)
                || (a == 172 && b & 0xf0 == 16)
                || (a == 192 && b == 168)
        }
        // Only global unicast, 2000::/3, is public.
        IpAddr::V6(v6) => v6.octets()[0] & 0xe0 != 0x20,
    }
}

/// What mod_remoteip made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The client's address (REMOTE_ADDR, `%a`, `%h`).
    pub client: IpAddr,
    /// What is left of the header: `None` when every entry was taken
    /// (the header is removed).
    pub header: Option<String>,
    /// The external proxies passed, nearest first (httpd's
    /// `remoteip-proxy-ip-list` note, and `RemoteIPProxiesHeader`).
    pub proxies: Vec<IpAddr>,
}

impl RemoteIp {
    /// No RemoteIPHeader: the module does nothing.
    pub fn is_off(&self) -> bool {
        self.header.is_none()
    }

    /// The client of a request that came from `peer` with `value` in the
    /// header; `None` when the module changes nothing (no header
    /// configured, or no entry taken).
    pub fn apply(&self, peer: IpAddr, value: &str) -> Option<Outcome> {
        self.header.as_ref()?;
        let peer = canonical(peer);
        let mut current = peer;
        // With proxies listed, the walk starts as behind an internal one
        // until a match says otherwise; without, every peer is an
        // external (trusted) proxy.
        let mut internal = !self.proxies.is_empty();
        let mut entries: Vec<&str> = value.split(',').collect();
        let mut proxies = Vec::new();
        let mut taken = false;
        while let Some(raw) = entries.last().copied() {
            if !self.proxies.is_empty() {
                match self.proxies.iter().find(|p| p.net.contains(current)) {
                    // An external proxy may not present an internal one.
                    Some(p) => internal = internal && p.internal,
                    None => break,
                }
            }
            let Ok(ip) = raw.trim_matches(' ').parse::<IpAddr>() else {
                break;
            };
            let ip = canonical(ip);
            if !internal && is_private(ip) {
                break;
            }
            entries.pop();
            if !internal {
                proxies.push(current);
            }
            current = ip;
            taken = true;
        }
        if !taken {
            return None;
        }
        Some(Outcome {
            client: current,
            header: (!entries.is_empty()).then(|| entries.join(",")),
            proxies,
        })
    }
}

/// The entries of a `RemoteIP…ProxyList` file: words separated by
/// blanks, `#` starting a comment to the end of its line. Each word that
/// does not read is returned with its line number.
pub fn parse_proxy_list(text: &str, internal: bool) -> Result<Vec<ProxyMatch>, (usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for word in line.split_whitespace() {
            if word.starts_with('#') {
                break;
            }
            match IpNet::parse(word) {
                Some(net) => out.push(ProxyMatch { net, internal }),
                None => return Err((n + 1, word.to_string())),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    fn cfg(proxies: &[(&str, bool)]) -> RemoteIp {
        RemoteIp {
            header: Some("X-Forwarded-For".into()),
            proxies_header: None,
            proxies: proxies
                .iter()
                .map(|(n, internal)| ProxyMatch {
                    net: IpNet::parse(n).expect("a network"),
                    internal: *internal,
                })
                .collect(),
        }
    }

    #[test]
    fn networks_read_as_apr_reads_them() {
        let n = |s| IpNet::parse(s).map(|n| n.to_string());
        assert_eq!(n("10.1"), Some("10.1.0.0/16".into()));
        assert_eq!(n("192.168.0.0/255.255.0.0"), Some("192.168.0.0/16".into()));
        assert_eq!(n("2001:db8::/32"), Some("2001:db8::/32".into()));
        assert_eq!(n("127.0.0.1"), Some("127.0.0.1/32".into()));
        assert_eq!(n("proxy.example.com"), None);
        assert_eq!(n("10.0.0.0/33"), None);
        assert_eq!(n("10.0.0.0/255.0.255.0"), None);
        assert!(
            IpNet::parse("10.0.0.0/8")
                .expect("net")
                .contains(ip("10.9.8.7"))
        );
        assert!(
            !IpNet::parse("10.0.0.0/8")
                .expect("net")
                .contains(ip("11.0.0.1"))
        );
        assert!(
            IpNet::parse("127.0.0.1")
                .expect("net")
                .contains(ip("::ffff:127.0.0.1"))
        );
    }

    #[test]
    fn a_trusted_peer_gives_the_client_from_the_header() {
        let c = cfg(&[("127.0.0.1", false)]);
        let o = c.apply(ip("127.0.0.1"), "203.0.113.7").expect("applies");
        assert_eq!(o.client, ip("203.0.113.7"));
        assert_eq!(o.header, None);
        assert_eq!(o.proxies, vec![ip("127.0.0.1")]);
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof() {
        let c = cfg(&[("10.0.0.1", false)]);
        assert_eq!(c.apply(ip("127.0.0.1"), "203.0.113.7"), None);
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop() {
        // Peer 10.0.0.1 (internal) says the request came from 10.0.0.2
        // (internal), which says 198.51.100.1 (not a proxy of ours), which
        // claims 203.0.113.7: the client is 198.51.100.1.
        let c = cfg(&[("10.0.0.0/8", true)]);
        let o = c
            .apply(ip("10.0.0.1"), "203.0.113.7, 198.51.100.1, 10.0.0.2")
            .expect("applies");
        assert_eq!(o.client, ip("198.51.100.1"));
        assert_eq!(o.header.as_deref(), Some("203.0.113.7"));
        assert!(o.proxies.is_empty(), "internal proxies are not listed");
    }

    #[test]
    fn external_proxies_do_not_present_private_addresses() {
        // A trusted (external) proxy saying 192.168.1.5: not taken.
        let c = cfg(&[("198.51.100.1", false)]);
        assert_eq!(c.apply(ip("198.51.100.1"), "192.168.1.5"), None);
        // An internal one may.
        let c = cfg(&[("10.0.0.1", true)]);
        let o = c.apply(ip("10.0.0.1"), "192.168.1.5").expect("applies");
        assert_eq!(o.client, ip("192.168.1.5"));
        // Without any proxy configured, every peer is an external proxy.
        let c = cfg(&[]);
        assert_eq!(c.apply(ip("127.0.0.1"), "10.1.2.3"), None);
        let o = c.apply(ip("127.0.0.1"), "203.0.113.7").expect("applies");
        assert_eq!(o.client, ip("203.0.113.7"));
    }

    #[test]
    fn an_external_proxy_cannot_present_an_internal_one() {
        // Internal 10.0.0.1 presents trusted (external) 203.0.113.9, which
        // presents 10.0.0.7: in the internal range, but presented by an
        // external proxy it counts as external, and its private address
        // is refused. The client is 203.0.113.9.
        let c = cfg(&[("10.0.0.0/8", true), ("203.0.113.0/24", false)]);
        let o = c
            .apply(ip("10.0.0.1"), "192.168.5.5, 10.0.0.7, 203.0.113.9")
            .expect("applies");
        assert_eq!(o.client, ip("203.0.113.9"));
        assert_eq!(o.header.as_deref(), Some("192.168.5.5, 10.0.0.7"));
        assert!(o.proxies.is_empty(), "only internal proxies were passed");
    }

    #[test]
    fn entries_that_are_not_addresses_end_the_walk() {
        let c = cfg(&[("127.0.0.1", true)]);
        assert_eq!(c.apply(ip("127.0.0.1"), "unknown"), None);
        assert_eq!(c.apply(ip("127.0.0.1"), "203.0.113.7,"), None);
        let o = c
            .apply(ip("127.0.0.1"), "junk, 203.0.113.7")
            .expect("applies");
        assert_eq!(o.client, ip("203.0.113.7"));
        assert_eq!(o.header.as_deref(), Some("junk"));
    }

    #[test]
    fn no_header_configured_changes_nothing() {
        let c = RemoteIp::default();
        assert_eq!(c.apply(ip("127.0.0.1"), "203.0.113.7"), None);
    }

    #[test]
    fn proxy_lists_read_words_and_comments() {
        let l = parse_proxy_list(
            "10.0.0.1 10.0.0.2 # the balancers\n\n192.168.0.0/16\n",
            true,
        )
        .expect("reads");
        assert_eq!(l.len(), 3);
        assert!(l.iter().all(|p| p.internal));
        assert_eq!(
            parse_proxy_list("10.0.0.1\nlb.example\n", false),
            Err((2, "lb.example".to_string()))
        );
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
        ]
    }

    proptest! {
        /// A peer that matches no configured proxy never changes the
        /// client, whatever it sends.
        #[test]
        fn untrusted_peers_never_change_the_client(
            peer in any_ip(),
            hops in proptest::collection::vec(any_ip(), 0..5),
        ) {
            let c = cfg(&[("10.0.0.0/8", true), ("198.51.100.0/24", false)]);
            prop_assume!(!c.proxies.iter().any(|p| p.net.contains(peer)));
            let value: Vec<String> = hops.iter().map(ToString::to_string).collect();
            prop_assert_eq!(c.apply(peer, &value.join(", ")), None);
        }

        /// The client is always the peer or one of the header's entries,
        /// and what is left of the header is a prefix of it.
        #[test]
        fn the_client_comes_from_the_header(
            peer in any_ip(),
            hops in proptest::collection::vec(any_ip(), 1..5),
            internal in any::<bool>(),
        ) {
            let c = cfg(&[("0.0.0.0/1", internal), ("128.0.0.0/1", internal)]);
            let value: Vec<String> = hops.iter().map(ToString::to_string).collect();
            let value = value.join(",");
            if let Some(o) = c.apply(peer, &value) {
                prop_assert!(hops.iter().any(|h| canonical(*h) == o.client));
                if let Some(rest) = &o.header {
                    prop_assert!(value.starts_with(rest.as_str()));
                }
            }
        }
    }
}
