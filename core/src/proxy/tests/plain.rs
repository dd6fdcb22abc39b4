//! Plain requests read in place (`front`), over raw sockets so the bytes on the wire are what
//! is checked: pipelining, answers relayed as they came, the hand-over to hyper mid-connection.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::{http_backend, proxy, DEADLINE};
use crate::http1::{Keep, ResponseHead, ResponseReader, Step};
use crate::manifest::{Balance, Protocol};

/// A replica answering each request by its path, with heads no framework would write:
/// `/chunked` in chunks with hop-by-hop headers of its own, `/until-close` with no length
/// (the body ends at its close), anything else a small body of known length.
async fn raw_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut more = [0u8; 4096];
                        match socket.read(&mut more).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&more[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let answer: &[u8] = match path.as_str() {
                        "/chunked" => b"HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Kept: yes\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                        "/until-close" => b"HTTP/1.1 200 OK\r\nX-Kept: yes\r\n\r\nto the close",
                        _ => b"HTTP/1.1 201 Made\r\ncontent-length: 4\r\n\r\nmade",
                    };
                    // An answer to HEAD is its head alone.
                    let answer = match head.starts_with("HEAD ") {
                        true => &answer[..answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |end| end + 4)],
                        false => answer,
                    };
                    if socket.write_all(answer).await.is_err() || path == "/until-close" {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// One answer read off `stream`: status, headers and the body (de-chunked).
async fn answer(stream: &mut TcpStream, buf: &mut BytesMut, head_request: bool) -> (u16, hyper::HeaderMap, String) {
    let mut reader = ResponseReader::answering(head_request);
    let mut head = ResponseHead::default();
    let mut body = Vec::new();
    loop {
        match reader.step(buf, Keep::Map(&mut head)).expect("a well-formed answer") {
            Step::Head => {}
            Step::Body(n) => body.extend_from_slice(&buf.split_to(n)),
            Step::Done(done) => return (done.status, head.headers, String::from_utf8_lossy(&body).into_owned()),
            Step::More => {
                let read = timeout(DEADLINE, stream.read_buf(buf)).await.expect("in time").expect("read");
                assert!(read > 0, "the proxy closed the connection mid-answer");
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect to the proxy")
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let mut client = connect(proxy.local_addr()).await;
    let requests = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\
                    POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                    GET /headers HTTP/1.1\r\nHost: kept.example\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n";
    client.write_all(requests.as_bytes()).await.expect("write");
    let mut buf = BytesMut::new();
    let answers = [answer(&mut client, &mut buf, false).await, answer(&mut client, &mut buf, false).await, answer(&mut client, &mut buf, false).await];
    let got: Vec<(u16, &str)> = answers.iter().map(|(status, _, body)| (*status, body.as_str())).collect();
    assert_eq!(got, [(200, "b0"), (200, "hello"), (200, "kept.example|1.2.3.4, 127.0.0.1")]);
    assert_eq!(proxy.totals().requests, 3);
    cancel.cancel();
}

#[tokio::test]
async fn an_answer_goes_back_as_it_came_less_this_hops_headers_and_its_own_framing_is_made_chunks() {
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![super::Backend { replica: 0, addr: raw_backend().await }]);
    let mut client = connect(proxy.local_addr()).await;
    let mut buf = BytesMut::new();
    client.write_all(b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut head = vec![0u8; 0];
    // The head as the client reads it: reason phrase kept, the replica's hop-by-hop headers gone.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut more = [0u8; 512];
        let n = timeout(DEADLINE, client.read(&mut more)).await.expect("in time").expect("read");
        assert!(n > 0, "closed");
        head.extend_from_slice(&more[..n]);
    }
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").expect("end") + 4;
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    assert_eq!(text, "HTTP/1.1 200 Fine\r\nX-Kept: yes\r\ntransfer-encoding: chunked\r\n\r\n");
    buf.extend_from_slice(&head);
    let (status, _, body) = answer(&mut client, &mut buf, false).await;
    assert_eq!((status, body.as_str()), (200, "hello world"));

    // A body the replica ends by closing reaches the client chunked, and the client's connection goes on.
    client.write_all(b"GET /until-close HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let (status, headers, body) = answer(&mut client, &mut buf, false).await;
    assert_eq!((status, body.as_str(), headers.get("transfer-encoding").map(|v| v.as_bytes())), (200, "to the close", Some(&b"chunked"[..])));
    client.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let (status, headers, body) = answer(&mut client, &mut buf, true).await;
    assert_eq!((status, body.as_str(), headers.get("content-length").map(|v| v.as_bytes())), (201, "", Some(&b"4"[..])));
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    assert_eq!(answer(&mut client, &mut buf, false).await.2, "made", "the connection carries on after a HEAD");
    cancel.cancel();
}

#[tokio::test]
async fn a_request_hyper_must_serve_takes_the_connection_where_the_plain_ones_left_it() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let mut client = connect(proxy.local_addr()).await;
    let mut buf = BytesMut::new();
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    assert_eq!(answer(&mut client, &mut buf, false).await.2, "b0");
    // A chunked body is not plain: hyper's server reads it, and the plain request sent with it.
    let chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    client.write_all(chunked.as_bytes()).await.expect("write");
    assert_eq!(answer(&mut client, &mut buf, false).await.2, "abcde");
    assert_eq!(answer(&mut client, &mut buf, false).await.2, "b0");
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let (status, headers, _) = answer(&mut client, &mut buf, false).await;
    assert_eq!((status, headers.get("connection").map(|v| v.as_bytes())), (200, Some(&b"close"[..])));
    assert_eq!(proxy.totals().requests, 4);
    cancel.cancel();
}

#[tokio::test]
async fn connection_close_is_answered_and_then_the_connection_closes() {
    let backend = http_backend("b0").await;
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let mut client = connect(proxy.local_addr()).await;
    let mut buf = BytesMut::new();
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
    let (status, headers, body) = answer(&mut client, &mut buf, false).await;
    assert_eq!((status, body.as_str(), headers.get("connection").map(|v| v.as_bytes())), (200, "b0", Some(&b"close"[..])));
    let mut rest = [0u8; 16];
    let read = timeout(DEADLINE, client.read(&mut rest)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the connection was left open: {read:?}");
    cancel.cancel();
}
