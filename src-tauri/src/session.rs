//! The session: the one actor that owns the running `Cluster` (replaced by File → Open…,
//! reloaded in place by File → Reload manifest),
//! the local API serving it, and the pages' live feeds. Commands read the current cluster
//! from a `watch`; everything that changes it goes through the actor's bounded channel.
//!
//! A page's feed is the engine's subscription, a flush a message, sent only while the page
//! has acknowledged all but [`IN_FLIGHT`](microdeck::cluster::feed::IN_FLIGHT) of them: a
//! Tauri channel never pushes back, so without that WebKit would queue every message a busy
//! page has not handled yet.

use std::collections::HashMap;
use std::sync::Arc;

use tauri::ipc::Channel;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use microdeck::cluster::feed::{Acks, Credit};
use microdeck::cluster::{Cluster, ClusterError, ReloadReport, Update};
use microdeck::manifest::Manifest;
use microdeck::web::{self, WebHandle};

use crate::launch::Launch;

/// Room for menu clicks and subscriptions queued while the actor swaps a cluster.
const QUEUE: usize = 16;

enum Command {
    Subscribe { label: String, channel: Channel<Vec<Update>> },
    Ack { label: String, received: u64 },
    Open { manifest: Box<Manifest>, reply: oneshot::Sender<Result<(), ClusterError>> },
    ResetData { reply: oneshot::Sender<Result<(), ClusterError>> },
    Reload { reply: oneshot::Sender<Result<ReloadReport, ClusterError>> },
    Shutdown { reply: oneshot::Sender<()> },
}

/// The handle commands and menus use. Cheap to clone.
#[derive(Clone)]
pub struct SessionHandle {
    clusters: watch::Receiver<Cluster>,
    commands: mpsc::Sender<Command>,
}

impl SessionHandle {
    /// Starts `manifest`'s cluster (and the local API, unless `launch.web` is `None`).
    pub async fn start(launch: Launch, manifest: Manifest) -> Result<(SessionHandle, Option<String>), ClusterError> {
        let cluster = Cluster::start(manifest.clone(), launch.options_for(&manifest)).await?;
        let web = match &launch.web {
            Some(options) => match web::serve_for(cluster.clone(), options.clone()).await {
                Ok(w) => Some(w),
                Err(e) => {
                    cluster.shutdown().await;
                    return Err(ClusterError::LocalApi(Arc::new(e)));
                }
            },
            None => None,
        };
        let login = web.as_ref().map(WebHandle::login_url);
        let (clusters_tx, clusters) = watch::channel(cluster);
        let (commands, inbox) = mpsc::channel(QUEUE);
        let actor = Session { launch, clusters: clusters_tx, web, feeds: HashMap::new(), stop: CancellationToken::new() };
        tauri::async_runtime::spawn(actor.run(inbox));
        Ok((SessionHandle { clusters, commands }, login))
    }

    /// The cluster running now.
    pub fn cluster(&self) -> Cluster {
        self.clusters.borrow().clone()
    }

    /// Feeds `channel` with updates of the current cluster (and of the next one after an Open…),
    /// a flush a message, as fast as the page acknowledges them ([`ack`](Self::ack)).
    pub fn subscribe(&self, label: String, channel: Channel<Vec<Update>>) {
        if self.commands.try_send(Command::Subscribe { label, channel }).is_err() {
            tracing::warn!("subscription dropped: the session is busy or gone");
        }
    }

    /// The page `label` has handled `received` messages of its feed in all.
    pub async fn ack(&self, label: String, received: u64) {
        // Awaited, not tried: a lost acknowledgement would hold the feed until the next one.
        let _gone = self.commands.send(Command::Ack { label, received }).await;
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    }

    /// Stops the current cluster and runs `manifest` instead; on failure the previous one
    /// runs again and the error is why `manifest`'s could not start.
    pub async fn open(&self, manifest: Manifest) -> Result<(), ClusterError> {
        self.ask(|reply| Command::Open { manifest: Box::new(manifest), reply }).await.unwrap_or(Err(ClusterError::ShuttingDown))
    }

    /// Stops every service, wipes their data folders, starts them again.
    pub async fn reset_data(&self) -> Result<(), ClusterError> {
        self.ask(|reply| Command::ResetData { reply }).await.unwrap_or(Err(ClusterError::ShuttingDown))
    }

    /// Reads the current cluster's manifest again from where it came from and applies it
    /// (the engine's `reload_from_source`); a file with errors changes nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ClusterError> {
        self.ask(|reply| Command::Reload { reply }).await.unwrap_or(Err(ClusterError::ShuttingDown))
    }

    /// Completes `Cluster::shutdown()` and stops the local API; idempotent.
    pub async fn shutdown(&self) {
        if self.ask(|reply| Command::Shutdown { reply }).await.is_none() {
            // The actor is gone, so it already shut down; make sure of the cluster anyway.
            self.cluster().shutdown().await;
        }
    }
}

