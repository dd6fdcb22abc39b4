//! The headers a request and its answer carry through the address: hop-by-hop ones
//! stripped, `x-forwarded-for` added, the dashboard's cookie dropped, upgrades recognised.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BufMut;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, COOKIE, UPGRADE};

use crate::http1::{connection_names, is_hop_by_hop};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Names the calling service, for the caller→callee edges of the topology.
const X_MICRODECK_CALLER: &str = "x-microdeck-caller";

/// What a request's headers hold that the address acts on, found in one pass over them
/// (most requests carry a few headers and none of these but `host`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Survey {
    /// `x-microdeck-caller`, when given and not empty.
    pub caller: Option<Arc<str>>,
    /// The body's declared length (`content-length`), 0 without one.
    pub content_length: u64,
    pub host: bool,
    /// A `Connection` header: the request may ask for an upgrade, and may name more hop-by-hop headers.
    pub connection: bool,
    /// `Connection: close`: the client's last request on the connection.
    pub close: bool,
    /// What a request read in place does not carry on its own (see [`super::front`]): a body
    /// framing or `Expect`, a length unread or said twice, a `Connection` naming more
    /// headers or an upgrade, the dashboard's cookie.
    pub unusual: bool,
    hop_by_hop: bool,
    cookie: bool,
    forwarded: bool,
}

impl Survey {
    pub(super) fn of(headers: &HeaderMap) -> Survey {
        let mut found = Survey::default();
        for (name, value) in headers {
            found.note(name.as_str().as_bytes(), value.as_bytes());
        }
        found
    }

    /// Takes one header (its name in any case) into account.
    pub(super) fn note(&mut self, name: &[u8], value: &[u8]) {
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("host") {
            self.host = true;
        } else if is("content-length") {
            let length = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok());
            self.unusual |= length.is_none() || self.content_length != 0;
            self.content_length = length.unwrap_or(0);
        } else if is("cookie") {
            self.cookie = true;
            self.unusual |= holds_dashboard_cookie(value);
        } else if is(X_MICRODECK_CALLER) {
            // The first one counts, as a lookup by name would find it.
            if self.caller.is_none() {
                self.caller = std::str::from_utf8(value).ok().filter(|v| !v.is_empty()).map(Arc::from);
            }
        } else if is(X_FORWARDED_FOR.as_str()) {
            self.forwarded = true;
        } else if is("expect") {
            self.unusual = true;
        } else if is_hop_by_hop(name) {
            self.hop_by_hop = true;
            if is("connection") {
                self.connection = true;
                self.close |= value.split(|&b| b == b',').any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
                self.unusual |= connection_names(value).next().is_some();
            }
            self.unusual |= is("transfer-encoding") || is("upgrade");
        }
    }
}

/// The client's address, added to a `x-forwarded-for` the request may already carry
/// (only its first such header counts, as a lookup by name finds it).
pub(super) fn forwarded_for(before: Option<&[u8]>, ip: &[u8], out: &mut impl BufMut) {
    if let Some(before) = before {
        out.put_slice(before);
        out.put_slice(b", ");
    }
    out.put_slice(ip);
}

/// The protocol asked for when the request is an upgrade (`Connection: upgrade` + `Upgrade`).
pub(super) fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// The client of one connection, as `x-forwarded-for` names it (made once per connection).
#[derive(Clone)]
pub struct Peer(HeaderValue);

impl Peer {
    pub fn new(addr: SocketAddr) -> Option<Peer> {
        HeaderValue::from_str(&addr.ip().to_string()).ok().map(Peer)
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The headers a replica gets: this hop's own dropped, the dashboard's cookie dropped, the
/// client added to `x-forwarded-for`. `survey` says what is there to do.
pub(super) fn prepare_headers(headers: &mut HeaderMap, peer: &Option<Peer>, survey: &Survey) {
    if survey.hop_by_hop {
        strip_hop_by_hop(headers);
    }
    if survey.cookie {
        drop_dashboard_cookie(headers);
    }
    let Some(Peer(ip)) = peer else { return };
    if !survey.forwarded {
        headers.insert(X_FORWARDED_FOR, ip.clone());
        return;
    }
    let mut value = Vec::new();
    forwarded_for(headers.get(&X_FORWARDED_FOR).map(HeaderValue::as_bytes), ip.as_bytes(), &mut value);
    if let Ok(value) = HeaderValue::from_bytes(&value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Removes the hop-by-hop headers, and those `Connection` names, in one pass over the
/// names (nothing is allocated when there are none, the common case).
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut found: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        if is_hop_by_hop(name.as_str().as_bytes()) {
            found.push(name.clone());
        }
    }
    if found.contains(&CONNECTION) {
        let named = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|v| connection_names(v.as_bytes()))
            .filter_map(|name| HeaderName::from_bytes(name).ok());
        found.extend(named);
    }
    for name in found {
        headers.remove(name);
    }
}

/// The cookie older dashboards kept their token in. Browsers send a loopback cookie to every
/// local port, so one a browser still holds must not reach a service (nor count at the API).
pub const DASHBOARD_COOKIE: &str = "microdeck_token";

/// Removes the dashboard's cookie from the `Cookie` headers, keeping every other pair as sent
/// (nothing is allocated when it is absent, the common case).
fn drop_dashboard_cookie(headers: &mut HeaderMap) {
    if !headers.get_all(COOKIE).iter().any(|value| holds_dashboard_cookie(value.as_bytes())) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| {
            let pairs: Vec<&[u8]> = value.as_bytes().split(|b| *b == b';').filter(|pair| !is_dashboard_pair(pair)).collect();
            let joined = pairs.join(&b';');
            let rest = joined.trim_ascii();
            (!rest.is_empty()).then(|| HeaderValue::from_bytes(rest).ok()).flatten()
        })
        .collect();
    headers.remove(COOKIE);
    for value in kept {
        headers.append(COOKIE, value);
    }
}

