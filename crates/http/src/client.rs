//! The address a request comes from: the connection's peer, or, when the peer is a proxy the
//! configuration trusts, the address that proxy (and any trusted proxies before it) saw.
//!
//! Only the addresses trusted proxies appended mean anything: the rest of a forwarding header
//! is whatever the client wrote. So the chain is read from the right, past every trusted
//! address, and the first untrusted one is the client (RFC 7239 section 7.4; OWASP's advice on
//! `X-Forwarded-For`). RFC 7239 `Forwarded` is read when present, else `X-Forwarded-For`. A
//! header that does not parse, or a node that is no address (`unknown`, an obfuscated
//! identifier), ends the walk at the last trusted hop's view: the peer stays the client
//! rather than an address anyone could forge.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, header};
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses and CIDR ranges (`10.0.0.0/8`, `::1`, `192.0.2.7`).
    ///
    /// # Errors
    /// The first entry that is neither.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        entries
            .into_iter()
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let Some(chain) = forwarded_chain(headers) else {
            return client;
        };
        for hop in chain.into_iter().rev() {
            let Some(address) = hop else {
                return client;
            };
            client = canonical(address);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:192.0.2.1`) as the IPv4 address it is.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The addresses of the forwarding chain, client first; `None` for a hop that is no address.
/// `None` as a whole when there is no header, or it does not parse.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Option<_>>()?;
    if !forwarded.is_empty() {
        let mut chain = Vec::new();
        for value in forwarded {
            for node in rfc7239::parse(value) {
                let node = node.ok()?;
                chain.push(node.forwarded_for.and_then(|id| match id.name {
                    rfc7239::NodeName::Ip(address) => Some(address),
                    _ => None,
                }));
            }
        }
        return Some(chain);
    }
    let forwarded_for: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.to_str().ok())
        .collect::<Option<_>>()?;
    if forwarded_for.is_empty() {
        return None;
    }
    Some(
        forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(|hop| parse_hop(hop.trim()))
            .collect(),
    )
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
}

/// The connection's peer, when the server recorded it.
pub(crate) fn peer<B>(request: &Request<B>) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// The client's address, as [`TrustedProxies::client`] resolved it, in a request's
/// extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            proxies.client(ip("198.51.100.7"), &forged),
            ip("198.51.100.7")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &forged), ip("10.0.0.1"));
    }

    #[test]
    fn the_chain_is_read_from_the_right_past_trusted_proxies() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8", "::1"]).unwrap();
        // The client wrote 1.1.1.1 itself; 198.51.100.7 is what the outer proxy saw.
        let xff = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.3")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &xff), ip("198.51.100.7"));
        // Several header lines are one list; ports and IPv6 brackets are understood.
        let split = headers(&[
            ("x-forwarded-for", "[2001:db8::7]:4711"),
            ("x-forwarded-for", "10.0.0.9:80"),
        ]);
        assert_eq!(proxies.client(ip("::1"), &split), ip("2001:db8::7"));
        // RFC 7239 wins over X-Forwarded-For.
        let both = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\"",
            ),
            ("x-forwarded-for", "203.0.113.1"),
        ]);
        assert_eq!(
            proxies.client(ip("10.1.1.1"), &both),
            ip("2001:db8:cafe::17")
        );
        // An IPv4 peer seen through an IPv6 socket is trusted as the IPv4 address it is.
        let mapped = headers(&[("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &mapped),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn what_is_no_address_stops_the_walk_at_the_last_trusted_hop() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let unknown = headers(&[("forwarded", "for=192.0.2.1, for=unknown")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &unknown), ip("10.0.0.2"));
        let garbage = headers(&[("x-forwarded-for", "192.0.2.1, not-an-address")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &garbage), ip("10.0.0.2"));
        let malformed = headers(&[("forwarded", "for=\"unterminated")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &malformed), ip("10.0.0.2"));
        // Every hop trusted: the leftmost is the client.
        let inside = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.3")]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &inside), ip("10.9.9.9"));
    }

    #[test]
    fn entries_that_are_not_addresses_are_refused() {
        assert!(TrustedProxies::parse(["10.0.0.0/8", " 192.0.2.1 ", ""]).is_ok());
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(["localhost"]).is_err());
    }
}
