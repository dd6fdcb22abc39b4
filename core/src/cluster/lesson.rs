//! One lesson at a time on the cluster: started here, run by [`crate::lessons::runner`]
//! (a client of this API like any user), its progress in every snapshot.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Cluster, ClusterError};
use crate::events::{now_ms, EventDraft};
use crate::lessons::progress::LessonProgress;
use crate::lessons::{runner, Lesson};
use crate::snapshot::EventKind;

/// A lesson run: its progress, the token that stops it, and how many steps it may run.
pub(super) struct LessonRun {
    progress: watch::Receiver<LessonProgress>,
    stop: CancellationToken,
    allowed: watch::Sender<usize>,
}

/// How a lesson goes from step to step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pace {
    /// Every step in turn, to the end.
    #[default]
    Continuous,
    /// Each step waits for [`Cluster::advance_lesson`].
    StepByStep,
}

impl LessonRun {
    fn is_over(&self) -> bool {
        self.progress.borrow().state.is_over()
    }
}

/// What a shell asks to run: exactly one of `name` (a bundled lesson) and `toml` (a lesson
/// file's text; `file` names it in error messages), at a `pace` (continuous by default).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonStart {
    pub name: Option<String>,
    pub toml: Option<String>,
    pub file: Option<String>,
    #[serde(default)]
    pub pace: Pace,
}

impl LessonStart {
    /// The lesson it names or holds.
    pub fn lesson(&self) -> Result<Lesson, ClusterError> {
        match (&self.name, &self.toml) {
            (Some(name), None) => crate::bundled::lesson(name).ok_or_else(|| {
                let known: Vec<String> = crate::bundled::lessons().into_iter().map(|l| l.name).collect();
                ClusterError::UnknownLesson { name: name.clone(), known }
            }),
            (None, Some(toml)) => {
                let file = self.file.as_deref().unwrap_or("lesson.toml");
                crate::lessons::parse_lesson(toml.as_bytes(), file).map_err(|e| ClusterError::InvalidLesson(Arc::new(e)))
            }
            _ => Err(ClusterError::LessonRequest),
        }
    }
}

impl Cluster {
    /// Starts the lesson a shell asked for; see [`Cluster::start_lesson`].
    pub fn run_lesson(&self, request: &LessonStart) -> Result<LessonProgress, ClusterError> {
        self.start_lesson(request.lesson()?, request.pace)
    }

    /// Starts `lesson`; refused while another lesson or a load run is going, or when the
    /// cluster lacks a service it names. Callable from any thread: it runs on the cluster's runtime.
    pub fn start_lesson(&self, lesson: Lesson, pace: Pace) -> Result<LessonProgress, ClusterError> {
        if self.inner.cancel.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let current = self.inner.lesson.load_full();
        if let Some(run) = current.as_ref().filter(|r| !r.is_over()) {
            return Err(ClusterError::LessonRunning(run.progress.borrow().name.clone()));
        }
        if let Some(load) = self.load_report().filter(|r| !r.state.is_over()) {
            return Err(ClusterError::LoadBeforeLesson { scenario: load.scenario, rate: load.rate });
        }
        let missing = runner::missing_services(&lesson, &self.snapshot());
        if !missing.is_empty() {
            return Err(ClusterError::LessonNeedsServices { lesson: lesson.name.clone(), missing });
        }
        let mut first = LessonProgress::new(&lesson, now_ms());
        first.step_by_step = pace == Pace::StepByStep;
        let (tx, progress) = watch::channel(first.clone());
        let stop = self.inner.cancel.child_token();
        let (allowed, allowed_rx) = watch::channel(if first.step_by_step { 0 } else { usize::MAX });
        let run = Arc::new(LessonRun { progress, stop: stop.clone(), allowed });
        // Two starts at once: only the one that swaps out what it saw runs.
        let previous = self.inner.lesson.compare_and_swap(&current, Some(run));
        if !same(&*previous, &current) {
            return Err(ClusterError::LessonStarting);
        }
        self.inner.tracker.spawn_on(runner::run(self.clone(), lesson, tx, stop, allowed_rx), &self.inner.runtime);
        self.lesson_changed();
        Ok(first)
    }

    /// Stops the running lesson; it then puts the cluster back as it found it (watch the
    /// progress for `stopped`).
    pub fn stop_lesson(&self) -> Result<LessonProgress, ClusterError> {
        let run = self.inner.lesson.load_full().filter(|r| !r.is_over());
        let run = run.ok_or(ClusterError::NoLesson)?;
        run.stop.cancel();
        let progress = run.progress.borrow().clone();
        Ok(progress)
    }

    /// Lets a lesson run step by step go on: its next step, or (`rest`) every step left.
    pub fn advance_lesson(&self, rest: bool) -> Result<LessonProgress, ClusterError> {
        let run = self.inner.lesson.load_full().filter(|r| !r.is_over());
        let run = run.ok_or(ClusterError::NoLesson)?;
        let progress = run.progress.borrow().clone();
        if !progress.awaiting && !rest {
            return Err(ClusterError::StepRunning(progress.name));
        }
        let next = progress.current.unwrap_or(0) + 1;
        run.allowed.send_modify(|a| *a = if rest { usize::MAX } else { (*a).max(next) });
        Ok(progress)
    }

    /// The running lesson's progress, or the last one's results; `None` before any.
    pub fn lesson_progress(&self) -> Option<LessonProgress> {
        self.inner.lesson.load().as_ref().map(|r| r.progress.borrow().clone())
    }

    /// Tells the viewers the snapshot changed (the lesson's progress is in it).
    pub(crate) fn lesson_changed(&self) {
        self.inner.shared.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn lesson_event(&self, lesson: &str, message: String) {
        self.inner.events.record(EventDraft { service: lesson.to_string(), replica: None, kind: EventKind::Lesson, message });
    }
}

fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}
