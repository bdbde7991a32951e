//! Outbound HTTP requests (write-back deliveries; any fetch of a URL a user gave us): they reach
//! public addresses only, unless the operator allows a private range, and follow no redirects.
//! Names are checked where the connection is made (the client's resolver), so a name that
//! pointed elsewhere when it was saved (DNS rebinding) cannot pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, RequestBuilder, Url};

/// How long a check made when a URL is saved waits for its name to resolve.
const SAVE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why an outbound request did not get an answer, in words that reveal nothing of the network
/// behind it (no address, no remote body): these are shown to the users who gave the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("refused: private address")]
    PrivateAddress,
    #[error("not a valid URL")]
    BadUrl,
    #[error("could not connect")]
    Connect,
    #[error("timed out")]
    Timeout,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// IPv4 ranges that are not ordinary public unicast (IANA special-purpose registry).
const NON_PUBLIC_V4: [Ipv4Net; 15] = [
    v4(0, 0, 0, 0, 8),       // "this network", unspecified
    v4(10, 0, 0, 0, 8),      // private
    v4(100, 64, 0, 0, 10),   // shared address space (carrier-grade NAT)
    v4(127, 0, 0, 0, 8),     // loopback
    v4(169, 254, 0, 0, 16),  // link-local, cloud metadata (169.254.169.254)
    v4(172, 16, 0, 0, 12),   // private
    v4(192, 0, 0, 0, 24),    // IETF protocol assignments
    v4(192, 0, 2, 0, 24),    // documentation
    v4(192, 88, 99, 0, 24),  // 6to4 relay anycast
    v4(192, 168, 0, 0, 16),  // private
    v4(198, 18, 0, 0, 15),   // benchmarking
    v4(198, 51, 100, 0, 24), // documentation
    v4(203, 0, 113, 0, 24),  // documentation
    v4(224, 0, 0, 0, 4),     // multicast
    v4(240, 0, 0, 0, 4),     // reserved, broadcast
];

/// IPv6 ranges that are not ordinary public unicast; addresses that carry an IPv4 address are
/// judged by it instead (see `embedded_v4`).
const NON_PUBLIC_V6: [Ipv6Net; 7] = [
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),     // IETF protocol assignments, Teredo
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique local
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
];

const NAT64: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// The IPv4 address an IPv6 address stands for or leads to: IPv4-mapped and IPv4-compatible
/// (`::/96`, which holds `::` and `::1` too), NAT64 and 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4() {
        Some(v4)
    } else if NAT64.contains(&ip) {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if SIX_TO_FOUR.contains(&ip) {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// Whether `ip` is an ordinary public unicast address, the only kind reached without the
/// operator's leave.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => !NON_PUBLIC_V4.iter().any(|net| net.contains(&ip)),
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => !NON_PUBLIC_V6.iter().any(|net| net.contains(&ip)),
        },
    }
}

/// An allow-list entry that is neither an address range nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an address range: {0}")]
pub struct BadRange(pub String);

/// The private ranges the operator allows outbound requests to reach
/// (`TOLLGATE_WRITE_BACK_ALLOW`); empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// Comma-separated ranges (`10.0.0.0/8,fd00::/8`) or single addresses.
    pub fn parse(list: &str) -> Result<AllowList, BadRange> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadRange(item.to_string()))
            })
            .collect::<Result<_, _>>()
            .map(AllowList)
    }

    /// Whether a connection to `ip` may be made. An IPv4-mapped address is the IPv4 address
    /// (that is where the connection goes).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || self.0.iter().any(|net| net.contains(&ip))
    }

    /// A URL whose host is an address literal is checked here, before connecting: the
    /// resolver is never asked about those.
    fn check_literal(&self, url: &Url) -> Result<(), OutboundError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(OutboundError::BadUrl),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(OutboundError::PrivateAddress)
        }
    }

    /// The check made when a URL is saved, for a plain answer at once: an address literal, or
    /// a name resolving now to any address not permitted, is refused. A name that does not
    /// resolve passes: the check made when connecting is the one that protects.
    pub async fn check(&self, url: &str) -> Result<(), OutboundError> {
        let url = Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        self.check_literal(&url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let lookup = tokio::net::lookup_host((name, port));
        let Ok(Ok(mut resolved)) = tokio::time::timeout(SAVE_CHECK_TIMEOUT, lookup).await else {
            return Ok(());
        };
        if resolved.any(|addr| !self.permits(addr.ip())) {
            Err(OutboundError::PrivateAddress)
        } else {
            Ok(())
        }
    }
}

