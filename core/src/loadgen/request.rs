//! A scenario's requests made ready to send: placeholders filled from the setup
//! response, and the weighted pick of the next one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Uri};

use super::{LoadClient, LoadGenError};
use crate::manifest::placeholders::fill;
use crate::manifest::{RequestSpec, Setup};

/// Sent with every request, so a service's logs tell generated traffic apart.
pub const USER_AGENT: &str = concat!("microdeck-load/", env!("CARGO_PKG_VERSION"));

/// One request of a scenario, ready to clone into a `hyper::Request`.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// The request as a load worker writes it on an open connection: origin-form URI
    /// (`/path?query`), `host` added, encoded once for the whole run.
    wire: Bytes,
}

impl Prepared {
    pub fn new(target: SocketAddr, spec: &RequestSpec, vars: &BTreeMap<String, String>) -> Result<Prepared, LoadGenError> {
        let bad = |what: String| LoadGenError::BadRequest(format!("{} {}: {what}", spec.method, spec.path));
        let method = Method::from_bytes(spec.method.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let uri: Uri = format!("http://{target}{}", fill(&spec.path, vars)).parse().map_err(|e| bad(format!("{e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let value = HeaderValue::from_str(&fill(value, vars)).map_err(|e| bad(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let body = spec.body.as_deref().map(|b| Bytes::from(fill(b, vars))).unwrap_or_default();
        let origin: Uri = uri.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|e| bad(format!("{e}")))?;
        let mut origin_headers = headers.clone();
        let host = HeaderValue::from_str(&target.to_string()).map_err(|e| bad(format!("host: {e}")))?;
        origin_headers.insert(hyper::header::HOST, host);
        let wire = crate::http1::encode(&method, &origin, &origin_headers, &body);
        Ok(Prepared { method, uri, headers, body, wire })
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The bytes to write on a connection already open to the target.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    pub fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// How long a setup request that meets a 503 or a refused connection is tried again: right
/// after a restart its target may have no ready replica for a moment.
pub const SETUP_RETRY_FOR: Duration = Duration::from_secs(5);

/// Sends the setup request (again while it meets a passing unavailability, for at most
/// `retry_for`) and pulls each `extract` pointer out of its JSON body.
pub async fn run_setup(client: &LoadClient, target: SocketAddr, setup: &Setup, retry_for: Duration) -> Result<BTreeMap<String, String>, LoadGenError> {
    let deadline = tokio::time::Instant::now() + retry_for;
    let mut pause = Duration::from_millis(100);
    loop {
        match setup_once(client, target, setup).await {
            Err(Attempt::Unavailable(_)) if tokio::time::Instant::now() + pause <= deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(Attempt::Unavailable(e) | Attempt::Failed(e)) => return Err(e),
            Ok(vars) => return Ok(vars),
        }
    }
}

/// How one setup attempt failed: worth another try, or not.
enum Attempt {
    Unavailable(LoadGenError),
    Failed(LoadGenError),
}

async fn setup_once(client: &LoadClient, target: SocketAddr, setup: &Setup) -> Result<BTreeMap<String, String>, Attempt> {
    let failed = |why: String| Attempt::Failed(LoadGenError::Setup(format!("{} {}: {why}", setup.request.method, setup.request.path)));
    let req = Prepared::new(target, &setup.request, &BTreeMap::new()).map_err(Attempt::Failed)?;
    let resp = client.request(req.request()).await.map_err(|e| match failed(chain(&e)) {
        Attempt::Failed(err) if e.is_connect() => Attempt::Unavailable(err),
        other => other,
    })?;
    let status = resp.status();
    let body = resp.into_body().collect().await.map_err(|e| failed(chain(&e)))?.to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
        let why = failed(format!("status {status}: {}", text.split_whitespace().collect::<Vec<_>>().join(" ")));
        return Err(match why {
            Attempt::Failed(err) if status == hyper::StatusCode::SERVICE_UNAVAILABLE => Attempt::Unavailable(err),
            other => other,
        });
    }
    if setup.extract.is_empty() {
        return Ok(BTreeMap::new());
    }
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| failed(format!("the response is not JSON: {e}")))?;
    let mut vars = BTreeMap::new();
    for (name, pointer) in &setup.extract {
        let value = match json.pointer(pointer) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => return Err(failed(format!("the response has no `{pointer}` for `{name}`"))),
            Some(other) => other.to_string(),
        };
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}

/// An error with its causes, e.g. `client error (Connect): tcp connect error: Connection refused`.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Smooth weighted round-robin (nginx's): each request gets exactly its share of any
/// run, spread evenly, so two runs of a scenario send the same mix.
#[derive(Debug, Clone)]
pub struct Picker {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Picker {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Picker {
        let weights: Vec<i64> = weights.into_iter().map(|w| i64::from(w.max(1))).collect();
        let total = weights.iter().sum();
        Picker { current: vec![0; weights.len()], weights, total }
    }

    /// The index of the next request to send (0 when there is only one).
    pub fn next_index(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.weights.len() {
            self.current[i] += self.weights[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        if let Some(c) = self.current.get_mut(best) {
            *c -= self.total;
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picker_gives_each_weight_its_exact_share_spread_evenly() {
        let mut p = Picker::new([5, 1, 1]);
        let picks: Vec<usize> = (0..7).map(|_| p.next_index()).collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 2, 0, 0], "nginx's sequence for 5:1:1");
        let mut p = Picker::new([1, 3, 6]);
        let mut counts = [0; 3];
        for _ in 0..1000 {
            counts[p.next_index()] += 1;
        }
        assert_eq!(counts, [100, 300, 600]);
    }

    #[test]
    fn placeholders_fill_path_headers_and_body() {
        let spec = RequestSpec {
            method: "POST".into(),
            path: "/api/{{id}}".into(),
            headers: [("authorization".to_string(), "Bearer {{token}}".to_string())].into(),
            body: Some(r#"{"t":"{{token}}"}"#.into()),
            weight: 1,
        };
        let vars = [("token".to_string(), "abc".to_string()), ("id".to_string(), "7".to_string())].into();
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let p = Prepared::new(addr, &spec, &vars).expect("prepared");
        let req = p.request();
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9/api/7");
        assert_eq!(req.headers()["authorization"], "Bearer abc");
        assert_eq!(p.body, Bytes::from(r#"{"t":"abc"}"#));
        assert_eq!(req.method(), Method::POST);
        let wire = String::from_utf8(p.wire().to_vec()).expect("text");
        assert!(wire.starts_with("POST /api/7 HTTP/1.1\r\n"), "{wire}");
        for line in ["\r\nhost: 127.0.0.1:9\r\n", "\r\nauthorization: Bearer abc\r\n", "\r\ncontent-length: 11\r\n"] {
            assert!(wire.contains(line), "{line:?} in {wire}");
        }
        assert!(wire.ends_with("\r\n\r\n{\"t\":\"abc\"}"), "{wire}");
    }
}
