//! The HTTP probe of one replica: one kept-alive HTTP/1 connection (hyper's client
//! `conn`), driven inside the probe's own task, so an idle probe costs a write and a
//! read, with no pool, no connection task and no channel hop in between. A connection
//! the replica closed (or an HTTP/1.0 server that closes each time) is replaced at the
//! next probe; a reused connection that fails is retried once on a fresh one, so a
//! keep-alive timeout on the replica's side never reads as a failed probe.

use std::pin::Pin;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::{header, Request, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Driver = Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>;

struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    /// Reads and writes the socket; polled only while a probe is in flight.
    driver: Driver,
}

/// `GET path` on 127.0.0.1:`port`, over a connection kept between probes.
pub struct HttpProbe {
    port: u16,
    path: String,
    conn: Option<Conn>,
}

impl HttpProbe {
    pub fn new(port: u16, path: &str) -> HttpProbe {
        HttpProbe { port, path: path.to_string(), conn: None }
    }

    /// Whether a connection is held for the next probe.
    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The status of one GET; an error says why there was none. Cancel-safe: a probe
    /// dropped mid-way (its timeout) leaves no connection behind.
    pub async fn get(&mut self) -> Result<StatusCode, String> {
        let reused = self.conn.is_some();
        match self.exchange().await {
            Err(_) if reused => self.exchange().await,
            r => r,
        }
    }

    async fn exchange(&mut self) -> Result<StatusCode, String> {
        let conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let req = Request::get(self.path.as_str())
            .header(header::HOST, format!("127.0.0.1:{}", self.port))
            .header(header::USER_AGENT, "microdeck-probe")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let Conn { mut sender, driver } = conn;
        let mut driver = Some(driver);
        let result = {
            let exchange = async {
                sender.ready().await?;
                let response = sender.send_request(req).await?;
                let status = response.status();
                // An HTTP/1.0 server (Python's http.server) closes after each answer.
                let closes = response.version() != Version::HTTP_11
                    || response.headers().get(header::CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                // The whole body, so the connection is free for the next probe.
                response.into_body().collect().await?;
                Ok::<_, hyper::Error>((status, closes))
            };
            tokio::pin!(exchange);
            let answered = match driver.as_mut() {
                Some(d) => tokio::select! {
                    biased;
                    r = &mut exchange => Some(r),
                    _ = d.as_mut() => None,
                },
                None => None,
            };
            match answered {
                Some(r) => r,
                None => {
                    // The connection ended (the replica closed it): dropping it fails a
                    // request it never sent; an answer it already read is still delivered.
                    driver = None;
                    exchange.await
                }
            }
        };
        let (status, closes) = result.map_err(|e| innermost(&e))?;
        if let Some(driver) = driver.filter(|_| !closes && !sender.is_closed()) {
            self.conn = Some(Conn { sender, driver });
        }
        Ok(status)
    }

    async fn connect(&self) -> Result<Conn, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).await.map_err(|e| e.to_string())?;
        let _nodelay = stream.set_nodelay(true);
        let (sender, driver) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| innermost(&e))?;
        Ok(Conn { sender, driver: Box::pin(driver) })
    }
}

/// The root cause's message ("Connection refused (os error 111)"), not a wrapper's.
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
