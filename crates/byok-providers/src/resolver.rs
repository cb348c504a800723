//! A DNS resolver that refuses non-public addresses (security.md item 11).
//!
//! Installed in the shared HTTP client unless the operator allows insecure
//! upstreams. Because reqwest connects to exactly the addresses the resolver
//! returns, the address that was checked is the address connected to: a
//! host name cannot pass the check and then re-resolve to `127.0.0.1`.
//! (IP-literal URLs never reach a resolver; user-supplied endpoints with IP
//! literals are refused by [`crate::validate_endpoint`].)
//!
//! What "public" means is data, not code: `V4_SPECIAL` and `V6_SPECIAL`
//! list the blocks that are refused, `V6_EMBEDS_V4` the IPv6 prefixes that
//! are judged by the IPv4 address they carry, and `V6_GLOBAL_UNICAST` the
//! only IPv6 space allocated for global unicast.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

// The tables below follow the IANA IPv4 Special-Purpose Address Registry and
// the IANA IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry/,
// https://www.iana.org/assignments/iana-ipv6-special-registry/; RFC 6890 and
// RFC 8190), entries as of their 2024-2025 updates (newest: 3fff::/20
// RFC 9637, 5f00::/16 RFC 9602, 100:0:0:1::/64), reviewed 2026-11-30, plus
// the blocks the IANA IPv4/IPv6 Address Space registries keep out of global
// unicast (multicast, 240/4, fec0::/10, ff00::/8, everything outside
// 2000::/3). Every block whose "Globally Reachable" is False is refused; so
// are a few that are reachable but are never an LLM provider and only serve
// to reach somewhere unexpected (the whole 192.0.0.0/24 and 2001::/23 IETF
// protocol-assignment blocks, AS112, AMT, the deprecated 6to4 relay anycast).
// Within a family the more specific block comes first, so the name reported
// is the most precise one.

/// An address block: network address, prefix length, what it is.
type Block<A> = (A, u8, &'static str);

/// IPv4 blocks that are refused.
#[rustfmt::skip] // one block per line
const V4_SPECIAL: &[Block<Ipv4Addr>] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\" (RFC 791)"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private use (RFC 1918)"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared address space, CGNAT (RFC 6598)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback (RFC 1122)"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link local, incl. cloud metadata (RFC 3927)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private use (RFC 1918)"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments (RFC 6890)"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation, TEST-NET-1 (RFC 5737)"),
    (Ipv4Addr::new(192, 31, 196, 0), 24, "AS112-v4 (RFC 7535)"),
    (Ipv4Addr::new(192, 52, 193, 0), 24, "AMT (RFC 7450)"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast, deprecated (RFC 7526)"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private use (RFC 1918)"),
    (Ipv4Addr::new(192, 175, 48, 0), 24, "direct delegation AS112 service (RFC 7534)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation, TEST-NET-2 (RFC 5737)"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation, TEST-NET-3 (RFC 5737)"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast (RFC 5771)"),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "limited broadcast (RFC 919)"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved (RFC 1112)"),
];

/// IPv6 prefixes whose last 32 bits are an IPv4 address; such an address is
/// judged by that IPv4 address.
#[rustfmt::skip] // one block per line
const V6_EMBEDS_V4: &[Block<Ipv6Addr>] = &[
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, "IPv4-mapped (RFC 4291)"),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96, "NAT64 well-known prefix (RFC 6052)"),
];

/// IPv6 blocks that are refused (after `V6_EMBEDS_V4`).
#[rustfmt::skip] // one block per line
const V6_SPECIAL: &[Block<Ipv6Addr>] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified (RFC 4291)"),
    (Ipv6Addr::LOCALHOST, 128, "loopback (RFC 4291)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "IPv4-compatible, deprecated (RFC 4291)"),
    (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96, "IPv4-translated (RFC 2765)"),
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, "local-use NAT64 (RFC 8215)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only (RFC 6666)"),
    (Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0), 64, "dummy prefix"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, "Teredo (RFC 4380)"),
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48, "benchmarking (RFC 5180)"),
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, "ORCHID, deprecated (RFC 4843)"),
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28, "ORCHIDv2 (RFC 7343)"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF protocol assignments (RFC 2928)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation (RFC 3849)"),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4, embeds an IPv4 address (RFC 3056)"),
    (Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0), 48, "direct delegation AS112 service (RFC 7534)"),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, "documentation (RFC 9637)"),
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16, "SRv6 SIDs (RFC 9602)"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local (RFC 4193)"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local unicast (RFC 4291)"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local, deprecated (RFC 3879)"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast (RFC 4291)"),
];

