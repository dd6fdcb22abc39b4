//! The address under careless and hostile clients and replicas: a replica that never
//! answers, a half-sent request, a flood of connections, a quiet TCP connection, and
//! credentials meant for Microdeck or for a proxy.

use super::sockets::echo_backend;
use super::*;

fn bind_with(options: AddressOptions) -> (ServiceProxy, CancellationToken) {
    let cancel = CancellationToken::new();
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let proxy = ServiceProxy::bind("api", addr, options, cancel.clone()).expect("bind proxy");
    (proxy, cancel)
}

/// A replica that accepts connections and reads requests but never answers; counts the
/// connections it was given.
async fn silent_backend() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (addr, accepted)
}

/// Reads until the peer closes (true) or `limit` passes (false).
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let reading = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    timeout(limit, reading).await.is_ok()
}

#[tokio::test]
async fn a_replica_that_never_answers_gets_a_504_after_the_response_timeout_and_no_second_try() {
    let (first, first_connections) = silent_backend().await;
    let (second, second_connections) = silent_backend().await;
    let options = AddressOptions { response_timeout: Duration::from_millis(300), ..AddressOptions::new(Protocol::Http, Balance::RoundRobin) };
    let (proxy, _cancel) = bind_with(options);
    proxy.set_backends(vec![Backend { replica: 0, addr: first }, Backend { replica: 1, addr: second }]);
    let started = tokio::time::Instant::now();
    let (status, content_type, body) = get_text(&reqwest::Client::new(), &format!("http://{}/slow", proxy.local_addr())).await;
    let waited = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(content_type, "application/json");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["error"], "upstream timed out");
    assert_eq!(body["service"], "api");
    assert!(waited >= Duration::from_millis(300), "answered before the timeout: {waited:?}");
    // The connection's watch looks four times per timeout: the 504 comes within a quarter more.
    assert!(waited < Duration::from_millis(300) * 4, "answered long after the timeout: {waited:?}");
    let tried = first_connections.load(Ordering::SeqCst) + second_connections.load(Ordering::SeqCst);
    assert_eq!(tried, 1, "a request a replica took is not sent again");
    assert_eq!(proxy.totals().server_errors, 1);
}

#[tokio::test]
async fn a_half_sent_request_and_an_idle_kept_connection_are_closed_after_the_header_read_timeout() {
    let backend = http_backend("b0").await;
    let read_timeout = Duration::from_millis(300);
    let options = AddressOptions { header_read_timeout: read_timeout, ..AddressOptions::new(Protocol::Http, Balance::RoundRobin) };
    let (proxy, _cancel) = bind_with(options);
    proxy.set_backends(vec![backend.as_backend(0)]);

    let mut half = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\nhost: api\r\n").await.expect("write");
    let started = tokio::time::Instant::now();
    assert!(closed_within(&mut half, DEADLINE).await, "a half-sent request held its connection");
    assert!(started.elapsed() >= read_timeout, "closed before the timeout: {:?}", started.elapsed());

    // A kept connection that answered once and then sends nothing is closed too, no sooner
    // than the timeout after its answer.
    let mut kept = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    kept.write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n").await.expect("write");
    let mut answer = [0u8; 17];
    timeout(DEADLINE, kept.read_exact(&mut answer)).await.expect("in time").expect("read");
    let answered = tokio::time::Instant::now();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    assert!(closed_within(&mut kept, DEADLINE).await, "an idle kept connection was held for ever");
    assert!(answered.elapsed() >= read_timeout, "closed {:?} after its answer", answered.elapsed());

    // A request whose answer takes longer than the timeout is not cut: it is not idle.
    let mut slow = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    slow.write_all(b"GET /hold HTTP/1.1\r\nhost: api\r\n\r\n").await.expect("write");
    tokio::time::sleep(read_timeout * 3).await;
    backend.release.add_permits(1);
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("released") {
        let n = timeout(DEADLINE, slow.read(&mut buf)).await.expect("in time").expect("read");
        assert!(n > 0, "closed while its request was under way: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn past_its_connection_cap_an_address_holds_new_connections_until_one_closes() {
    let backend = http_backend("b0").await;
    let options = AddressOptions { max_connections: 4, ..AddressOptions::new(Protocol::Http, Balance::RoundRobin) };
    let (proxy, _cancel) = bind_with(options);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut client = one_connection(proxy.local_addr()).await;
        assert_eq!(get_on(&mut client, proxy.local_addr()).await, "b0");
        idle.push(client);
    }
    // The fifth connects (the kernel's backlog) but is not served while four are open.
    let mut fifth = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    fifth.write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n").await.expect("write");
    let mut answer = [0u8; 17];
    let early = timeout(Duration::from_millis(500), fifth.read_exact(&mut answer)).await;
    assert!(early.is_err(), "served past the cap: {}", String::from_utf8_lossy(&answer));
    drop(idle.pop());
    timeout(DEADLINE, fifth.read_exact(&mut answer)).await.expect("served once a connection closed").expect("read");
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_tcp_connection_quiet_both_ways_is_closed_after_the_idle_timeout_and_a_talking_one_is_not() {
    let idle = Duration::from_millis(400);
    let options = AddressOptions { idle_timeout: idle, ..AddressOptions::new(Protocol::Tcp, Balance::RoundRobin) };
    let (proxy, _cancel) = bind_with(options);
    proxy.set_backends(vec![Backend { replica: 0, addr: echo_backend().await }]);

    let mut talking = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    let mut quiet = tokio::net::TcpStream::connect(proxy.local_addr()).await.expect("connect");
    let mut echoed = [0u8; 4];
    quiet.write_all(b"ping").await.expect("write");
    timeout(DEADLINE, quiet.read_exact(&mut echoed)).await.expect("in time").expect("read");
    let last_byte = tokio::time::Instant::now();
    // The other talks every idle/3 for three idle timeouts: it stays open throughout.
    for _ in 0..9 {
        talking.write_all(b"tick").await.expect("the talking connection stays open");
        timeout(DEADLINE, talking.read_exact(&mut echoed)).await.expect("in time").expect("echoed");
        tokio::time::sleep(idle / 3).await;
    }
    assert!(closed_within(&mut quiet, DEADLINE).await, "a quiet connection was held for ever");
    assert!(last_byte.elapsed() >= idle, "closed before the idle timeout");
    talking.write_all(b"last").await.expect("write");
    timeout(DEADLINE, talking.read_exact(&mut echoed)).await.expect("in time").expect("the talking connection is still open");
}

#[tokio::test]
async fn the_dashboard_cookie_and_proxy_credentials_never_reach_a_replica() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Answers with the request's headers, one per line.
    let app = Router::new().route(
        "/",
        get(|headers: hyper::HeaderMap| async move {
            headers.iter().map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("?"))).collect::<String>()
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let (proxy, _cancel) = bind_with(AddressOptions::new(Protocol::Http, Balance::RoundRobin));
    proxy.set_backends(vec![Backend { replica: 0, addr }]);
    let response = reqwest::Client::new()
        .get(format!("http://{}/", proxy.local_addr()))
        .header("cookie", "theme=dark; microdeck_token=secret; lang=en")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .header("authorization", "Bearer for-the-service")
        .send();
    let seen = timeout(DEADLINE, response).await.expect("in time").expect("response").text().await.expect("body");
    assert!(seen.contains("cookie: theme=dark; lang=en\n"), "{seen}");
    assert!(!seen.contains("secret"), "{seen}");
    assert!(!seen.contains("proxy-authorization"), "{seen}");
    assert!(seen.contains("authorization: Bearer for-the-service\n"), "the service's own credentials pass: {seen}");
}
