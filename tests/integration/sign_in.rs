//! Sign-in over HTTP against a real server, for the integration tests and the benchmark.

/// Signs in to the real server at `base` as the browser's form does; returns the session
/// cookie (`name=value`).
pub async fn sign_in_http(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    use leptos::server_fn::ServerFn;
    let response = client
        .post(format!("{base}{}", tollgate::api::auth::SignIn::PATH))
        .header("origin", base)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(tollgate::http::SESSION_COOKIE))
        .unwrap_or_else(|| panic!("{email} signed in ({})", response.status()));
    cookie.split(';').next().unwrap().to_string()
}