struct Session {
    launch: Launch,
    clusters: watch::Sender<Cluster>,
    web: Option<WebHandle>,
    /// The live feed of each page (by webview label) and where its acknowledgements go; a
    /// page's new subscription ends its old one.
    feeds: HashMap<String, (CancellationToken, Acks)>,
    stop: CancellationToken,
}

impl Session {
    async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        while let Some(command) = inbox.recv().await {
            match command {
                Command::Subscribe { label, channel } => self.subscribe(label, channel),
                Command::Ack { label, received } => {
                    if let Some((_, acks)) = self.feeds.get(&label) {
                        acks.ack(received);
                    }
                }
                Command::Open { manifest, reply } => {
                    let _gone = reply.send(self.open(*manifest).await);
                }
                Command::ResetData { reply } => {
                    let _gone = reply.send(self.reset_data().await);
                }
                Command::Reload { reply } => {
                    let cluster = self.clusters.borrow().clone();
                    let _gone = reply.send(cluster.reload_from_source().await);
                }
                Command::Shutdown { reply } => {
                    self.shutdown().await;
                    let _gone = reply.send(());
                    break;
                }
            }
        }
        // Later askers get `None` and know the session is over.
        inbox.close();
    }

    fn subscribe(&mut self, label: String, channel: Channel<Vec<Update>>) {
        let cancel = self.stop.child_token();
        let (credit, acks) = Credit::new();
        if let Some((old, _)) = self.feeds.insert(label, (cancel.clone(), acks)) {
            old.cancel();
        }
        tauri::async_runtime::spawn(forward(self.clusters.subscribe(), channel, credit, cancel));
    }

    async fn open(&mut self, manifest: Manifest) -> Result<(), ClusterError> {
        let old = self.clusters.borrow().clone();
        let previous = old.manifest();
        self.stop_web().await;
        old.shutdown().await;
        match Cluster::start(manifest.clone(), self.launch.options_for(&manifest)).await {
            Ok(cluster) => {
                self.run_cluster(cluster).await;
                Ok(())
            }
            Err(e) => {
                // Keep a cluster running: go back to the one the user had.
                let back = Cluster::start(previous.clone(), self.launch.options_for(&previous)).await;
                match back {
                    Ok(cluster) => self.run_cluster(cluster).await,
                    Err(again) => tracing::error!("could not restart `{}` either: {again}", previous.name),
                }
                Err(e)
            }
        }
    }

    async fn run_cluster(&mut self, cluster: Cluster) {
        if let Some(options) = &self.launch.web {
            match web::serve_for(cluster.clone(), options.clone()).await {
                Ok(w) => self.web = Some(w),
                Err(e) => tracing::warn!("the local API could not restart: {e}"),
            }
        }
        self.clusters.send_replace(cluster);
    }

    async fn stop_web(&mut self) {
        if let Some(web) = self.web.take() {
            web.shutdown().await;
        }
    }

    async fn reset_data(&mut self) -> Result<(), ClusterError> {
        let cluster = self.clusters.borrow().clone();
        let names: Vec<String> = cluster.manifest().services.iter().map(|s| s.name.clone()).collect();
        cluster.stop_all().await?;
        let data_dir = &cluster.options().data_dir;
        let wiped = microdeck::cluster::reset_data(data_dir, &names).map_err(|e| ClusterError::Folder {
            what: "wipe the service data in",
            path: data_dir.clone(),
            source: Arc::new(e),
        });
        // Start again even if wiping failed: the user asked for a running cluster.
        cluster.start_all().await?;
        wiped
    }

    async fn shutdown(&mut self) {
        let cluster = self.clusters.borrow().clone();
        cluster.shutdown().await;
        self.stop_web().await;
        self.stop.cancel();
    }
}

/// Sends the current cluster's feed to `channel`, a flush a message while `credit` allows,
/// following File → Open… swaps, until the page goes away, subscribes again, or the app quits.
async fn forward(mut clusters: watch::Receiver<Cluster>, channel: Channel<Vec<Update>>, mut credit: Credit, cancel: CancellationToken) {
    loop {
        let cluster = clusters.borrow_and_update().clone();
        let mut feed = cluster.subscribe();
        loop {
            // Waiting here holds the engine's next flush back, which coalesces meanwhile.
            tokio::select! {
                _ = cancel.cancelled() => return,
                ready = credit.ready() => if !ready { return },
            }
            let first = tokio::select! {
                _ = cancel.cancelled() => return,
                update = feed.recv() => match update {
                    Some(update) => update,
                    None => break,
                },
            };
            let mut message = vec![first];
            // The rest of the flush, if already queued (at most `feed::QUEUE` updates).
            while let Some(update) = feed.try_recv() {
                message.push(update);
            }
            credit.sent();
            if channel.send(message).is_err() {
                return;
            }
        }
        // That cluster is over: wait for the next one, if any.
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = clusters.changed() => if changed.is_err() { return },
        }
    }
}