/// The only IPv6 space allocated for global unicast (IANA IPv6 Address
/// Space registry); anything outside it that no table above names is
/// refused as well.
const V6_GLOBAL_UNICAST: Block<Ipv6Addr> = (
    Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0),
    3,
    "outside global unicast 2000::/3 (RFC 4291)",
);

fn in_v4(addr: Ipv4Addr, &(net, len, _): &Block<Ipv4Addr>) -> bool {
    let mask = u32::MAX
        .checked_shl(32u32.saturating_sub(len.into()))
        .unwrap_or(0);
    addr.to_bits() & mask == net.to_bits()
}

fn in_v6(addr: Ipv6Addr, &(net, len, _): &Block<Ipv6Addr>) -> bool {
    let mask = u128::MAX
        .checked_shl(128u32.saturating_sub(len.into()))
        .unwrap_or(0);
    addr.to_bits() & mask == net.to_bits()
}

fn v4_block(v4: Ipv4Addr) -> Option<&'static str> {
    V4_SPECIAL.iter().find(|b| in_v4(v4, b)).map(|b| b.2)
}

fn v6_block(v6: Ipv6Addr) -> Option<&'static str> {
    if V6_EMBEDS_V4.iter().any(|b| in_v6(v6, b)) {
        let [.., a, b, c, d] = v6.octets();
        return v4_block(Ipv4Addr::new(a, b, c, d));
    }
    if let Some(b) = V6_SPECIAL.iter().find(|b| in_v6(v6, b)) {
        return Some(b.2);
    }
    (!in_v6(v6, &V6_GLOBAL_UNICAST)).then_some(V6_GLOBAL_UNICAST.2)
}

/// The special-purpose block `ip` falls in, if any (see the tables above).
fn special_purpose_block(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_block(v4),
        IpAddr::V6(v6) => v6_block(v6),
    }
}

/// Whether `ip` is a public unicast address: in no block of the IANA IPv4
/// and IPv6 special-purpose registries that is not globally reachable
/// (loopback, private, link-local incl. the `169.254.169.254` metadata
/// service, CGNAT, unspecified, broadcast, documentation, benchmarking,
/// reserved, Teredo, 6to4, ULA, site-local, ...), not multicast, and for
/// IPv6 inside global unicast `2000::/3`. IPv4-mapped and NAT64
/// (`64:ff9b::/96`) IPv6 forms are judged by their IPv4 address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    special_purpose_block(ip).is_none()
}

/// Resolves with the system resolver and fails if any address is not public.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Addrs = Box::new(resolve_public(&host).await?.into_iter());
            Ok(addrs)
        })
    }
}

