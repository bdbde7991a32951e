//! Configuration from environment variables, each with a default that runs locally.

use std::net::SocketAddr;

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
        Ok(Config {
            addr,
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
            sign_ups_per_ip: 10,
            max_owned_organizations: 5,
        }
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