/// Resolves names with tokio and keeps only the addresses the allow-list permits.
struct GuardedResolver {
    allow: AllowList,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if resolved.is_empty() {
                return Err(OutboundError::Connect.into());
            }
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| allow.permits(addr.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(OutboundError::PrivateAddress.into());
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client for URLs users give: it connects only to permitted addresses, follows no
/// redirects, uses no proxy and gives up after its timeout.
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
    allow: AllowList,
}

impl Outbound {
    pub fn new(allow: AllowList, timeout: Duration) -> Outbound {
        Outbound::trusting(allow, timeout, &[])
    }

    /// An outbound client that also trusts `roots` (an operator's private certificate
    /// authority) besides the public ones.
    pub fn trusting(
        allow: AllowList,
        timeout: Duration,
        roots: &[reqwest::Certificate],
    ) -> Outbound {
        let builder = roots.iter().fold(reqwest::Client::builder(), |b, root| {
            b.add_root_certificate(root.clone())
        });
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, where the resolver's check cannot see it.
            .no_proxy()
            .timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Outbound { client, allow }
    }

    /// A request to `url`, refused at once when its host is an address not permitted (a name
    /// is checked by the resolver on every connection).
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, OutboundError> {
        let url = Url::parse(url).map_err(|_| OutboundError::BadUrl)?;
        self.allow.check_literal(&url)?;
        Ok(self.client.request(method, url))
    }
}

/// What a failed request comes to, without the error's own text (which names addresses).
pub fn failure(error: &reqwest::Error) -> OutboundError {
    if error.is_timeout() {
        return OutboundError::Timeout;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(outbound) = cause.downcast_ref::<OutboundError>() {
            return *outbound;
        }
        source = cause.source();
    }
    OutboundError::Connect
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_ordinary_public_unicast_addresses_are_public() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ];
        for text in refused {
            assert!(!is_public(ip(text)), "{text} is not public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.3.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for text in public {
            assert!(is_public(ip(text)), "{text} is public");
        }
    }

    #[test]
    fn the_allow_list_admits_its_ranges_and_nothing_else() {
        let allow = AllowList::parse(" 10.0.0.0/8, fd00::/8 ,192.168.1.5").unwrap();
        for text in [
            "10.1.2.3",
            "::ffff:10.1.2.3",
            "fd00::1",
            "192.168.1.5",
            "8.8.8.8",
        ] {
            assert!(allow.permits(ip(text)), "{text} permitted");
        }
        for text in [
            "127.0.0.1",
            "192.168.1.6",
            "169.254.169.254",
            "fe80::1",
            "fc00::1",
        ] {
            assert!(!allow.permits(ip(text)), "{text} refused");
        }
        assert_eq!(AllowList::parse("").unwrap(), AllowList::default());
        assert_eq!(
            AllowList::parse("10.0.0.0/8,10.0.0.0/33"),
            Err(BadRange("10.0.0.0/33".into()))
        );
        assert_eq!(
            AllowList::parse("intranet"),
            Err(BadRange("intranet".into()))
        );
    }

    #[test]
    fn address_literals_are_checked_before_connecting() {
        let none = AllowList::default();
        let check = |url: &str| none.check_literal(&Url::parse(url).unwrap());
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            assert_eq!(check(url), Err(OutboundError::PrivateAddress), "{url}");
        }
        assert_eq!(check("https://8.8.8.8/"), Ok(()));
        assert_eq!(
            check("https://hooks.example.com/"),
            Ok(()),
            "names: the resolver's job"
        );
    }
}
