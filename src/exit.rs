//! Exit codes, as documented in the README.

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Everything worked.
    Success = 0,
    /// The command finished, but some files failed.
    SomeFailed = 1,
    /// Bad arguments, profile or output folder: nothing was done.
    Usage = 2,
    /// The run stopped because DEST could not be written (full disk,
    /// quota, read-only): what was written is kept, `--resume` finishes.
    WriteFailed = 3,
    /// Stopped by Ctrl-C (or SIGTERM) before every file was done.
    Interrupted = 130,
}

impl ExitCode {
    /// The worse of two outcomes.
    pub fn merge(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        code as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_worst() {
        assert_eq!(
            ExitCode::Success.merge(ExitCode::SomeFailed),
            ExitCode::SomeFailed
        );
        assert_eq!(ExitCode::Usage.merge(ExitCode::SomeFailed), ExitCode::Usage);
        assert_eq!(
            ExitCode::Success.merge(ExitCode::Success),
            ExitCode::Success
        );
    }
}
