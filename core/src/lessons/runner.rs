//! Runs a lesson on the live cluster as a client of [`Cluster`]: each step's actions are a
//! user's commands, its checks measure after its wait, and whatever the outcome the cluster
//! is put back as the lesson found it (replicas, stopped services, knobs, load, and the
//! definition of a service it deployed — rolled out again as a new revision).
//!
//! The run is one task; its progress is a `watch` value the cluster shows in every
//! snapshot, and each step and check is also an event.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::evaluate::{evaluate, CheckResult, Measured};
use super::measure;
use super::model::{Action, Check, Lesson, Measure, Subject, SubjectKind};
use super::outline::describe_action;
use super::progress::{ActionDone, LessonProgress, RunState, StepState};
use crate::cluster::{Cluster, ClusterError};
use crate::events::now_ms;
use crate::loadgen::LoadReport;
use crate::snapshot::{ClusterSnapshot, RolloutState, ServiceState};

/// How long the restore waits for the services to be ready again.
pub const RESTORE_WITHIN: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(100);

/// What the lesson may change, as it was before it: put back at the end.
struct Before {
    services: BTreeMap<String, ServiceBefore>,
    /// Each service's knobs as read before the lesson first set them.
    knobs: BTreeMap<String, serde_json::Value>,
    /// Each autoscaler: on or off.
    autoscale: BTreeMap<String, bool>,
    /// Each service's revision before the lesson first deployed it.
    revisions: BTreeMap<String, u32>,
    /// Each service's processes when the lesson began (for `replaced`).
    pids: BTreeMap<String, Vec<u32>>,
    /// Each service's fault (or none) before the lesson first set or cleared one.
    faults: BTreeMap<String, Option<crate::proxy::fault::Fault>>,
}

/// A service as the lesson found it.
struct ServiceBefore {
    desired: u32,
    stopped: bool,
    /// The restore waits for it to be ready again.
    ready: bool,
}

impl Before {
    fn of(snapshot: &ClusterSnapshot) -> Before {
        let services = snapshot
            .services
            .iter()
            .map(|s| {
                let was = ServiceBefore { desired: s.desired, stopped: s.state == ServiceState::Stopped, ready: s.state == ServiceState::Ready };
                (s.name.clone(), was)
            })
            .collect();
        let autoscale = snapshot.autoscalers.iter().map(|a| (a.service.clone(), a.on)).collect();
        let pids = snapshot.services.iter().map(|s| (s.name.clone(), s.replicas.iter().filter_map(|r| r.pid).collect())).collect();
        Before { services, knobs: BTreeMap::new(), autoscale, revisions: BTreeMap::new(), pids, faults: BTreeMap::new() }
    }
}

