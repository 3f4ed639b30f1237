//! Which URLs a tenant may make the platform call. A URL an API user supplies (a custom
//! toolkit's base URL today) is hostile until shown otherwise: it must be `https`, carry no
//! credentials, and its host — the literal address, or every address its name resolves to —
//! must be a public one: never loopback, private (RFC 1918), shared (CGNAT, RFC 6598),
//! link-local (where cloud metadata services live), unique-local (IPv6 ULA), multicast,
//! reserved or unspecified, nor an IPv4 address in IPv6 clothing (mapped, compatible, NAT64)
//! of those. An operator can allow private addresses (and plain `http`) for a deployment that
//! calls its own network, or for tests against local stand-ins.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a URL is refused; the message is safe to show to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether private destinations are allowed (an operator setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Loopback, private and link-local addresses, and `http`, allowed.
    pub allow_private: bool,
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (CGNAT), RFC 6598.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, RFC 6890.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, RFC 2544.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved for future use (and the broadcast address).
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7 (AWS's metadata service answers on fd00:ec2::254).
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Site-local (deprecated), fec0::/10.
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

/// Checks `url` without looking its host up: the scheme, no credentials, and a literal
/// address (or an obviously local name) that is public. Returns the parsed URL.
pub fn check_syntax(url: &str, policy: Policy) -> Result<url::Url, Refused> {
    let parsed =
        url::Url::parse(url).map_err(|_| Refused("must be an absolute https URL".into()))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        _ => return Err(Refused("must be an https URL".into())),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused("must not carry a user name or password".into()));
    }
    if policy.allow_private {
        return match parsed.host() {
            Some(_) => Ok(parsed),
            None => Err(Refused("must name a host".into())),
        };
    }
    match parsed.host() {
        Some(url::Host::Ipv4(v4)) if !is_public_v4(v4) => Err(Refused(format!(
            "{v4} is not a public address (loopback, private, link-local and metadata addresses are refused)"
        ))),
        Some(url::Host::Ipv6(v6)) if !is_public_v6(v6) => Err(Refused(format!(
            "{v6} is not a public address (loopback, private, link-local and metadata addresses are refused)"
        ))),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local = name == "localhost"
                || name.ends_with(".localhost")
                || name.ends_with(".local")
                || name.ends_with(".internal")
                || !name.contains('.');
            if local {
                Err(Refused(format!("{name} is not a public host name")))
            } else {
                Ok(parsed)
            }
        }
        Some(_) => Ok(parsed),
        None => Err(Refused("must name a host".into())),
    }
}

/// [`check_syntax`], then the host's name resolved: every address it resolves to must be
/// public (a name pointing at 127.0.0.1 or 169.254.169.254 is refused like the address).
/// A name that does not resolve is refused too.
pub async fn check(url: &str, policy: Policy) -> Result<url::Url, Refused> {
    let parsed = check_syntax(url, policy)?;
    if policy.allow_private {
        return Ok(parsed);
    }
    let Some(url::Host::Domain(name)) = parsed.host() else {
        return Ok(parsed);
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| Refused(format!("{name} does not resolve")))?
        .collect();
    if addresses.is_empty() {
        return Err(Refused(format!("{name} does not resolve")));
    }
    if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(Refused(format!(
            "{name} resolves to {}, which is not a public address",
            private.ip()
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn private_loopback_link_local_metadata_and_disguised_forms_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_need_https_no_credentials_and_a_public_host() {
        let strict = Policy::default();
        assert!(check_syntax("https://api.example.com/v1", strict).is_ok());
        for bad in [
            "http://api.example.com",
            "ftp://api.example.com",
            "https://user:pw@api.example.com",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://localhost:8443/",
            "https://metadata.google.internal/",
            "https://intranet/",
            "not a url",
        ] {
            assert!(check_syntax(bad, strict).is_err(), "{bad}");
        }
        let open = Policy {
            allow_private: true,
        };
        assert!(check_syntax("http://127.0.0.1:8080/api", open).is_ok());
        assert!(check_syntax("https://u:p@127.0.0.1/", open).is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_refused() {
        // `localhost.` with a trailing dot slips past the name rule only to be caught by
        // resolution; a plain public-looking name that does not resolve is refused too.
        let strict = Policy::default();
        let err = check("https://127.0.0.1.nip.invalid/", strict)
            .await
            .unwrap_err();
        assert!(err.0.contains("does not resolve"), "{err}");
        assert!(check("https://localhost./", strict).await.is_err());
    }
}
