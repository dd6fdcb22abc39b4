//! A lesson run step by step on a cluster in process: each step waits for the user, the
//! progress says so, and at the end the cluster is put back (its replica count).

use std::time::Duration;

use microdeck::cluster::Pace;
use microdeck::lessons::progress::{RunState, StepState};

use crate::util::{cluster, poll_until_async};

const LONG: Duration = Duration::from_secs(60);

const LESSON: &str = r#"
name = "two-steps"
title = "Two steps"
claim = "A lesson run step by step waits for the user before each step."
services = ["web"]

[[step]]
name = "scaled"
text = "Scale web to 2."
actions = [{ scale = "web", replicas = 2 }, { wait_ready = "web" }]
checks = [{ measure = "ready_replicas", service = "web", at_least = 2, window = "1s" }]

[[step]]
name = "again"
text = "Nothing more."
checks = [{ measure = "ready_replicas", service = "web", at_most = { step = "scaled", times = 1 }, window = "1s" }]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_run_step_by_step_waits_for_each_step_and_restores_the_cluster() {
    let (cluster, _dir) = cluster("name = \"paced\"\n[services.web]\ncommand = \"mdk-testsvc\"\nhealth = { http = \"/health\" }\n").await;
    let ready = |n: u32| {
        let c = cluster.clone();
        move || c.snapshot().services.iter().find(|s| s.name == "web" && s.ready == n && s.desired == n).map(drop)
    };
    poll_until_async("web ready", LONG, ready(1)).await;
    let lesson = microdeck::lessons::parse_lesson(LESSON.as_bytes(), "two-steps.toml").expect("a valid lesson");
    let first = cluster.start_lesson(lesson.clone(), Pace::StepByStep).expect("started");
    assert!(first.step_by_step);
    let awaiting = |step: usize| {
        let c = cluster.clone();
        move || c.lesson_progress().filter(|p| p.awaiting && p.current == Some(step))
    };
    let p = poll_until_async("the lesson waiting at step 0", LONG, awaiting(0)).await;
    assert_eq!(p.steps[0].state, StepState::Pending, "nothing done before the user runs the step");
    assert_eq!(cluster.snapshot().services[0].desired, 1);
    // Another lesson is refused meanwhile, and so is a second "next" while a step runs.
    assert_eq!(cluster.start_lesson(lesson, Pace::Continuous).map(drop).map_err(|e| e.code()), Err("busy"));

    cluster.advance_lesson(false).expect("run step 0");
    let p = poll_until_async("step 0 done, waiting at step 1", LONG, awaiting(1)).await;
    assert_eq!(p.steps[0].state, StepState::Done);
    assert_eq!(p.steps[0].checks[0].value, Some(2.0), "{:?}", p.steps[0].checks);
    assert_eq!(p.steps[1].state, StepState::Pending);

    cluster.advance_lesson(true).expect("run the rest");
    let c = cluster.clone();
    let p = poll_until_async("the lesson over", LONG, move || c.lesson_progress().filter(|p| p.state.is_over())).await;
    assert_eq!(p.state, RunState::Passed, "{}", p.summary());
    assert!(p.restore_problems.is_empty(), "{:?}", p.restore_problems);
    poll_until_async("web back to 1 replica", LONG, ready(1)).await;
    assert_eq!(cluster.advance_lesson(true).map(drop).map_err(|e| e.code()), Err("invalid-argument"), "nothing to advance");
    cluster.shutdown().await;
}
