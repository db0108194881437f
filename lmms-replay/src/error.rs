//! What can be wrong with a trace file, and where.

use std::fmt;
use std::path::PathBuf;

/// A trace that cannot be read: the file, and the line and column when a row is at fault.
/// Nothing after a malformed row is read: a replay is of the whole trace or of nothing.
///
/// ```
/// let error = lmms_replay::azure2021::read(std::path::Path::new("/no/such/trace.csv"))
///     .unwrap_err();
/// assert!(error.to_string().starts_with("/no/such/trace.csv: "));
/// ```
#[derive(Debug)]
pub struct TraceError {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1 (0 when the file as a whole is at fault).
    pub line: u64,
    /// The column, from 1 (0 when the row as a whole is at fault).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl TraceError {
    pub(crate) fn new(
        file: &std::path::Path,
        line: u64,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        TraceError {
            file: file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error of the csv reader, at the position it reports.
    pub(crate) fn csv(file: &std::path::Path, error: &csv::Error) -> Self {
        let line = error.position().map_or(0, csv::Position::line);
        TraceError::new(file, line, 0, error.to_string())
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (line, 0) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            (line, column) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.file.display(),
                self.message
            ),
        }
    }
}

impl std::error::Error for TraceError {}
