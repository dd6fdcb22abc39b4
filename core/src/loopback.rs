//! The HTTP client for every call the engine and the CLI make to a loopback address (the local
//! API, a replica's admin routes).

/// A client that never goes through a proxy: `HTTP_PROXY` and the like would hand the API's
/// token, or a replica's admin call, to whatever listens at the proxy's address.
pub fn client() -> reqwest::Client {
    // `build` fails only on a TLS backend or a bad setting; this client has neither, as
    // `reqwest::Client::new` (which panics on the same failure) assumes too.
    reqwest::Client::builder().no_proxy().build().expect("a plain HTTP client with no proxy builds")
}
