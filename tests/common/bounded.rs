//! Runs of the binary with a time bound and captured output, for tests that
//! time or kill commands (fault injection, crash tests).

use serde_json::Value;
use std::process::ExitStatus;
use std::time::Duration;

/// No command of a test may run longer than this.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The outcome of a bounded run.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Stdout as JSON (the test fails, showing both streams, if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Fails the test, naming `what`, unless the run succeeded.
    pub fn ok(self, what: &str) -> Run {
        assert!(
            self.status.success(),
            "{what} failed ({}):\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}
