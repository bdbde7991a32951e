//! Configuration from environment variables, each with a default that runs locally.

use std::net::SocketAddr;

use crate::http::outbound::AllowList;

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
    /// `TOLLGATE_TRUST_FORWARDED=1`: take the client IP from `X-Forwarded-For` (behind a proxy).
    pub trust_forwarded: bool,
    /// `TOLLGATE_MAX_IN_FLIGHT` (default 512): requests served at once; more are refused with
    /// 503 and `Retry-After` instead of queueing without bound.
    pub max_in_flight: usize,
    /// `TOLLGATE_WRITE_BACK_ALLOW`: private address ranges (comma-separated, such as
    /// `10.0.0.0/8,fd00::/8`) that outbound requests may reach; none by default.
    pub outbound_allow: AllowList,
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
        let max_in_flight = match var("TOLLGATE_MAX_IN_FLIGHT") {
            None => 512,
            Some(value) => value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Invalid {
                    name: "TOLLGATE_MAX_IN_FLIGHT",
                    value,
                    why: "expected a positive number of requests",
                })?,
        };
        let outbound_allow = match var("TOLLGATE_WRITE_BACK_ALLOW") {
            None => AllowList::default(),
            Some(value) => AllowList::parse(&value).map_err(|_| ConfigError::Invalid {
                name: "TOLLGATE_WRITE_BACK_ALLOW",
                value,
                why: "expected comma-separated address ranges such as 10.0.0.0/8,fd00::/8",
            })?,
        };
        Ok(Config {
            addr,
            outbound_allow,
            max_in_flight,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/tollgate.db".into()),
            environment,
            public_url,
            trust_forwarded: var("TOLLGATE_TRUST_FORWARDED").as_deref() == Some("1"),
        })
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
