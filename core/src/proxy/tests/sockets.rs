//! The proxy at the socket level: TCP forwarding, upgraded tunnels, a held port, stop.

use super::*;

/// An HTTP server that accepts any upgrade and then echoes raw bytes.
async fn upgrade_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service_fn(|mut req: Request<Incoming>| async move {
                let upgrade = hyper::upgrade::on(&mut req);
                tokio::spawn(async move {
                    if let Ok(upgraded) = upgrade.await {
                        let (mut r, mut w) = tokio::io::split(TokioIo::new(upgraded));
                        tokio::io::copy(&mut r, &mut w).await.ok();
                    }
                });
                hyper::Response::builder()
                    .status(101)
                    .header("connection", "upgrade")
                    .header("upgrade", "echo")
                    .body(Empty::<Bytes>::new())
            });
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .with_upgrades();
            tokio::spawn(async move { connection.await.ok() });
        }
    });
    addr
}

#[tokio::test]
async fn an_upgraded_connection_is_tunnelled_and_counts_as_in_flight() {
    let (proxy, cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![Backend {
        replica: 0,
        addr: upgrade_backend().await,
    }]);
    let mut client = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    client
        .write_all(b"GET /ws HTTP/1.1\r\nhost: api\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = timeout(DEADLINE, client.read(&mut byte))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(n, 1, "closed early: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    client
        .write_all(b"ping through the tunnel")
        .await
        .expect("write");
    let mut echoed = [0u8; 23];
    timeout(DEADLINE, client.read_exact(&mut echoed))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&echoed, b"ping through the tunnel");
    assert_eq!(
        proxy.backends()[0].in_flight,
        1,
        "an open tunnel is in flight"
    );
    drop(client);
    let start = tokio::time::Instant::now();
    while proxy.backends()[0].in_flight != 0 {
        assert!(start.elapsed() < DEADLINE, "the tunnel never closed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
}

pub(super) async fn echo_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                tokio::io::copy(&mut r, &mut w).await.ok();
            });
        }
    });
    addr
}

#[tokio::test]
async fn tcp_forwards_both_ways_and_closes_when_no_replica_is_ready() {
    let (proxy, cancel) = proxy(Protocol::Tcp, Balance::RoundRobin);
    let mut client = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let n = timeout(DEADLINE, client.read(&mut buf))
        .await
        .expect("closed in time")
        .expect("read");
    assert_eq!(n, 0, "no replica: the connection is closed");

    proxy.set_backends(vec![
        Backend {
            replica: 0,
            addr: dead_addr(),
        },
        Backend {
            replica: 1,
            addr: echo_backend().await,
        },
    ]);
    for _ in 0..4 {
        let mut client = tokio::net::TcpStream::connect(proxy.local_addr())
            .await
            .expect("connect");
        client.write_all(b"hello tcp").await.expect("write");
        let mut echoed = [0u8; 9];
        timeout(DEADLINE, client.read_exact(&mut echoed))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(&echoed, b"hello tcp");
    }
    cancel.cancel();
}

#[tokio::test]
async fn a_held_port_is_reported_with_its_holder() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr");
    let result = ServiceProxy::bind(
        "api",
        addr,
        AddressOptions::new(Protocol::Http, Balance::RoundRobin),
        CancellationToken::new(),
    );
    match result {
        Err(ProxyError::PortInUse { port, holder }) => {
            assert_eq!(port, addr.port());
            let holder = holder.expect("the holder is this test process");
            assert!(
                holder.starts_with(&format!("pid {} (", std::process::id())),
                "{holder}"
            );
            let message = ProxyError::PortInUse {
                port,
                holder: Some(holder.clone()),
            }
            .to_string();
            assert_eq!(
                message,
                format!("port {port} is already in use by {holder}")
            );
        }
        Err(other) => panic!("expected PortInUse, got {other}"),
        Ok(_) => panic!("bound a held port"),
    }
}

#[tokio::test]
async fn stop_frees_the_port_at_once_even_after_open_connections() {
    let backend = http_backend("b0").await;
    let (proxy, _cancel) = proxy(Protocol::Http, Balance::RoundRobin);
    proxy.set_backends(vec![backend.as_backend(0)]);
    let addr = proxy.local_addr();
    // A keep-alive connection that is still open when the proxy stops.
    let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: api\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\nb0") {
        let mut buf = [0u8; 1024];
        let n = timeout(DEADLINE, client.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(
            n > 0,
            "closed early: {}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&buf[..n]);
    }
    timeout(DEADLINE, proxy.stop())
        .await
        .expect("stopped in time");
    // The proxy closed its side; the client closes after it, which would leave the
    // proxy's socket in TIME_WAIT on the port without the reset on stop.
    let mut buf = [0u8; 16];
    let closed = timeout(DEADLINE, client.read(&mut buf))
        .await
        .expect("in time");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    drop(client);
    // Without SO_REUSEADDR, as many programs bind (Rust's std sets it; Python's socket does not).
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(false).expect("no reuseaddr");
    let rebound = socket.bind(addr);
    assert!(rebound.is_ok(), "port still held after stop: {rebound:?}");
}
