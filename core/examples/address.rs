//! One service address in front of one running replica, with its traffic recorded as the
//! engine records it, and nothing else of the engine: for profiling the request path where
//! the whole engine cannot run (e.g. under valgrind, which the resource sampler's procfs
//! does not survive). See docs/proxy-profile.md.
//!
//! `cargo run --profile optimized -p microdeck --example address -- LISTEN_PORT REPLICA_PORT`

use std::net::SocketAddr;

use anyhow::Context;
use microdeck::manifest::{Balance, Protocol};
use microdeck::metrics::Metrics;
use microdeck::proxy::{AddressOptions, Backend, ServiceProxy};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: address LISTEN_PORT REPLICA_PORT";
    let listen: u16 = args.next().context(usage)?.parse().context(usage)?;
    let replica: u16 = args.next().context(usage)?.parse().context(usage)?;
    let cancel = CancellationToken::new();
    let metrics = Metrics::spawn(cancel.clone())?;
    let options = AddressOptions::new(Protocol::Http, Balance::RoundRobin);
    let proxy = ServiceProxy::bind("web", SocketAddr::from(([127, 0, 0, 1], listen)), options, cancel.clone())?;
    proxy.attach_metrics(metrics).await?;
    proxy.set_backends(vec![Backend { replica: 0, addr: SocketAddr::from(([127, 0, 0, 1], replica)) }]);
    println!("serving 127.0.0.1:{listen} in front of 127.0.0.1:{replica}");
    tokio::signal::ctrl_c().await?;
    cancel.cancel();
    proxy.stop().await;
    Ok(())
}
