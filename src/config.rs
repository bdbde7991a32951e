//! Configuration from environment variables, each with a default that runs locally.

use std::net::SocketAddr;

use crate::outbound::AllowList;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
}

/// `TOLLGATE_LOG_FORMAT`: `text` (default, for people) or `json` (one object a line, for a log
/// collector). Read before everything else, so that the rest of the start is logged in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn from_env() -> Result<LogFormat, ConfigError> {
        match std::env::var("TOLLGATE_LOG_FORMAT") {
            Err(_) => Ok(LogFormat::Text),
            Ok(value) => match value.as_str() {
                "" | "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(ConfigError::Invalid {
                    name: "TOLLGATE_LOG_FORMAT",
                    value,
                    why: "text or json",
                }),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    /// `TOLLGATE_ADDR`, else cargo-leptos' `LEPTOS_SITE_ADDR`, else 127.0.0.1:3000.
    pub addr: SocketAddr,
    /// `DATABASE_URL`, default `sqlite://data/tollgate.db`.
    pub database_url: String,
    /// `TOLLGATE_ENV`: `live` (default) or `test`; decides which tokens are accepted.
    pub environment: Environment,
    /// `TOLLGATE_PUBLIC_URL`: where users reach this server, default `http://<addr>`.
    /// Its origin is the one allowed to post forms and to call `/mcp` from a browser.
    pub public_url: String,
    /// `TOLLGATE_TRUSTED_PROXIES=N` (or `TOLLGATE_TRUST_FORWARDED=1`, meaning 1): how many
    /// proxies in front append to `X-Forwarded-For`; the client IP is the N-th entry from the
    /// right (entries further left are the client's own words). 0 (default): the socket peer.
    pub trusted_proxies: usize,
    /// `TOLLGATE_SIGN_UPS_PER_IP` (default 10): accounts one client IP may create in an hour.
    pub sign_ups_per_ip: i64,
    /// `TOLLGATE_MAX_OWNED_ORGS` (default 5): organizations one user may own.
    pub max_owned_organizations: i64,
    /// `TOLLGATE_MAX_IN_FLIGHT` (default 512): requests served at once; more are refused with
    /// 503 and `Retry-After` instead of queueing without bound.
    pub max_in_flight: usize,
    /// `TOLLGATE_WRITE_BACK_ALLOW`: private address ranges (comma-separated, such as
    /// `10.0.0.0/8,fd00::/8`) that outbound requests may reach; none by default.
    pub outbound_allow: AllowList,
    /// `TOLLGATE_CLIENT_DOCUMENT_ALLOW`: private address ranges OAuth client metadata documents
    /// may be fetched from (anyone can name one: kept apart from the write-back ranges); none by
    /// default.
    pub client_document_allow: AllowList,
    /// `TOLLGATE_OUTBOUND_CA_FILE`: a PEM file of root certificates that outbound requests
    /// (write-back, OAuth client documents) trust besides the public ones: a private CA.
    pub outbound_roots: Vec<reqwest::Certificate>,
    /// `TOLLGATE_METRICS=1`: Prometheus metrics at `/metrics` on the public address (keep it
    /// from the internet at the proxy). Off by default.
    pub metrics_on_public_addr: bool,
    /// `TOLLGATE_METRICS_ADDR`: serve `/metrics` on this address, apart from the public port
    /// (a private interface, or 127.0.0.1 for a local agent).
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {value:?} ({why})")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

