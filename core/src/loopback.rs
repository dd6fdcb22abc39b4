//! The HTTP client for every call the engine and the CLI make to a loopback address (the local
//! API, a replica's admin routes).

use std::sync::OnceLock;

/// Built once and shared: a reqwest client is a handle to one connection pool.
static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();

/// A client that never goes through a proxy: `HTTP_PROXY` and the like would hand the API's
/// token, or a replica's admin call, to whatever listens at the proxy's address.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let built = reqwest::Client::builder().no_proxy().build()?;
    Ok(CLIENT.get_or_init(|| built).clone())
}
