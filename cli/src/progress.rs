//! Progress of a run on the terminal: a bar of generations and a live count of evaluations
//! (with their rate), drawn on stderr only when it is a terminal, with the run's event lines
//! printed above them. Never drawn with `--json` or `--quiet`, and never on stdout.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use selfharness_coordinator::RunEvent;

pub struct Progress {
    multi: MultiProgress,
    generations: ProgressBar,
    evaluations: ProgressBar,
}

impl Progress {
    /// Bars for a run of `generations`; hidden unless `show` and stderr is a terminal.
    pub fn new(generations: u32, show: bool) -> Progress {
        let target = if show && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let generations = multi.add(ProgressBar::new(u64::from(generations.max(1))));
        generations.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        generations.set_prefix("generations");
        generations.set_message("starting");
        let evaluations = multi.add(ProgressBar::new_spinner());
        evaluations.set_style(
            ProgressStyle::with_template("{prefix:>12} {spinner} {pos} done, {per_sec}")
                .expect("a valid template"),
        );
        evaluations.set_prefix("evaluations");
        evaluations.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress {
            multi,
            generations,
            evaluations,
        }
    }

    /// Follow the run's stage from its events.
    pub fn event(&self, e: &RunEvent) {
        let stage = match e {
            RunEvent::GenerationStarted { generation, .. } => {
                self.generations.set_position(u64::from(*generation - 1));
                format!("generation {generation}: mining the champion's traces")
            }
            RunEvent::Mined { generation, .. } => format!("generation {generation}: proposing"),
            RunEvent::Proposed { generation, .. } => {
                format!("generation {generation}: validating against the champion")
            }
            RunEvent::Advanced { generation, .. }
            | RunEvent::NoAdvance { generation }
            | RunEvent::StageFailed { generation, .. } => {
                self.generations.set_position(u64::from(*generation));
                format!("generation {generation} done")
            }
            RunEvent::Stopped { .. } => {
                self.generations
                    .set_position(self.generations.length().unwrap_or(0));
                "final scoring (test split unsealed) and ablation".into()
            }
            _ => return,
        };
        self.generations.set_message(stage);
    }

    /// One more evaluation landed.
    pub fn evaluated(&self) {
        self.evaluations.inc(1);
    }

    /// Print `line` above the bars (plainly when they are hidden).
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Remove the bars.
    pub fn finish(&self) {
        self.generations.finish_and_clear();
        self.evaluations.finish_and_clear();
    }
}
