//! `microdeck up`'s local API under careless and hostile clients: a half-sent request does not
//! hold the stop, a second Ctrl-C exits at once, and a crowd of idle connections waits past
//! the cap instead of taking the engine's file descriptors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;

const LONG: Duration = Duration::from_secs(30);

const SLEEPER: &str = r#"
name = "sleeper"
[services.sleeper]
command = "sleep"
args = ["1000"]
"#;

/// `127.0.0.1:PORT` and the token, from the line `microdeck up` prints.
fn api_of(up: &Up) -> (String, String) {
    poll_until("the dashboard's address", LONG, || {
        let out = up.stdout();
        let rest = out.lines().find_map(|l| l.strip_prefix("microdeck: dashboard at http://"))?;
        let (addr, token) = rest.split_once("/#token=")?;
        Some((addr.to_string(), token.trim().to_string()))
    })
}

/// `GET /api/snapshot` with the token over a fresh connection; the answer's status line.
fn snapshot_status(addr: &str, token: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /api/snapshot HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.lines().next().unwrap_or_default().to_string())
}

fn interrupt(up: &Up) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(up.pid() as i32, libc::SIGINT) };
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_half_sent_request_does_not_hold_the_stop_past_its_bound() {
    let mut up = Up::start_with(SLEEPER, &["--web-port", "0"]);
    up.wait_all_ready(LONG);
    let (addr, _) = api_of(&up);
    let mut half = TcpStream::connect(&addr).expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\n").expect("write");
    interrupt(&up);
    let sent = Instant::now();
    // Under the 10 s a head may take: the stop's own bound (3 s) is what ends it.
    let status = poll_until("microdeck up exits", Duration::from_secs(8), || up.child.try_wait().ok().flatten());
    println!("exited {:?} after Ctrl-C, a half-sent request open", sent.elapsed());
    assert!(status.success(), "exit status {status:?}; stderr: {}", up.stderr());
    assert!(up.stdout().contains("stopped."), "{}", up.stdout());
}

const STUBBORN: &str = r#"
name = "stubborn"
[services.stubborn]
shell = "trap '' TERM; exec sleep 1003"
stop_grace = "5s"
"#;

#[test]
fn a_second_ctrl_c_ends_up_at_once_and_leaves_no_process() {
    let mut up = Up::start_with(STUBBORN, &["--web-port", "0"]);
    let snap = up.wait_all_ready(LONG);
    let groups = replica_groups(&snap);
    assert!(!members_of_groups(&groups).is_empty());
    interrupt(&up);
    // The service ignores SIGTERM, so this stop would wait out its 5 s grace.
    poll_until("the hint of a second Ctrl-C", LONG, || up.stdout().contains("(Ctrl-C again to exit now)").then_some(()));
    interrupt(&up);
    let sent = Instant::now();
    let status = poll_until("microdeck up exits", Duration::from_secs(3), || up.child.try_wait().ok().flatten());
    println!("exited {:?} after the second Ctrl-C", sent.elapsed());
    assert_eq!(status.code(), Some(microdeck::shell::EXIT_AT_ONCE), "stderr: {}", up.stderr());
    // Its shim, seeing the engine gone, kills the group once the grace is over.
    poll_until("the stubborn service gone after its grace", LONG, || members_of_groups(&groups).is_empty().then_some(()));
}

#[test]
fn a_thousand_idle_connections_wait_past_the_cap_and_the_api_answers_once_they_go() {
    let up = Up::start_with(SLEEPER, &["--web-port", "0"]);
    up.wait_all_ready(LONG);
    let (addr, token) = api_of(&up);
    assert_eq!(snapshot_status(&addr, &token).expect("ask"), "HTTP/1.1 200 OK");
    let before = open_fds(up.pid());
    let idle: Vec<TcpStream> = (0..1000).map(|_| TcpStream::connect(&addr).expect("the kernel takes the connection")).collect();
    let cap_line = "connections open, its most";
    poll_until("the cap's log line", Duration::from_secs(8), || up.stderr().contains(cap_line).then_some(()));
    let during = open_fds(up.pid());
    println!("engine file descriptors: {before} before, {during} with 1000 idle connections to the API");
    let cap = microdeck::web::server::MAX_CONNECTIONS;
    assert!(during <= before + cap + 4, "{during} descriptors open, {before} before: the cap of {cap} did not hold");
    drop(idle);
    let answer = poll_until("the API answering again", LONG, || snapshot_status(&addr, &token).ok().filter(|s| s.contains(" 200 ")));
    assert_eq!(answer, "HTTP/1.1 200 OK");
    assert_eq!(up.stderr().matches(cap_line).count(), 1, "one line for the cap, not one a connection: {}", up.stderr());
}
