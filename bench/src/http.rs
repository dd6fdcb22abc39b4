//! A minimal HTTP/1.1 keep-alive client: one request at a time per connection, timed
//! to the microsecond, and a closed-loop load over N such connections (P2–P4).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One kept-alive connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: &str, path: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nuser-agent: microdeck-bench\r\n\r\n").into_bytes();
        Ok(Conn { stream: BufReader::new(stream), request })
    }

    /// Sends the request and reads the whole response (Content-Length bodies only).
    pub async fn get(&mut self) -> Result<Response> {
        self.stream.get_mut().write_all(&self.request).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            bail!("connection closed before a response");
        }
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("bad status line")?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().context("bad content-length")?;
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Response { status, body })
    }
}

/// One request on a fresh connection, under a timeout.
pub async fn get_once(addr: &str, path: &str, timeout: Duration) -> Result<Response> {
    tokio::time::timeout(timeout, async {
        let mut c = Conn::open(addr, path).await?;
        c.get().await
    })
    .await
    .context("request timed out")?
}

/// What a closed-loop run achieved.
#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// `conns` connections each sending the next request as soon as the last is answered,
/// for `duration` (after a short warm-up); every non-2xx response is an error.
pub async fn closed_loop(addr: &str, path: &str, conns: usize, duration: Duration) -> Result<LoadResult> {
    let warmup = Duration::from_millis(200).min(duration / 4);
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..conns {
        let addr = addr.to_string();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            let mut c = Conn::open(&addr, &path).await?;
            loop {
                let t = Instant::now();
                if t.duration_since(start) >= warmup + duration {
                    break;
                }
                let r = c.get().await?;
                if !(200..300).contains(&r.status) {
                    bail!("{addr}{path} answered {}", r.status);
                }
                if t.duration_since(start) >= warmup {
                    hist.record(t.elapsed().as_micros() as u64)?;
                }
            }
            anyhow::Ok(hist)
        }));
    }
    let mut all = Histogram::<u64>::new(3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    if all.is_empty() {
        bail!("no request completed against {addr}");
    }
    Ok(LoadResult {
        rps: all.len() as f64 / duration.as_secs_f64(),
        p50_us: all.value_at_quantile(0.5) as f64,
        p99_us: all.value_at_quantile(0.99) as f64,
    })
}

/// A port free right now on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `n` distinct ports free right now (all held until all are picked, then released).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let held = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// Polls `f` every `every` until it gives `Some`, or fails after `deadline`.
pub async fn poll<T, F, Fut>(what: &str, deadline: Duration, every: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() >= end {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}
