//! Redirect URIs: which may be registered, and whether the one a request names is registered.

use url::Url;

const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

fn is_loopback_http(url: &Url) -> bool {
    url.scheme() == "http" && url.host_str().is_some_and(|h| LOOPBACK_HOSTS.contains(&h))
}

/// Whether `uri` may be registered: https, or plain http on a loopback host for native clients
/// (RFC 8252 §7.3); no fragment, no user info. Private-use schemes (`cursor://…`) are refused:
/// nothing stops two apps from claiming the same one.
pub fn check_registrable(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not a URL ({e})"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} must have no fragment and no user info"));
    }
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if is_loopback_http(&url) => Ok(()),
        _ => Err(format!(
            "{uri:?} must be https, or http on localhost, 127.0.0.1 or [::1]"
        )),
    }
}

/// Whether `sent` is one of the `registered` redirect URIs: the same string, except that a
/// loopback http URI matches on any port (RFC 8252 §7.3: native clients listen on a port the
/// system gives them; Claude Code registers `http://localhost/callback` and sends a port).
pub fn is_registered(registered: &[String], sent: &str) -> bool {
    registered.iter().any(|r| r == sent)
        || Url::parse(sent)
            .ok()
            .filter(is_loopback_http)
            .is_some_and(|sent| {
                registered
                    .iter()
                    .filter_map(|r| Url::parse(r).ok())
                    .any(|r| {
                        is_loopback_http(&r)
                            && r.host_str() == sent.host_str()
                            && r.path() == sent.path()
                            && r.query() == sent.query()
                    })
            })
}

/// Whether every one of `uris` leads back to the user's own machine (the consent page warns:
/// any program on it could have registered them).
pub fn all_loopback(uris: &[String]) -> bool {
    uris.iter()
        .all(|u| Url::parse(u).ok().is_some_and(|u| is_loopback_http(&u)))
}

/// The host a redirect URI sends the user's browser to, as the consent page names it.
pub fn host_of(uri: &str) -> String {
    Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| uri.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_may_be_registered() {
        assert!(check_registrable("https://app.example/cb").is_ok());
        assert!(check_registrable("http://localhost/callback").is_ok());
        assert!(check_registrable("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_registrable("http://[::1]/cb").is_ok());
        assert!(check_registrable("http://app.example/cb").is_err());
        assert!(check_registrable("http://localhost.evil.example/cb").is_err());
        assert!(check_registrable("cursor://anysphere/cb").is_err());
        assert!(check_registrable("https://app.example/cb#frag").is_err());
        assert!(check_registrable("https://user:pw@app.example/cb").is_err());
        assert!(check_registrable("not a url").is_err());
    }

    #[test]
    fn loopback_matches_on_any_port_and_the_rest_exactly() {
        let registered = vec![
            "http://localhost/callback".to_string(),
            "https://app.example/cb".to_string(),
        ];
        assert!(is_registered(
            &registered,
            "http://localhost:53682/callback"
        ));
        assert!(is_registered(&registered, "http://localhost/callback"));
        assert!(is_registered(&registered, "https://app.example/cb"));
        assert!(!is_registered(&registered, "https://app.example:8443/cb"));
        assert!(!is_registered(&registered, "https://app.example/cb/"));
        assert!(!is_registered(&registered, "https://app.example/cb?x=1"));
        assert!(!is_registered(
            &registered,
            "http://127.0.0.1:5000/callback"
        ));
        assert!(!is_registered(&registered, "http://localhost:5000/other"));
        assert!(!is_registered(
            &registered,
            "https://localhost:5000/callback"
        ));
    }

    #[test]
    fn a_client_with_only_loopback_redirects_is_flagged() {
        assert!(all_loopback(&["http://127.0.0.1/cb".into()]));
        assert!(!all_loopback(&[
            "http://127.0.0.1/cb".into(),
            "https://app.example/cb".into()
        ]));
        assert_eq!(host_of("http://localhost:3000/cb"), "localhost");
    }
}
