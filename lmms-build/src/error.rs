//! What can stop the build script, each problem with its file and line.

use std::fmt;
use std::path::PathBuf;

/// One problem in the crate's sources, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the manifest directory.
    pub file: String,
    /// The line, from 1 (0 when the problem is the whole file).
    pub line: usize,
    /// The column, from 1 (0 when unknown).
    pub column: usize,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(file: String, line: usize, column: usize, message: String) -> Self {
        Problem {
            file,
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message),
            (line, 0) => write!(f, "{}:{line}: {}", self.file, self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
        }
    }
}

/// Why the registry was not generated.
///
/// Its `Debug` is its `Display`, so `lmms_build::generate().unwrap()` in a build script
/// prints the problems as they are meant to be read.
///
/// ```
/// let dir = std::env::temp_dir().join("lmms-build-doc-error");
/// std::fs::create_dir_all(dir.join("src")).unwrap();
/// std::fs::write(dir.join("src/lib.rs"), "#[lmms::operation(cache_ttl = \"5 parsecs\")]\nfn f() {}\n").unwrap();
/// let error = lmms_build::Builder::new(&dir).scan().unwrap_err();
/// assert!(error.to_string().contains("src/lib.rs:1:31: `5 parsecs` is not a duration"), "{error}");
/// ```
#[non_exhaustive]
pub enum Error {
    /// A variable Cargo sets for build scripts is missing: not run by Cargo?
    Env(&'static str),
    /// No `src/lib.rs` or `src/main.rs`, and no root given.
    NoRoot(PathBuf),
    /// Writing the generated files failed.
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The sources have problems: attributes the macros would reject, an operation
    /// defined twice, a file that does not parse. All of them, in source order.
    Source(Vec<Problem>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Env(name) => write!(
                f,
                "the environment variable `{name}` is not set: run lmms-build from a build script, or give the paths to `Builder`"
            ),
            Error::NoRoot(dir) => write!(
                f,
                "neither src/lib.rs nor src/main.rs exists in {}: give the crate's root file with `Builder::root`",
                dir.display()
            ),
            Error::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            Error::Source(problems) => {
                let s = if problems.len() == 1 { "" } else { "s" };
                write!(f, "lmms-build found {} problem{s}:", problems.len())?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Write { source, .. } => Some(source),
            _ => None,
        }
    }
}
