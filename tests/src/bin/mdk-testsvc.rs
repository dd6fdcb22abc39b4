//! `mdk-testsvc`: a tiny, fast-starting service for the engine tests (std only).
//!
//! Serves HTTP on `$PORT`: `/health` → 200 `ok`; anything else → 200 with
//! `{"service","replica","port","pid"}`; `/status/N` answers status N, `/sleep/MS`
//! answers after MS milliseconds (a request held in flight), `/env/NAME` answers the value
//! of the environment variable NAME (empty if unset). Flags:
//! `--crash` exit 1 at once; `--flood N` print N numbered lines first;
//! `--tcp` a TCP service that greets each connection with `replica R pid P`;
//! `--start-delay-ms N` wait before listening; `--grandchild` start `sleep 1000` first;
//! `--log-rate N` once listening, print N numbered lines a second, in 10 ms batches;
//! `--max-inflight N` at most N `/sleep/MS` requests at once, the others wait their turn (so
//! a replica's capacity is N × 1000 / MS requests a second).
//! Like the sample kit: `VERSION` (default 1) is in every answer's `x-version` header and
//! JSON, and `BAD_RELEASE=crash` exits 1 at start, `BAD_RELEASE=health` fails `/health` (503).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// The `/sleep/` slots left, and the most there are (`--max-inflight`; unset: no limit).
static SLOTS: OnceLock<(Mutex<u64>, Condvar)> = OnceLock::new();

/// Sleeps `ms` in one of the slots, waiting for one first.
fn work(ms: u64) {
    let Some((free, turn)) = SLOTS.get() else {
        std::thread::sleep(Duration::from_millis(ms));
        return;
    };
    let mut left = free.lock().unwrap_or_else(|e| e.into_inner());
    while *left == 0 {
        left = turn.wait(left).unwrap_or_else(|e| e.into_inner());
    }
    *left -= 1;
    drop(left);
    std::thread::sleep(Duration::from_millis(ms));
    *free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    turn.notify_one();
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok());
    if flag("--crash") || env("BAD_RELEASE") == "crash" {
        eprintln!("crashing on purpose");
        std::process::exit(1);
    }
    if flag("--grandchild") {
        // Left running on purpose: the engine must clean it up with the group.
        let _child = std::process::Command::new("sleep").arg("1000").spawn();
    }
    if let Some(n) = value("--flood") {
        let stdout = std::io::stdout();
        let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
        for i in 1..=n {
            if writeln!(out, "line {i:07}").is_err() {
                std::process::exit(3);
            }
        }
        let _unsent = out.flush();
    }
    if let Some(n) = value("--max-inflight") {
        let _set = SLOTS.set((Mutex::new(n.max(1)), Condvar::new()));
    }
    if let Some(ms) = value("--start-delay-ms") {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let port = env("PORT");
    let listener = match TcpListener::bind(format!("127.0.0.1:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {port}: {e}");
            std::process::exit(2);
        }
    };
    println!("listening on {port} as replica {}", env("REPLICA"));
    if let Some(rate) = value("--log-rate") {
        std::thread::spawn(move || log_steadily(rate));
    }
    let tcp = flag("--tcp");
    let health_fails = env("BAD_RELEASE") == "health";
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || if tcp { greet(conn) } else { serve(conn, health_fails) });
    }
}

/// `rate` lines a second, paced against the start so a slow write does not lower the rate.
fn log_steadily(rate: u64) {
    let start = std::time::Instant::now();
    let stdout = std::io::stdout();
    let mut written = 0u64;
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        // One write per batch, as a buffered logger would.
        let mut out = BufWriter::new(stdout.lock());
        while written < due {
            written += 1;
            if writeln!(out, "line {written:07}").is_err() {
                std::process::exit(3);
            }
        }
        if out.flush().is_err() {
            std::process::exit(3);
        }
    }
}

fn greet(mut conn: TcpStream) {
    let _unsent = writeln!(conn, "replica {} pid {}", env("REPLICA"), std::process::id());
}

fn version() -> String {
    Some(env("VERSION")).filter(|v| !v.is_empty()).unwrap_or_else(|| "1".into())
}

fn serve(conn: TcpStream, health_fails: bool) {
    let _unsent = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut conn = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let body = if path == "/health" {
            "ok".to_string()
        } else if let Some(name) = path.strip_prefix("/env/") {
            env(name)
        } else {
            format!(
                "{{\"service\":\"{}\",\"replica\":{},\"port\":{},\"pid\":{},\"version\":\"{}\"}}",
                env("SERVICE_NAME"),
                env("REPLICA"),
                env("PORT"),
                std::process::id(),
                version()
            )
        };
        let status = match path.strip_prefix("/status/").and_then(|n| n.parse::<u16>().ok()) {
            Some(n) => n,
            None if path == "/health" && health_fails => 503,
            None => 200,
        };
        if let Some(ms) = path.strip_prefix("/sleep/").and_then(|n| n.parse::<u64>().ok()) {
            work(ms);
        }
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nx-version: {}\r\ncontent-length: {}\r\n\r\n{body}",
            version(),
            body.len()
        );
        if conn.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
