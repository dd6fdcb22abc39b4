use super::*;

fn peer() -> Option<Peer> {
    Peer::new("10.0.0.9:5000".parse().expect("addr"))
}

/// What `parse` made of a request: "partial", "unusual", or the head for the replicas.
fn parsed(request: &str) -> String {
    let mut out = BytesMut::new();
    match parse(request.as_bytes(), peer().as_ref(), &mut out) {
        Parse::Partial => "partial".into(),
        Parse::Unusual => "unusual".into(),
        Parse::Plain(plain) => {
            assert_eq!(plain.used, request.find("\r\n\r\n").expect("a whole head") + 4, "{request:?}");
            String::from_utf8(out.to_vec()).expect("utf-8")
        }
    }
}

#[test]
fn a_plain_request_goes_on_as_it_came_less_this_hops_headers_and_anything_else_to_hyper() {
    let xff = "x-forwarded-for: 10.0.0.9\r\n";
    // (the client's request, what the replicas get or which path takes it)
    let cases: Vec<(&str, String)> = vec![
        ("GET / HTTP/1.1\r\nHost: a:1\r\n\r\n", format!("GET / HTTP/1.1\r\nHost: a:1\r\n{xff}")),
        ("GET / HTTP/1.1\r\nHost: a:1\r\n", "partial".into()),
        ("GET /q?x=1 HTTP/1.1\r\nhost: a\r\nKeep-Alive: 5\r\nConnection: keep-alive\r\nTE: trailers\r\nProxy-Authorization: Basic eDp5\r\nX-Kept: 1\r\n\r\n", format!("GET /q?x=1 HTTP/1.1\r\nhost: a\r\nX-Kept: 1\r\n{xff}")),
        ("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", format!("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n{xff}")),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 1.2.3.4, 10.0.0.9\r\n".into()),
        ("GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", format!("GET / HTTP/1.1\r\nUser-Agent: t\r\n{xff}")),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", format!("GET / HTTP/1.1\r\nHost: a\r\n{xff}")),
        ("GET / HTTP/1.0\r\nHost: a\r\n\r\n", "unusual".into()),
        ("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "unusual".into()),
        ("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", "unusual".into()),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "unusual".into()),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", "unusual".into()),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "unusual".into()),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: five\r\n\r\n", "unusual".into()),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", "unusual".into()),
        ("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", "unusual".into()),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-hop\r\nx-hop: 1\r\n\r\n", "unusual".into()),
        ("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; microdeck_token=s\r\n\r\n", "unusual".into()),
        ("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\n\r\n", format!("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\n{xff}")),
        ("GET\x01/ HTTP/1.1\r\n\r\n", "unusual".into()),
    ];
    for (request, expected) in cases {
        assert_eq!(parsed(request), expected, "{request:?}");
    }
    let huge = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}", "x".repeat(MAX_HEAD));
    assert_eq!(parsed(&huge), "unusual", "a head still coming past {MAX_HEAD} bytes");
}

#[test]
fn the_survey_of_a_plain_request_says_its_caller_length_and_close() {
    let mut out = BytesMut::new();
    let request = b"HEAD /x HTTP/1.1\r\nHost: a\r\nx-microdeck-caller: gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let Parse::Plain(plain) = parse(request, None, &mut out) else { panic!("plain") };
    assert_eq!(plain.survey.caller.as_deref(), Some("gateway"));
    assert!(plain.survey.close && plain.survey.host && plain.head_request && plain.idempotent);
    assert!(!String::from_utf8_lossy(&out).contains("x-forwarded-for"), "no peer, no header");
    let Parse::Plain(post) = parse(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", None, &mut out) else { panic!("plain") };
    assert_eq!((post.survey.content_length, post.idempotent, post.survey.host), (2, false, false));
}
