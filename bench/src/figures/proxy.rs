//! P4: throughput and latency through Microdeck's proxy, straight to the replica, and
//! through nginx (one worker, keep-alive upstream) to the same replica.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use super::Ctx;
use crate::engine::{manifest, Up};
use crate::http::{closed_loop, free_port, get_once, poll};
use crate::report::{num, ratios, Row, Samples};

/// nginx in the foreground with a config of its own; killed on drop.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(listen: u16, upstream: u16) -> Result<Nginx> {
        let dir = tempfile::tempdir()?;
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n keepalive_requests 100000000;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             upstream replica {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 100000000; }}\n\
             server {{ listen 127.0.0.1:{listen}; location / {{ proxy_pass http://replica; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}\n}}\n"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, conf)?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&file)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so the drop can end the worker too (a killed master orphans it).
            .process_group(0)
            .spawn()
            .context("start nginx (make bench installs nginx-light)")?;
        Ok(Nginx { child, _dir: dir })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master and its worker: killing only the master left the worker holding the port.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's process group; no memory is touched.
            let _already_gone = unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

#[derive(Default)]
struct Path3 {
    rps: Samples,
    p50: Samples,
    p99: Samples,
}

pub async fn p4(ctx: &Ctx) -> Result<Vec<Row>> {
    let port = free_port()?;
    let body = format!("command = \"mdk-testsvc\"\nport = {port}\nhealth = {{ http = \"/health\" }}\n");
    let up = Up::start(&ctx.bins, &manifest("web", &body), &[])?;
    let snap = up.wait_ready(Duration::from_secs(20)).await?;
    let replica = snap.services[0].replicas[0].port;
    let nginx_port = free_port()?;
    let _nginx = if ctx.peers { Some(Nginx::start(nginx_port, replica)?) } else { None };
    let targets: Vec<(&str, String)> = {
        let mut t = vec![("direct", format!("127.0.0.1:{replica}")), ("microdeck", format!("127.0.0.1:{port}"))];
        if ctx.peers {
            t.push(("nginx", format!("127.0.0.1:{nginx_port}")));
        }
        t
    };
    for (name, addr) in &targets {
        poll(name, Duration::from_secs(10), Duration::from_millis(20), || async {
            get_once(addr, "/", Duration::from_millis(500)).await.ok().filter(|r| r.status == 200)
        })
        .await?;
    }
    let secs = if ctx.quick { Duration::from_millis(300) } else { Duration::from_secs(3) };
    let mut rows = Vec::new();
    for conns in [1usize, 32] {
        let mut m: Vec<Path3> = targets.iter().map(|_| Path3::default()).collect();
        for _ in 0..ctx.runs {
            for (i, (name, addr)) in targets.iter().enumerate() {
                let r = closed_loop(addr, "/", conns, secs).await.with_context(|| format!("{name} ({addr}) at {conns} connections"))?;
                m[i].rps.push(r.rps);
                m[i].p50.push(r.p50_us);
                m[i].p99.push(r.p99_us);
            }
        }
        let (direct, md) = (&m[0], &m[1]);
        let added = Samples(md.p50.0.iter().zip(&direct.p50.0).map(|(a, b)| a - b).collect());
        let tput = ratios(&md.rps, &direct.rps);
        let ours = format!(
            "{} rps, p50 {} µs, p99 {} µs; direct {} rps, p50 {} µs; added p50 {} µs, throughput {}× direct",
            num(md.rps.median()),
            num(md.p50.median()),
            num(md.p99.median()),
            num(direct.rps.median()),
            num(direct.p50.median()),
            num(added.median()),
            num(tput.median())
        );
        let mut row = Row::new("P4", format!("proxy at {conns} connection{} (closed loop, mdk-testsvc)", if conns == 1 { "" } else { "s" }), ours);
        if let Some(ng) = m.get(2) {
            let ng_added = Samples(ng.p50.0.iter().zip(&direct.p50.0).map(|(a, b)| a - b).collect());
            let ng_tput = ratios(&ng.rps, &direct.rps);
            row = row.peer(format!(
                "nginx: {} rps, p50 {} µs, p99 {} µs; added p50 {} µs, throughput {}× direct",
                num(ng.rps.median()),
                num(ng.p50.median()),
                num(ng.p99.median()),
                num(ng_added.median()),
                num(ng_tput.median())
            ));
            row = if conns == 1 {
                row.target("added p50 ≤ nginx's", added.median() <= ng_added.median())
            } else {
                row.target("throughput ratio ≥ nginx's", tput.median() >= ng_tput.median())
            };
        }
        rows.push(row);
    }
    Ok(rows)
}
