//! Which addresses webhooks may reach: a guard against server-side request forgery (OWASP
//! SSRF Prevention Cheat Sheet). Public unicast addresses always; loopback and private ranges
//! only when configured; link-local (where cloud metadata, credential and time services
//! live), cloud metadata, unspecified, multicast, broadcast, reserved and
//! IPv4-embedding IPv6 addresses never.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address ranges beyond the public internet that webhooks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Destinations {
    /// `127.0.0.0/8` and `::1` (a receiver on the same machine: tests, sidecars).
    pub allow_loopback: bool,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), shared address space (`100.64/10`,
    /// RFC 6598) and unique local IPv6 (`fc00::/7`, RFC 4193) addresses, metadata endpoints
    /// excepted.
    pub allow_private: bool,
}

/// Cloud instance-metadata and credential endpoints outside link-local ranges: never
/// reachable, whatever is allowed (AWS IMDS and EKS Pod Identity over IPv6, Alibaba Cloud,
/// Azure WireServer).
const METADATA: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
];

impl Destinations {
    /// Why `ip` may not be reached, or `None` if it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        if METADATA.contains(&ip) {
            return Some("a cloud metadata address");
        }
        let class = match ip {
            IpAddr::V4(v4) => classify_v4(v4),
            IpAddr::V6(v6) => classify_v6(v6),
        };
        match class {
            Class::Public => None,
            Class::Loopback if self.allow_loopback => None,
            Class::Private if self.allow_private => None,
            Class::Loopback => Some("a loopback address"),
            Class::Private => Some("a private address"),
            Class::Never => Some("a link-local, reserved, multicast or unspecified address"),
        }
    }
}

enum Class {
    Public,
    Loopback,
    Private,
    Never,
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if ip.is_link_local()
        || ip.is_unspecified()
        || a == 0
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        Class::Never
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unique_local() {
        Class::Private
    } else if ip.is_unicast_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Site-local (deprecated, RFC 3879) and documentation (RFC 3849).
        || (ip.segments()[0] & 0xffc0) == 0xfec0
        || ip.segments()[0] == 0x2001 && ip.segments()[1] == 0xdb8
        // Addresses that embed an IPv4 one, which would escape the checks above:
        // IPv4-compatible (`::a.b.c.d`), NAT64 (RFC 6052, RFC 8215), 6to4 and Teredo.
        || ip.segments()[..6] == [0; 6]
        || ip.segments()[0] == 0x64 && ip.segments()[1] == 0xff9b
        || ip.segments()[0] == 0x2002
        || ip.segments()[0] == 0x2001 && ip.segments()[1] == 0
    {
        Class::Never
    } else {
        Class::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_by_default() {
        let strict = Destinations::default();
        assert_eq!(strict.refusal(ip("93.184.216.34")), None);
        assert_eq!(strict.refusal(ip("2606:2800:220:1::1")), None);
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd12:3456::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "::ffff:127.0.0.1",
            "::ffff:10.1.1.1",
            "240.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2001:0:4136:e378::1",
            "2002:7f00:1::1",
            "fec0::1",
            "168.63.129.16",
            "169.254.170.2",
        ] {
            assert!(strict.refusal(ip(refused)).is_some(), "{refused}");
        }
    }

    #[test]
    fn configuration_opens_loopback_and_private_ranges_but_never_metadata() {
        let open = Destinations {
            allow_loopback: true,
            allow_private: true,
        };
        assert_eq!(open.refusal(ip("127.0.0.1")), None);
        assert_eq!(open.refusal(ip("10.0.0.1")), None);
        assert_eq!(open.refusal(ip("fd12::1")), None);
        // Link-local is where metadata and credential services live: never.
        assert!(open.refusal(ip("fe80::1")).is_some());
        assert!(open.refusal(ip("169.254.169.254")).is_some());
        assert!(open.refusal(ip("169.254.170.2")).is_some());
        assert!(open.refusal(ip("fd00:ec2::254")).is_some());
        assert!(open.refusal(ip("0.0.0.0")).is_some());
        let loopback_only = Destinations {
            allow_loopback: true,
            allow_private: false,
        };
        assert_eq!(loopback_only.refusal(ip("::1")), None);
        assert!(loopback_only.refusal(ip("192.168.0.1")).is_some());
    }
}