fn is_dashboard_pair(pair: &[u8]) -> bool {
    pair.split(|b| *b == b'=').next().is_some_and(|name| name.trim_ascii() == DASHBOARD_COOKIE.as_bytes())
}

/// A `Cookie` value holds the dashboard's cookie.
fn holds_dashboard_cookie(value: &[u8]) -> bool {
    value.split(|b| *b == b';').any(is_dashboard_pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_stripped_the_rest_kept() {
        // (headers sent, header names left)
        type Case = (&'static [(&'static str, &'static str)], &'static [&'static str]);
        let cases: &[Case] = &[
            (&[("host", "a"), ("x-bar", "1")], &["host", "x-bar"]),
            (&[("host", "a"), ("keep-alive", "timeout=5"), ("te", "trailers"), ("transfer-encoding", "chunked")], &["host"]),
            (&[("connection", "close, x-foo"), ("x-foo", "1"), ("x-bar", "2"), ("proxy-connection", "keep-alive")], &["x-bar"]),
            (&[("Connection", "Upgrade"), ("upgrade", "websocket"), ("trailer", "x"), ("proxy-authenticate", "b")], &[]),
            (&[("proxy-authorization", "Basic eDp5"), ("authorization", "Bearer t")], &["authorization"]),
        ];
        for (given, kept) in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in given.iter() {
                headers.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_static(v));
            }
            strip_hop_by_hop(&mut headers);
            let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
            left.sort_unstable();
            assert_eq!(left, *kept, "{given:?}");
        }
    }

    #[test]
    fn the_survey_finds_what_the_address_acts_on_in_any_case_of_name() {
        // (headers sent, what the survey says)
        let default = Survey::default;
        let cases: Vec<(&[(&str, &str)], Survey)> = vec![
            (&[("Host", "a"), ("x-bar", "1")], Survey { host: true, ..default() }),
            (&[("content-length", "12"), ("X-Microdeck-Caller", "gateway")], Survey { content_length: 12, caller: Some(Arc::from("gateway")), ..default() }),
            (&[("content-length", "twelve")], Survey { unusual: true, ..default() }),
            (&[("content-length", "3"), ("content-length", "3")], Survey { content_length: 3, unusual: true, ..default() }),
            (&[("x-microdeck-caller", "")], default()),
            (&[("Cookie", "a=1; microdeck_token=t")], Survey { cookie: true, unusual: true, ..default() }),
            (&[("Expect", "100-continue")], Survey { unusual: true, ..default() }),
            (&[("transfer-encoding", "chunked")], Survey { hop_by_hop: true, unusual: true, ..default() }),
            (&[("Connection", "keep-alive")], Survey { connection: true, hop_by_hop: true, ..default() }),
            (&[("Connection", "Keep-Alive, Close")], Survey { connection: true, close: true, hop_by_hop: true, ..default() }),
            (&[("Connection", "close, x-foo")], Survey { connection: true, close: true, hop_by_hop: true, unusual: true, ..default() }),
            (&[("Cookie", "a=1"), ("X-Forwarded-For", "10.0.0.1")], Survey { cookie: true, forwarded: true, ..default() }),
            (&[("Connection", "upgrade"), ("upgrade", "websocket")], Survey { connection: true, hop_by_hop: true, unusual: true, ..default() }),
            (&[("keep-alive", "timeout=5")], Survey { hop_by_hop: true, ..default() }),
            (&[("proxy-authorization", "Basic eDp5")], Survey { hop_by_hop: true, ..default() }),
        ];
        for (given, expected) in cases {
            let mut headers = HeaderMap::new();
            for (k, v) in given.iter() {
                headers.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_static(v));
            }
            assert_eq!(Survey::of(&headers), expected, "{given:?}");
        }
    }

    #[test]
    fn the_dashboard_cookie_is_dropped_and_every_other_cookie_kept() {
        // (Cookie headers sent, Cookie headers forwarded)
        type Case = (&'static [&'static str], &'static [&'static str]);
        let cases: &[Case] = &[
            (&["a=1; b=2"], &["a=1; b=2"]),
            (&["microdeck_token=secret"], &[]),
            (&["a=1; microdeck_token=secret; b=2"], &["a=1; b=2"]),
            (&["microdeck_token=secret; b=2"], &["b=2"]),
            (&["a=1;microdeck_token = secret"], &["a=1"]),
            (&["microdeck_tokens=1; my_microdeck_token=2"], &["microdeck_tokens=1; my_microdeck_token=2"]),
            (&["a=1", "microdeck_token=secret"], &["a=1"]),
        ];
        for (given, forwarded) in cases {
            let mut headers = HeaderMap::new();
            for value in given.iter() {
                headers.append(COOKIE, HeaderValue::from_static(value));
            }
            drop_dashboard_cookie(&mut headers);
            let left: Vec<&str> = headers.get_all(COOKIE).iter().map(|v| v.to_str().unwrap_or("?")).collect();
            assert_eq!(left, *forwarded, "{given:?}");
        }
    }
}
