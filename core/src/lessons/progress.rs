//! A lesson run as the shells see it: where it is, what each check found, how it ended.
//! Published in every snapshot and read by `microdeck lesson run`; pure data and the rule
//! that turns check outcomes into the lesson's.

use serde::{Deserialize, Serialize};

use super::evaluate::{CheckResult, Outcome};
use super::model::Lesson;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    Running,
    /// Putting the cluster back as it was before the lesson.
    Restoring,
    /// Every check passed.
    Passed,
    /// A check failed.
    Failed,
    /// No check failed, and at least one could not be measured fairly.
    Inconclusive,
    /// Stopped on request before its end.
    Stopped,
    /// An action could not be carried out (e.g. a service never became ready).
    Broken,
}

impl RunState {
    pub fn is_over(self) -> bool {
        !matches!(self, RunState::Running | RunState::Restoring)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    /// Carrying out its actions.
    Acting,
    /// Its wait, before the checks measure.
    Waiting,
    /// Its checks' windows.
    Measuring,
    Done,
    /// The lesson ended before this step.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    pub name: String,
    /// What the learner reads (Markdown).
    pub text: String,
    pub state: StepState,
    /// When it began acting (ms since the epoch).
    pub started_at: Option<u64>,
    /// Each action carried out, when, in words: the markers on the page's charts.
    pub actions_done: Vec<ActionDone>,
    /// When its checks' windows began.
    pub measuring_from: Option<u64>,
    pub checks: Vec<CheckResult>,
    /// Why an action of this step could not be carried out.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionDone {
    pub at: u64,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonProgress {
    pub name: String,
    pub title: String,
    pub claim: String,
    pub state: RunState,
    /// The step under way (an index into `steps`), while running.
    pub current: Option<usize>,
    /// Run step by step: each step waits for the user to run it.
    pub step_by_step: bool,
    /// Waiting for the user to run step `current`.
    pub awaiting: bool,
    pub steps: Vec<StepProgress>,
    /// What could not be put back as it was, if anything (each a sentence).
    pub restore_problems: Vec<String>,
    pub started_at: u64,
    pub finished_at: Option<u64>,
}

impl LessonProgress {
    pub fn new(lesson: &Lesson, started_at: u64) -> LessonProgress {
        let steps = lesson
            .steps
            .iter()
            .map(|s| StepProgress {
                name: s.name.clone(),
                text: s.text.clone(),
                state: StepState::Pending,
                started_at: None,
                actions_done: Vec::new(),
                measuring_from: None,
                checks: Vec::new(),
                error: None,
            })
            .collect();
        LessonProgress {
            name: lesson.name.clone(),
            title: lesson.title.clone(),
            claim: lesson.claim.clone(),
            state: RunState::Running,
            current: None,
            step_by_step: false,
            awaiting: false,
            steps,
            restore_problems: Vec::new(),
            started_at,
            finished_at: None,
        }
    }

    pub fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.steps.iter().flat_map(|s| s.checks.iter())
    }

    /// How the lesson ended from its steps: stopped and broken win, then a failed check,
    /// then an inconclusive one.
    pub fn verdict(&self, stopped: bool) -> RunState {
        if stopped {
            return RunState::Stopped;
        }
        if self.steps.iter().any(|s| s.error.is_some()) {
            return RunState::Broken;
        }
        let outcomes: Vec<Outcome> = self.checks().map(|c| c.outcome).collect();
        if outcomes.contains(&Outcome::Failed) {
            RunState::Failed
        } else if outcomes.contains(&Outcome::Inconclusive) {
            RunState::Inconclusive
        } else {
            RunState::Passed
        }
    }

    /// One line for the end: `passed: 7 of 7 checks` or `failed: 1 of 7 checks failed`.
    pub fn summary(&self) -> String {
        let n = self.checks().count();
        let count = |o: Outcome| self.checks().filter(|c| c.outcome == o).count();
        let state = serde_json::to_value(self.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let mut s = match self.state {
            RunState::Passed => format!("{state}: {n} of {n} checks passed"),
            RunState::Failed => format!("{state}: {} of {n} checks failed", count(Outcome::Failed)),
            RunState::Inconclusive => format!("{state}: {} of {n} checks could not be measured fairly", count(Outcome::Inconclusive)),
            RunState::Stopped => format!("{state} before its end"),
            RunState::Broken => {
                let why = self.steps.iter().find_map(|s| s.error.as_ref().map(|e| format!("step `{}`: {e}", s.name)));
                format!("{state}: {}", why.unwrap_or_default())
            }
            RunState::Running | RunState::Restoring => state,
        };
        if !self.restore_problems.is_empty() {
            s.push_str(&format!("; not restored: {}", self.restore_problems.join("; ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome) -> CheckResult {
        CheckResult {
            key: "step[0].checks[0]".into(),
            measure: "rps".into(),
            subject: "media".into(),
            window_s: 5.0,
            value: Some(1.0),
            bound: Some(1.0),
            comparison: "at_least".into(),
            outcome,
            sentence: String::new(),
        }
    }

    fn progress(outcomes: &[Outcome], error: bool) -> LessonProgress {
        let step = StepProgress {
            name: "s".into(),
            text: String::new(),
            state: StepState::Done,
            started_at: None,
            actions_done: Vec::new(),
            measuring_from: None,
            checks: outcomes.iter().map(|o| result(*o)).collect(),
            error: error.then(|| "auth was not ready within 30 s".into()),
        };
        LessonProgress {
            name: "l".into(),
            title: String::new(),
            claim: String::new(),
            state: RunState::Running,
            current: None,
            step_by_step: false,
            awaiting: false,
            steps: vec![step],
            restore_problems: vec![],
            started_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn verdicts() {
        use Outcome::*;
        let cases: [(&[Outcome], bool, bool, RunState); 7] = [
            (&[Passed, Passed], false, false, RunState::Passed),
            (&[], false, false, RunState::Passed),
            (&[Passed, Inconclusive], false, false, RunState::Inconclusive),
            (&[Inconclusive, Failed], false, false, RunState::Failed),
            (&[Failed], false, true, RunState::Stopped),
            (&[Passed], true, false, RunState::Broken),
            (&[Failed], true, true, RunState::Stopped),
        ];
        for (outcomes, error, stopped, want) in cases {
            assert_eq!(progress(outcomes, error).verdict(stopped), want, "{outcomes:?} error {error} stopped {stopped}");
        }
    }

    #[test]
    fn summaries_count_the_checks() {
        let mut p = progress(&[Outcome::Passed, Outcome::Failed, Outcome::Passed], false);
        p.state = p.verdict(false);
        assert_eq!(p.summary(), "failed: 1 of 3 checks failed");
        p.restore_problems.push("auth has 2 replicas, not 1".into());
        assert_eq!(p.summary(), "failed: 1 of 3 checks failed; not restored: auth has 2 replicas, not 1");
        let mut p = progress(&[], true);
        p.state = p.verdict(false);
        assert_eq!(p.summary(), "broken: step `s`: auth was not ready within 30 s");
    }
}