/// Resolves `host` with the system resolver; refused if it resolves to no
/// address or to any address that is not public. The one check behind
/// [`PublicOnlyResolver`] and the gateway's own client
/// ([`crate::HttpClient`]).
pub(crate) async fn resolve_public(
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err("host name resolved to no address".into());
    }
    if addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err("host name resolves to a non-public address; refused".into());
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(
                !is_public_ip(bad.parse().unwrap()),
                "{bad} must not be public"
            );
        }
        for good in [
            "8.8.8.8",
            "20.42.65.92",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_ip(good.parse().unwrap()), "{good} is public");
        }
    }

    /// One test per block: addresses inside are refused (first, last and
    /// any listed), the neighbours just outside are public where they are
    /// global unicast.
    macro_rules! block {
        ($name:ident, refused: [$($bad:literal),+ $(,)?], public: [$($good:literal),* $(,)?]) => {
            #[test]
            fn $name() {
                for bad in [$($bad),+] {
                    let ip: IpAddr = bad.parse().unwrap();
                    assert!(!is_public_ip(ip), "{bad} must not be public");
                }
                let public: &[&str] = &[$($good),*];
                for good in public {
                    let ip: IpAddr = good.parse().unwrap();
                    assert!(is_public_ip(ip), "{good} is public");
                }
            }
        };
    }

    block!(v4_this_network, refused: ["0.0.0.0", "0.255.255.255"], public: ["1.0.0.0"]);
    block!(v4_private_10, refused: ["10.0.0.0", "10.255.255.255"], public: ["9.255.255.255", "11.0.0.0"]);
    block!(v4_shared_cgnat, refused: ["100.64.0.0", "100.127.255.255"], public: ["100.63.255.255", "100.128.0.0"]);
    block!(v4_loopback, refused: ["127.0.0.0", "127.255.255.255"], public: ["126.255.255.255", "128.0.0.0"]);
    block!(v4_link_local, refused: ["169.254.0.0", "169.254.169.254", "169.254.255.255"], public: ["169.253.255.255", "169.255.0.0"]);
    block!(v4_private_172, refused: ["172.16.0.0", "172.31.255.255"], public: ["172.15.255.255", "172.32.0.0"]);
    block!(v4_ietf_protocol, refused: ["192.0.0.0", "192.0.0.9", "192.0.0.255"], public: ["191.255.255.255", "192.0.1.0"]);
    block!(v4_test_net_1, refused: ["192.0.2.0", "192.0.2.255"], public: ["192.0.1.255", "192.0.3.0"]);
    block!(v4_as112, refused: ["192.31.196.0", "192.31.196.255"], public: ["192.31.195.255", "192.31.197.0"]);
    block!(v4_amt, refused: ["192.52.193.0", "192.52.193.255"], public: ["192.52.192.255", "192.52.194.0"]);
    block!(v4_6to4_relay, refused: ["192.88.99.0", "192.88.99.1", "192.88.99.255"], public: ["192.88.98.255", "192.88.100.0"]);
    block!(v4_private_192, refused: ["192.168.0.0", "192.168.255.255"], public: ["192.167.255.255", "192.169.0.0"]);
    block!(v4_as112_direct, refused: ["192.175.48.0", "192.175.48.255"], public: ["192.175.47.255", "192.175.49.0"]);
    block!(v4_benchmarking, refused: ["198.18.0.0", "198.19.255.255"], public: ["198.17.255.255", "198.20.0.0"]);
    block!(v4_test_net_2, refused: ["198.51.100.0", "198.51.100.255"], public: ["198.51.99.255", "198.51.101.0"]);
    block!(v4_test_net_3, refused: ["203.0.113.0", "203.0.113.255"], public: ["203.0.112.255", "203.0.114.0"]);
    block!(v4_multicast, refused: ["224.0.0.0", "239.255.255.255"], public: ["223.255.255.255"]);
    block!(v4_reserved, refused: ["240.0.0.0", "255.255.255.254"], public: []);
    block!(v4_broadcast, refused: ["255.255.255.255"], public: []);

    block!(v6_unspecified, refused: ["::"], public: []);
    block!(v6_loopback, refused: ["::1"], public: []);
    block!(v6_ipv4_compatible, refused: ["::8.8.8.8", "::ffff:ffff", "::1:0"], public: []);
    block!(v6_ipv4_translated, refused: ["::ffff:0:8.8.8.8", "::ffff:0:0:0"], public: []);
    block!(v6_ipv4_mapped, refused: ["::ffff:0.0.0.0", "::ffff:10.0.0.1", "::ffff:192.88.99.1", "::ffff:255.255.255.255"], public: ["::ffff:8.8.8.8", "::ffff:1.0.0.0"]);
    block!(v6_nat64, refused: ["64:ff9b::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::100.64.0.1"], public: ["64:ff9b::8.8.8.8", "64:ff9b::1.1.1.1"]);
    block!(v6_nat64_local, refused: ["64:ff9b:1::", "64:ff9b:1::8.8.8.8", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_discard, refused: ["100::", "100::ffff:ffff:ffff:ffff"], public: []);
    block!(v6_dummy, refused: ["100:0:0:1::", "100::1:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_ietf_protocol, refused: ["2001::", "2001:1::1", "2001:3::1", "2001:4:112::1", "2001:30::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"], public: ["2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:200::"]);
    block!(v6_teredo, refused: ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_benchmarking, refused: ["2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_orchid, refused: ["2001:10::1", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", "2001:20::1", "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_documentation, refused: ["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"], public: ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"]);
    block!(v6_6to4, refused: ["2002::", "2002:c000:204::1", "2002:808:808::1", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: ["2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::"]);
    block!(v6_as112_direct, refused: ["2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff"], public: ["2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", "2620:4f:8001::"]);
    block!(v6_documentation_3fff, refused: ["3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"], public: ["3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff:1000::"]);
    block!(v6_srv6_sids, refused: ["5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_unique_local, refused: ["fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_link_local, refused: ["fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_site_local, refused: ["fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_multicast, refused: ["ff00::", "ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], public: []);
    block!(v6_outside_global_unicast, refused: ["1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "4000::", "8000::", "e000::"], public: ["2000::", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2606:4700::1111", "2a00:1450:4001::1"]);

    #[test]
    fn tables_are_canonical() {
        for b @ (net, len, name) in V4_SPECIAL {
            assert!(*len <= 32 && !name.is_empty(), "{b:?}");
            let host = u32::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
            assert_eq!(net.to_bits() & host, 0, "{b:?} has host bits set");
        }
        let v6 = V6_EMBEDS_V4
            .iter()
            .chain(V6_SPECIAL)
            .chain([&V6_GLOBAL_UNICAST]);
        for b @ (net, len, name) in v6 {
            assert!(*len <= 128 && !name.is_empty(), "{b:?}");
            let host = u128::MAX.checked_shr(u32::from(*len)).unwrap_or(0);
            assert_eq!(net.to_bits() & host, 0, "{b:?} has host bits set");
        }
    }

    /// An address in `(net, len)` with host bits `bits`.
    fn v4_in(&(net, len, _): &Block<Ipv4Addr>, bits: u32) -> Ipv4Addr {
        let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        Ipv4Addr::from_bits(net.to_bits() | (bits & host))
    }

    fn v6_in(&(net, len, _): &Block<Ipv6Addr>, bits: u128) -> Ipv6Addr {
        let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        Ipv6Addr::from_bits(net.to_bits() | (bits & host))
    }

    proptest::proptest! {
        #[test]
        fn every_v4_address_in_a_blocked_prefix_is_refused(
            i in 0..V4_SPECIAL.len(), bits: u32,
        ) {
            let b = &V4_SPECIAL[i];
            let ip = v4_in(b, bits);
            proptest::prop_assert!(!is_public_ip(IpAddr::V4(ip)), "{ip} in {b:?}");
            // ... and in every IPv6 form that embeds it.
            proptest::prop_assert!(!is_public_ip(IpAddr::V6(ip.to_ipv6_mapped())));
            proptest::prop_assert!(!is_public_ip(IpAddr::V6(v6_in(&V6_EMBEDS_V4[1], u128::from(ip.to_bits())))));
        }

        #[test]
        fn every_v6_address_in_a_blocked_prefix_is_refused(
            i in 0..V6_SPECIAL.len(), bits: u128,
        ) {
            let b = &V6_SPECIAL[i];
            let ip = v6_in(b, bits);
            proptest::prop_assert!(!is_public_ip(IpAddr::V6(ip)), "{ip} in {b:?}");
        }

        #[test]
        fn v6_outside_global_unicast_is_refused(bits: u128) {
            let ip = Ipv6Addr::from_bits(bits);
            let embeds = V6_EMBEDS_V4.iter().any(|b| in_v6(ip, b));
            if !embeds && !in_v6(ip, &V6_GLOBAL_UNICAST) {
                proptest::prop_assert!(!is_public_ip(IpAddr::V6(ip)), "{ip}");
            }
        }

        #[test]
        fn embedded_v4_is_judged_as_the_v4(bits: u32) {
            let v4 = Ipv4Addr::from_bits(bits);
            let expected = is_public_ip(IpAddr::V4(v4));
            for b in V6_EMBEDS_V4 {
                let v6 = v6_in(b, u128::from(bits));
                proptest::prop_assert_eq!(is_public_ip(IpAddr::V6(v6)), expected, "{}", v6);
            }
        }

        #[test]
        fn six_to_four_and_teredo_are_refused_whatever_they_embed(host: u128) {
            for net in ["2002::", "2001::"] {
                let base: Ipv6Addr = net.parse().unwrap();
                let len = if net == "2002::" { 16 } else { 32 };
                let ip = v6_in(&(base, len, ""), host);
                proptest::prop_assert!(!is_public_ip(IpAddr::V6(ip)), "{ip}");
            }
        }
    }

    #[tokio::test]
    async fn localhost_is_refused() {
        let r = PublicOnlyResolver
            .resolve("localhost".parse().unwrap())
            .await;
        assert!(r.is_err());
    }
}
