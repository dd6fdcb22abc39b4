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

/// A lesson run: its progress, and the token that stops it.
pub(super) struct LessonRun {
    progress: watch::Receiver<LessonProgress>,
    stop: CancellationToken,
}

impl LessonRun {
    fn is_over(&self) -> bool {
        self.progress.borrow().state.is_over()
    }
}

impl Cluster {
    /// Starts `lesson`; refused while another lesson or a load run is going, or when the
    /// cluster lacks a service it names. Callable from any thread: it runs on the cluster's runtime.
    pub fn start_lesson(&self, lesson: Lesson) -> Result<LessonProgress, ClusterError> {
        if self.inner.cancel.is_cancelled() {
            return Err(ClusterError::ShuttingDown);
        }
        let current = self.inner.lesson.load_full();
        if let Some(run) = current.as_ref().filter(|r| !r.is_over()) {
            return Err(ClusterError::Busy(format!("lesson `{}` is running; stop it first", run.progress.borrow().name)));
        }
        if let Some(load) = self.load_report().filter(|r| !r.state.is_over()) {
            return Err(ClusterError::Busy(format!(
                "a load run is going (`{}` at {} req/s); stop it first, or its traffic would mix with the lesson's numbers",
                load.scenario, load.rate
            )));
        }
        let missing = runner::missing_services(&lesson, &self.snapshot());
        if !missing.is_empty() {
            return Err(ClusterError::InvalidArgument(format!(
                "lesson `{}` needs {} that this cluster does not run",
                lesson.name,
                missing.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        let first = LessonProgress::new(&lesson, now_ms());
        let (tx, progress) = watch::channel(first.clone());
        let stop = self.inner.cancel.child_token();
        let run = Arc::new(LessonRun { progress, stop: stop.clone() });
        // Two starts at once: only the one that swaps out what it saw runs.
        let previous = self.inner.lesson.compare_and_swap(&current, Some(run));
        if !same(&*previous, &current) {
            return Err(ClusterError::Busy("another lesson started just now".into()));
        }
        self.inner.tracker.spawn_on(runner::run(self.clone(), lesson, tx, stop), &self.inner.runtime);
        self.lesson_changed();
        Ok(first)
    }

    /// Stops the running lesson; it then puts the cluster back as it found it (watch the
    /// progress for `stopped`).
    pub fn stop_lesson(&self) -> Result<LessonProgress, ClusterError> {
        let run = self.inner.lesson.load_full().filter(|r| !r.is_over());
        let run = run.ok_or_else(|| ClusterError::InvalidArgument("no lesson is running".into()))?;
        run.stop.cancel();
        let progress = run.progress.borrow().clone();
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
