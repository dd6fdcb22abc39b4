//! The server's limits with real sockets on port 0: a slow head is cut off, a stop is not held
//! by a half-sent request, and past the cap a connection waits until another closes.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::*;

const T: Duration = Duration::from_secs(10);

/// Serves `GET /` → `ok` with `limits` until `stop` is cancelled.
async fn start(limits: ConnectionLimits, stop: &CancellationToken) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn(serve(listener, router, limits, stop.clone().cancelled_owned()));
    (addr, server)
}

/// Sends a whole `GET /` on `conn` (kept alive) and reads the answer's head.
async fn ask(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut got = Vec::new();
    while !got.ends_with(b"ok") {
        let mut buf = [0u8; 512];
        let n = timeout(T, conn.read(&mut buf)).await.expect("an answer in time").expect("read");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Whether the server closed `conn` (end of file or a reset) within `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match timeout(within, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // an error page before the close
        }
    }
}

#[tokio::test]
async fn a_head_that_does_not_arrive_in_time_is_cut_off() {
    let stop = CancellationToken::new();
    let limits = ConnectionLimits { header_read: Duration::from_millis(200), ..ConnectionLimits::default() };
    let (addr, server) = start(limits, &stop).await;
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    let sent = Instant::now();
    assert!(closed_within(&mut half, T).await, "a half-sent head is left open");
    assert!(sent.elapsed() >= Duration::from_millis(150), "closed after {:?}, before its time", sent.elapsed());
    stop.cancel();
    timeout(T, server).await.expect("stops").expect("server task");
}

#[tokio::test]
async fn a_half_sent_request_holds_a_stop_no_longer_than_the_drain() {
    let stop = CancellationToken::new();
    let limits = ConnectionLimits { header_read: Duration::from_secs(600), drain: Duration::from_millis(300), ..ConnectionLimits::default() };
    let (addr, server) = start(limits, &stop).await;
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
    let mut whole = TcpStream::connect(addr).await.expect("connect");
    assert!(ask(&mut whole).await.starts_with("HTTP/1.1 200"));
    stop.cancel();
    let asked = Instant::now();
    timeout(Duration::from_secs(5), server).await.expect("the stop is not held past its drain").expect("server task");
    println!("stopped {:?} after it was asked", asked.elapsed());
    assert!(closed_within(&mut half, T).await, "the half-sent connection is still open");
    assert!(closed_within(&mut whole, T).await, "the idle kept connection is still open");
}

#[tokio::test]
async fn past_the_cap_a_connection_waits_until_another_closes() {
    let stop = CancellationToken::new();
    let limits = ConnectionLimits { max_open: 2, header_read: Duration::from_secs(600), ..ConnectionLimits::default() };
    let (addr, server) = start(limits, &stop).await;
    let mut first = TcpStream::connect(addr).await.expect("connect");
    let mut second = TcpStream::connect(addr).await.expect("connect");
    // Answered, so both are served; kept alive, both stay open.
    assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(ask(&mut second).await.starts_with("HTTP/1.1 200"));
    let mut third = TcpStream::connect(addr).await.expect("the kernel still takes the connection");
    let waiting = tokio::spawn(async move { ask(&mut third).await });
    // An answer would come in a millisecond were the third served; it is not, for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a third connection was served past a cap of 2");
    drop(first);
    let answer = timeout(T, waiting).await.expect("served once a connection closed").expect("task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(ask(&mut second).await.starts_with("HTTP/1.1 200"));
    stop.cancel();
    timeout(T, server).await.expect("stops").expect("server task");
}
