//! The client's address behind reverse proxies: `X-Forwarded-For` (or `Forwarded: for=`) is
//! believed only from a configured trusted proxy, and then only as far as the chain is made of
//! trusted proxies: the address taken is the rightmost one that is not a trusted proxy (what
//! the last trusted hop saw), so a caller cannot choose it by sending the header themselves.

use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address as the server middleware worked it out, in a request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Parses a comma-separated list of addresses and networks (`10.0.0.0/8, 192.168.1.5`).
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not an IP address or network"))
        })
        .collect()
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// An address of a forwarding header entry: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `"[::1]"`.
fn address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    entry.rsplit_once(':')?.0.parse().ok()
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// forwarding headers are walked from the right past trusted proxies.
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    forwarded: Option<&str>,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    // Entries that do not parse (`unknown`, an obfuscated name) stay in the chain as `None`:
    // the walk stops there, at the last hop a trusted proxy vouched for.
    let chain: Vec<Option<IpAddr>> = match (forwarded_for, forwarded) {
        (Some(xff), _) => xff.split(',').map(address).collect(),
        (None, Some(fwd)) => fwd
            .split(',')
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| address(v))
                        .flatten()
                })
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut client = peer;
    for entry in chain.iter().rev() {
        match entry.map(|ip| ip.to_canonical()) {
            Some(ip) if trusted(ip, proxies) => client = ip,
            Some(ip) => return Some(ip),
            None => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = parse_networks("10.0.0.0/8, 192.168.1.5").unwrap();
        let x = Some("203.0.113.7, 10.1.1.1");
        // A caller talking directly cannot choose its address.
        assert_eq!(
            client_ip(Some(ip("198.51.100.2")), x, None, &proxies),
            Some(ip("198.51.100.2"))
        );
        // Behind the proxies: the rightmost address they did not add.
        assert_eq!(
            client_ip(Some(ip("10.2.2.2")), x, None, &proxies),
            Some(ip("203.0.113.7"))
        );
        // A forged leftmost entry is not taken.
        let forged = Some("1.1.1.1, 203.0.113.7");
        assert_eq!(
            client_ip(Some(ip("192.168.1.5")), forged, None, &proxies),
            Some(ip("203.0.113.7"))
        );
        let fwd = Some(r#"for=192.0.2.60;proto=http, for="[2001:db8::1]:4711""#);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, fwd, &proxies),
            Some(ip("2001:db8::1"))
        );
        // Only proxies in the chain: the first of them (what the next one saw).
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("10.0.0.2"), None, &proxies),
            Some(ip("10.0.0.2"))
        );
        // IPv4 peers seen through an IPv6 socket are the IPv4 addresses.
        assert_eq!(
            client_ip(Some(ip("::ffff:198.51.100.2")), None, None, &proxies),
            Some(ip("198.51.100.2"))
        );
        // An entry that does not parse ends the walk: nothing left of it is believed.
        let unknown = Some("1.1.1.1, unknown, 10.0.0.2");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), unknown, None, &proxies),
            Some(ip("10.0.0.2"))
        );
        assert!(parse_networks("10.0.0.0/8, nope").is_err());
        assert_eq!(parse_networks("").unwrap(), Vec::<IpNet>::new());
    }
}