/// The run's task: `progress` is published to the cluster's viewers; `stop` ends it early;
/// step `i` starts once `allowed` is past `i` (the user runs a lesson step by step by raising it).
pub(crate) async fn run(cluster: Cluster, lesson: Lesson, progress: watch::Sender<LessonProgress>, stop: CancellationToken, mut allowed: watch::Receiver<usize>) {
    let mut before = Before::of(&cluster.snapshot());
    let publish = |f: &dyn Fn(&mut LessonProgress)| {
        progress.send_modify(|p| f(p));
        cluster.lesson_changed();
    };
    cluster.lesson_event(&lesson.name, format!("lesson started: {}", lesson.title));
    // Each check's value at the end of its step, for the relative bounds of later steps.
    let mut baselines: BTreeMap<(String, Measure, Subject), f64> = BTreeMap::new();
    let mut stopped = false;
    let count = lesson.steps.len();
    for (i, step) in lesson.steps.iter().enumerate() {
        if *allowed.borrow_and_update() <= i {
            publish(&|p| {
                p.current = Some(i);
                p.awaiting = true;
            });
            tokio::select! {
                _ = stop.cancelled() => { stopped = true; break; }
                went = allowed.wait_for(|a| *a > i) => if went.is_err() { stopped = true; break; },
            }
        }
        let began = now_ms();
        publish(&|p| {
            p.current = Some(i);
            p.awaiting = false;
            p.steps[i].state = StepState::Acting;
            p.steps[i].started_at = Some(began);
        });
        cluster.lesson_event(&lesson.name, format!("step {} of {count}: {}", i + 1, step.name));
        let done = |what: String| publish(&|p| p.steps[i].actions_done.push(ActionDone { at: now_ms(), what: what.clone() }));
        let acted = tokio::select! {
            _ = stop.cancelled() => { stopped = true; break; }
            r = act(&cluster, &step.actions, &mut before, &done) => r,
        };
        if let Err(e) = acted {
            cluster.lesson_event(&lesson.name, format!("step `{}` could not be carried out: {e}", step.name));
            publish(&|p| {
                p.steps[i].state = StepState::Done;
                p.steps[i].error = Some(e.clone());
            });
            break;
        }
        if let Some(wait) = step.wait {
            publish(&|p| p.steps[i].state = StepState::Waiting);
            tokio::select! {
                _ = stop.cancelled() => { stopped = true; break; }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let from = now_ms();
        publish(&|p| {
            p.steps[i].state = StepState::Measuring;
            p.steps[i].measuring_from = Some(from);
        });
        let measured = tokio::select! {
            _ = stop.cancelled() => { stopped = true; break; }
            m = measure_checks(&cluster, &step.checks, &before.pids) => m,
        };
        let results: Vec<CheckResult> = step
            .checks
            .iter()
            .zip(&measured)
            .map(|(check, m)| {
                let baseline = match &check.bound.limit {
                    super::model::Limit::Relative { step, .. } => baselines.get(&(step.clone(), check.measure, check.subject.clone())).copied(),
                    super::model::Limit::Value(_) => None,
                };
                evaluate(check, m, baseline)
            })
            .collect();
        for (check, m) in step.checks.iter().zip(&measured) {
            if let Some(v) = m.value {
                baselines.insert((step.name.clone(), check.measure, check.subject.clone()), v);
            }
        }
        for r in &results {
            cluster.lesson_event(&lesson.name, format!("{}: {}", r.outcome.word(), r.sentence));
        }
        publish(&|p| {
            p.steps[i].checks = results.clone();
            p.steps[i].state = StepState::Done;
        });
    }
    publish(&|p| {
        p.current = None;
        p.awaiting = false;
        p.state = RunState::Restoring;
        for s in &mut p.steps {
            if s.state != StepState::Done {
                s.state = StepState::Skipped;
            }
        }
    });
    let problems = restore(&cluster, &before).await;
    publish(&|p| {
        p.restore_problems = problems.clone();
        p.state = p.verdict(stopped);
        p.finished_at = Some(now_ms());
    });
    let summary = progress.borrow().summary();
    cluster.lesson_event(&lesson.name, format!("lesson {summary}"));
}

/// A step's actions in order, each told to `done` once carried out; the first that cannot
/// be carried out ends the lesson.
async fn act(cluster: &Cluster, actions: &[Action], before: &mut Before, done: &(dyn Fn(String) + Sync)) -> Result<(), String> {
    let said = |e: ClusterError| e.to_string();
    for action in actions {
        match action {
            Action::StartLoad { scenario, rate, duration } => cluster.start_load(scenario, *rate, *duration).map(drop).map_err(said)?,
            Action::SetLoadRate { rate } => cluster.set_load_rate(*rate).map(drop).map_err(said)?,
            Action::StopLoad => cluster.stop_load().map(drop).map_err(said)?,
            Action::Scale { service, replicas } => cluster.scale(service, *replicas).await.map_err(said)?,
            Action::Stop { service } => cluster.stop_service(service).await.map_err(said)?,
            Action::Start { service } => cluster.start_service(service).await.map_err(said)?,
            Action::Restart { service } => cluster.restart_service(service).await.map_err(said)?,
            Action::Kill { service, replica } => cluster.kill_replica(service, *replica).await.map_err(said)?,
            Action::Knobs { service, knobs } => {
                if !before.knobs.contains_key(service) {
                    let now = cluster.knobs(service).await.map_err(said)?;
                    before.knobs.insert(service.clone(), now);
                }
                let mut patch = serde_json::Map::new();
                if let Some(v) = knobs.work_ms {
                    patch.insert("work_ms".into(), v.into());
                }
                if let Some(v) = knobs.max_inflight {
                    patch.insert("max_inflight".into(), v.into());
                }
                if let Some(v) = knobs.error_rate {
                    patch.insert("error_rate".into(), v.into());
                }
                cluster.set_knobs(service, &serde_json::Value::Object(patch)).await.map(drop).map_err(said)?;
            }
            Action::Wait(d) => tokio::time::sleep(*d).await,
            Action::Autoscale { service, on } => cluster.set_autoscale(service, *on).await.map(drop).map_err(said)?,
            Action::WaitReady { service, within } => {
                if !wait_ready(cluster, &[service.as_str()], *within).await {
                    return Err(format!("{service} was not ready within {} s", within.as_secs()));
                }
            }
            Action::Deploy { service, change } => {
                let revision = cluster.rollout_status(service).map_err(said)?.revision;
                before.revisions.entry(service.clone()).or_insert(revision);
                cluster.deploy(service, change.clone()).await.map_err(said)?;
            }
            Action::WaitRollout { service, within } => {
                if !wait_rollout(cluster, service, *within).await {
                    return Err(format!("{service}'s rollout did not end within {} s", within.as_secs()));
                }
            }
            Action::Fault { service, fault } => {
                note_fault(cluster, before, service).map_err(said)?;
                cluster.set_fault(service, *fault).await.map(drop).map_err(said)?;
            }
            Action::ClearFault { service } => {
                note_fault(cluster, before, service).map_err(said)?;
                cluster.clear_fault(service).map(drop).map_err(said)?;
            }
            Action::Request { service, method, path, body } => {
                let status = request(cluster, service, method, path, body.as_deref()).await?;
                if status >= 500 {
                    return Err(format!("{service} answered {method} {path} with {status}"));
                }
            }
        }
        done(describe_action(action));
    }
    Ok(())
}

fn is_ready(snapshot: &ClusterSnapshot, service: &str) -> bool {
    snapshot.services.iter().any(|s| s.name == service && s.state == ServiceState::Ready && s.ready == s.desired)
}

/// Whether every one of `services` is ready (all its desired replicas) within `within`.
async fn wait_ready(cluster: &Cluster, services: &[&str], within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        let snapshot = cluster.snapshot();
        if services.iter().all(|s| is_ready(&snapshot, s)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the service's rollout (if any) ends — complete, rolled back or paused — within `within`.
async fn wait_rollout(cluster: &Cluster, service: &str, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        let going = cluster.rollout_status(service).ok().and_then(|v| v.rollout).is_some_and(|r| matches!(r.state, RolloutState::Progressing | RolloutState::RollingBack));
        if !going {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How long a lesson's own request may take.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// One request through the service's address; its status, or why there was none.
async fn request(cluster: &Cluster, service: &str, method: &str, path: &str, body: Option<&str>) -> Result<u16, String> {
    let addr = cluster.address(service).map_err(|e| e.to_string())?;
    let client = crate::loopback::client().map_err(|e| e.to_string())?;
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = client.request(method.clone(), format!("http://{addr}{path}")).timeout(REQUEST_WITHIN);
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_string());
    }
    let answer = req.send().await.map_err(|e| format!("{service} did not answer {method} {path}: {e}"))?;
    Ok(answer.status().as_u16())
}

/// The `x-version` of the service's answer to `GET /health` through its address.
async fn served_version(cluster: &Cluster, service: &str) -> Option<f64> {
    let addr = cluster.address(service).ok()?;
    let client = crate::loopback::client().ok()?;
    let answer = client.get(format!("http://{addr}/health")).timeout(Duration::from_secs(5)).send().await.ok()?;
    answer.headers().get("x-version")?.to_str().ok()?.trim().parse().ok()
}

/// Measures a step's checks: all windows start now, each check is read when its own ends.
async fn measure_checks(cluster: &Cluster, checks: &[Check], pids: &BTreeMap<String, Vec<u32>>) -> Vec<Measured> {
    let t0 = Instant::now();
    let topology0 = cluster.topology().await.unwrap_or_default();
    let load0 = cluster.load_report();
    let mut windows: Vec<Duration> = checks.iter().map(|c| c.window).collect();
    windows.sort();
    windows.dedup();
    let mut p95s: Vec<f64> = Vec::new();
    let mut out: Vec<Measured> = vec![Measured::default(); checks.len()];
    let mut next_sample = t0 + Duration::from_secs(1);
    for window in windows {
        let end = t0 + window;
        // The load's per-second p95, once a second until this window ends.
        while next_sample <= end {
            tokio::time::sleep_until(next_sample).await;
            if let Some(p) = cluster.load_report().filter(|r| !r.state.is_over()).and_then(|r| r.latency_last_second.p95_ms) {
                p95s.push(p);
            }
            next_sample += Duration::from_secs(1);
        }
        tokio::time::sleep_until(end).await;
        let seconds = t0.elapsed().as_secs_f64();
        let load1 = cluster.load_report();
        let unfair = measure::unfairness(load0.as_ref(), load1.as_ref());
        let topology1 = cluster.topology().await.unwrap_or_default();
        let snapshot = cluster.snapshot();
        for (check, slot) in checks.iter().zip(out.iter_mut()).filter(|(c, _)| c.window == window) {
            let value = value_of(cluster, check, (&snapshot, pids), (&topology0, &topology1), (load0.as_ref(), load1.as_ref()), &p95s, seconds).await;
            *slot = Measured { value, unfair: unfair.clone() };
        }
    }
    out
}

async fn value_of(
    cluster: &Cluster,
    check: &Check,
    (snapshot, pids): (&ClusterSnapshot, &BTreeMap<String, Vec<u32>>),
    (topology0, topology1): (&crate::metrics::Topology, &crate::metrics::Topology),
    (load0, load1): (Option<&LoadReport>, Option<&LoadReport>),
    p95s: &[f64],
    seconds: f64,
) -> Option<f64> {
    match (&check.subject, check.measure.subject_kind()) {
        (Subject::Edge { caller, callee }, SubjectKind::Edge) => measure::edge(check.measure, topology0, topology1, caller, callee, seconds),
        (Subject::Load, SubjectKind::Load) => measure::load(check.measure, load0, load1, p95s, seconds),
        (Subject::Service(service), SubjectKind::Service) => {
            let view = snapshot.services.iter().find(|s| &s.name == service)?;
            match check.measure {
                Measure::ReadyReplicas => Some(f64::from(view.ready)),
                Measure::Restarts => Some(f64::from(view.restarts)),
                Measure::ServedVersion => served_version(cluster, service).await,
                Measure::Replaced => {
                    let at_start = pids.get(service.as_str())?;
                    Some(view.replicas.iter().filter_map(|r| r.pid).filter(|p| !at_start.contains(p)).count() as f64)
                }
                Measure::RolloutStopped => Some(if view.rollout.as_ref().is_some_and(|r| r.reason.is_some()) { 1.0 } else { 0.0 }),
                Measure::Status => request(cluster, service, "GET", check.path.as_deref()?, None).await.ok().map(f64::from),
                Measure::SpreadPct => measure::spread(&cluster.replica_spread(service, check.window).await.ok()?, view.ready),
                m => measure::from_series(m, cluster.series(service, check.window).await.ok()?.as_ref()),
            }
        }
        _ => None,
    }
}

/// Puts the cluster back as `before` says; returns what could not be, each as a sentence.
async fn restore(cluster: &Cluster, before: &Before) -> Vec<String> {
    let mut problems = Vec::new();
    if cluster.load_report().is_some_and(|r| !r.state.is_over()) {
        if let Err(e) = cluster.stop_load() {
            problems.push(format!("the load could not be stopped: {e}"));
        }
        // Its requests in flight end within twice the request timeout; the lesson ends quiet.
        let end = Instant::now() + 2 * crate::loadgen::REQUEST_TIMEOUT + POLL;
        while cluster.load_report().is_some_and(|r| !r.state.is_over()) {
            if Instant::now() >= end {
                problems.push("the load's last requests were still in flight".into());
                break;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    // Faults first: the services behave as they did while the rest is put back.
    for (service, was) in &before.faults {
        let put_back = match was {
            Some(fault) => cluster.set_fault(service, *fault).await.map(drop),
            None => cluster.clear_fault(service).map(drop),
        };
        if let Err(e) = put_back {
            problems.push(format!("{service}'s fault could not be put back: {e}"));
        }
    }
    // Off while the replicas are put back, so none scales against it; on again after, if it was.
    let now = cluster.snapshot();
    for a in now.autoscalers.iter().filter(|a| a.on) {
        if let Err(e) = cluster.set_autoscale(&a.service, false).await {
            problems.push(format!("{}'s autoscaler could not be switched off: {e}", a.service));
        }
    }
    for view in &now.services {
        let Some(was) = before.services.get(&view.name) else { continue };
        if !was.stopped && view.state == ServiceState::Stopped {
            if let Err(e) = cluster.start_service(&view.name).await {
                problems.push(format!("{} could not be started again: {e}", view.name));
            }
        }
        if view.desired != was.desired {
            if let Err(e) = cluster.scale(&view.name, was.desired).await {
                problems.push(format!("{} could not be scaled back to {}: {e}", view.name, was.desired));
            }
        }
    }
    // A deployed service runs its earlier definition again, as a new revision.
    for (service, revision) in &before.revisions {
        match cluster.rollout_undo(service, Some(*revision)).await {
            Ok(_) => {
                if !wait_rollout(cluster, service, RESTORE_WITHIN).await {
                    problems.push(format!("{service}'s rollout back to revision {revision}'s definition did not end within {} s", RESTORE_WITHIN.as_secs()));
                }
            }
            Err(e) => problems.push(format!("{service} could not be rolled back to revision {revision}'s definition: {e}")),
        }
    }
    let were_ready: Vec<&str> = before.services.iter().filter(|(_, was)| was.ready).map(|(n, _)| n.as_str()).collect();
    if !wait_ready(cluster, &were_ready, RESTORE_WITHIN).await {
        let snapshot = cluster.snapshot();
        let late: Vec<&str> = were_ready.iter().copied().filter(|s| !is_ready(&snapshot, s)).collect();
        problems.push(format!("{} not ready again within {} s", late.join(", "), RESTORE_WITHIN.as_secs()));
    }
    for (service, knobs) in &before.knobs {
        if let Err(e) = cluster.set_knobs(service, knobs).await {
            problems.push(format!("{service}'s knobs could not be set back: {e}"));
        }
    }
    for (service, _) in before.autoscale.iter().filter(|(_, on)| **on) {
        if let Err(e) = cluster.set_autoscale(service, true).await {
            problems.push(format!("{service}'s autoscaler could not be switched on again: {e}"));
        }
    }
    for (service, was) in &before.services {
        if was.stopped && cluster.snapshot().services.iter().any(|s| &s.name == service && s.state != ServiceState::Stopped) {
            if let Err(e) = cluster.stop_service(service).await {
                problems.push(format!("{service} could not be stopped again: {e}"));
            }
        }
    }
    problems
}

/// Keeps the service's fault as it was before the lesson first changed it.
fn note_fault(cluster: &Cluster, before: &mut Before, service: &str) -> Result<(), ClusterError> {
    if !before.faults.contains_key(service) {
        let now = cluster.fault(service)?.map(|v| v.fault);
        before.faults.insert(service.to_string(), now);
    }
    Ok(())
}

/// Every service the lesson names (its `services`, actions and service checks) that the
/// cluster does not run.
pub fn missing_services(lesson: &Lesson, snapshot: &ClusterSnapshot) -> Vec<String> {
    let mut named: Vec<&str> = lesson.services.iter().map(String::as_str).collect();
    for step in &lesson.steps {
        named.extend(step.actions.iter().filter_map(Action::service));
        for c in &step.checks {
            if let Subject::Service(s) = &c.subject {
                named.push(s);
            }
        }
    }
    named.sort();
    named.dedup();
    named.into_iter().filter(|n| !snapshot.services.iter().any(|s| s.name == *n)).map(str::to_string).collect()
}