impl Config {
    pub fn from_env(default_addr: SocketAddr) -> Result<Config, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let addr = match var("TOLLGATE_ADDR") {
            Some(value) => value.parse().map_err(|_| ConfigError::Invalid {
                name: "TOLLGATE_ADDR",
                value,
                why: "expected host:port such as 127.0.0.1:3000",
            })?,
            None => default_addr,
        };
        let environment = match var("TOLLGATE_ENV").as_deref() {
            None | Some("live") => Environment::Live,
            Some("test") => Environment::Test,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "TOLLGATE_ENV",
                    value: other.to_string(),
                    why: "expected live or test",
                })
            }
        };
        let public_url = var("TOLLGATE_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "TOLLGATE_PUBLIC_URL",
                value: public_url,
                why: "expected an http:// or https:// URL",
            });
        }
        let number =
            |name: &'static str, default: usize, min: usize, why: &'static str| match var(name) {
                None => Ok(default),
                Some(value) => value
                    .parse()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or(ConfigError::Invalid { name, value, why }),
            };
        let forwarded_default =
            usize::from(var("TOLLGATE_TRUST_FORWARDED").as_deref() == Some("1"));
        let allow_list = |name: &'static str| match var(name) {
            None => Ok(AllowList::default()),
            Some(value) => AllowList::parse(&value).map_err(|_| ConfigError::Invalid {
                name,
                value,
                why: "expected comma-separated address ranges such as 10.0.0.0/8,fd00::/8",
            }),
        };
        let outbound_allow = allow_list("TOLLGATE_WRITE_BACK_ALLOW")?;
        let client_document_allow = allow_list("TOLLGATE_CLIENT_DOCUMENT_ALLOW")?;
        let outbound_roots = match var("TOLLGATE_OUTBOUND_CA_FILE") {
            None => Vec::new(),
            Some(path) => std::fs::read(&path)
                .ok()
                .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
                .filter(|roots| !roots.is_empty())
                .ok_or(ConfigError::Invalid {
                    name: "TOLLGATE_OUTBOUND_CA_FILE",
                    value: path,
                    why: "expected a readable file of PEM certificates",
                })?,
        };
        let metrics_on_public_addr = match var("TOLLGATE_METRICS").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "TOLLGATE_METRICS",
                    value: other.to_string(),
                    why: "expected 1 (on) or 0 (off)",
                })
            }
        };
        let metrics_addr = match var("TOLLGATE_METRICS_ADDR") {
            None => None,
            Some(value) => Some(value.parse().map_err(|_| ConfigError::Invalid {
                name: "TOLLGATE_METRICS_ADDR",
                value,
                why: "expected host:port such as 127.0.0.1:9100",
            })?),
        };
        Ok(Config {
            addr,
            outbound_allow,
            client_document_allow,
            outbound_roots,
            metrics_on_public_addr,
            metrics_addr,
            max_in_flight: number(
                "TOLLGATE_MAX_IN_FLIGHT",
                512,
                1,
                "expected a positive number of requests",
            )?,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/tollgate.db".into()),
            environment,
            public_url,
            trusted_proxies: number(
                "TOLLGATE_TRUSTED_PROXIES",
                forwarded_default,
                0,
                "expected the number of proxies in front, such as 1",
            )?,
            sign_ups_per_ip: number(
                "TOLLGATE_SIGN_UPS_PER_IP",
                10,
                1,
                "expected a positive number of sign-ups an hour",
            )? as i64,
            max_owned_organizations: number(
                "TOLLGATE_MAX_OWNED_ORGS",
                5,
                1,
                "expected a positive number of organizations",
            )? as i64,
        })
    }

    /// What runs locally and in tests: no proxy in front, the default limits.
    pub fn local(addr: SocketAddr) -> Config {
        Config {
            addr,
            database_url: String::new(),
            environment: Environment::Live,
            public_url: format!("http://{addr}"),
            trusted_proxies: 0,
            max_in_flight: 512,
            outbound_allow: AllowList::default(),
            client_document_allow: AllowList::default(),
            outbound_roots: Vec::new(),
            sign_ups_per_ip: 10,
            max_owned_organizations: 5,
            metrics_on_public_addr: false,
            metrics_addr: None,
        }
    }

    /// Whether anything serves metrics, and so whether they are recorded at all.
    pub fn metrics_enabled(&self) -> bool {
        self.metrics_on_public_addr || self.metrics_addr.is_some()
    }

    /// The client's IP: the socket peer, or behind `trusted_proxies` proxies the address the
    /// outermost of them saw: the N-th `X-Forwarded-For` entry from the right (each proxy appends
    /// its peer; anything further left was written by the client and proves nothing).
    pub fn client_ip(&self, headers: &axum::http::HeaderMap, peer: Option<SocketAddr>) -> String {
        let peer = || {
            peer.map(|addr| addr.ip().to_string())
                .unwrap_or_else(|| "unknown".into())
        };
        if self.trusted_proxies == 0 {
            return peer();
        }
        // Proxies may add a header line of their own instead of extending the last one.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        // Fewer entries than proxies: every entry was added by one of them; the first is the client.
        let added_by_outermost = hops.len().saturating_sub(self.trusted_proxies);
        hops.get(added_by_outermost)
            .and_then(|hop| hop.parse::<std::net::IpAddr>().ok())
            .map_or_else(peer, |ip| ip.to_string())
    }

    /// The canonical URL of `/mcp`: the resource OAuth clients' tokens are issued for.
    pub fn mcp_resource(&self) -> String {
        format!("{}/mcp", self.public_url)
    }

    /// The client for OAuth client metadata documents (each request sets its own timeout),
    /// with the ranges the operator allows for them and the extra roots.
    pub fn client_documents(&self) -> crate::outbound::Outbound {
        crate::outbound::Outbound::trusting(
            self.client_document_allow.clone(),
            std::time::Duration::from_secs(10),
            &self.outbound_roots,
        )
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map(|i| i + 3).unwrap_or(0);
        match self.public_url[after_scheme..].find('/') {
            Some(i) => &self.public_url[..after_scheme + i],
            None => &self.public_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn the_client_ip_is_what_the_outermost_trusted_proxy_saw() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let ip = |proxies: usize, pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            let config = Config {
                trusted_proxies: proxies,
                ..Config::local("127.0.0.1:3000".parse().unwrap())
            };
            config.client_ip(&headers, Some(peer))
        };
        let spoofed = [("x-forwarded-for", "6.6.6.6, 203.0.113.7")];
        assert_eq!(ip(0, &spoofed), "10.0.0.2");
        assert_eq!(ip(1, &spoofed), "203.0.113.7");
        assert_eq!(ip(2, &spoofed), "6.6.6.6");
        assert_eq!(
            ip(2, &[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.1")]),
            "203.0.113.7"
        );
        assert_eq!(ip(3, &spoofed), "6.6.6.6");
        assert_eq!(ip(1, &[]), "10.0.0.2");
        assert_eq!(ip(1, &[("x-forwarded-for", "not-an-ip")]), "10.0.0.2");
        let mut two_lines = HeaderMap::new();
        two_lines.append("x-forwarded-for", "6.6.6.6".parse().unwrap());
        two_lines.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        let config = Config {
            trusted_proxies: 1,
            ..Config::local("127.0.0.1:3000".parse().unwrap())
        };
        assert_eq!(config.client_ip(&two_lines, Some(peer)), "203.0.113.9");
    }
}
