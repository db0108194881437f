//! The Azure Functions 2021 format: one row per invocation, `app,func,end_timestamp,duration`
//! (seconds, with a header).

use crate::azure2019::{field, rows};
use crate::error::TraceError;
use crate::trace::{App, Function, Invocation, Trace};
use std::collections::HashMap;
use std::path::Path;

/// Reads the trace in `path`; times are made relative to its first start.
///
/// ```
/// let dir = tempfile_dir();
/// let path = dir.join("trace.csv");
/// std::fs::write(&path, "app,func,end_timestamp,duration\na,f,10.5,0.5\na,g,12.0,1.0\n").unwrap();
/// let trace = lmms_replay::azure2021::read(&path)?;
/// assert_eq!((trace.apps.len(), trace.functions.len()), (1, 2));
/// assert_eq!(trace.invocations[1].at_ms, 1_000);
/// # fn tempfile_dir() -> std::path::PathBuf {
/// #     let dir = std::env::temp_dir().join("lmms-replay-doc-2021");
/// #     std::fs::create_dir_all(&dir).unwrap();
/// #     dir
/// # }
/// # Ok::<(), lmms_replay::TraceError>(())
/// ```
pub fn read(path: &Path) -> Result<Trace, TraceError> {
    let mut trace = Trace::default();
    let mut functions: HashMap<(String, String), usize> = HashMap::new();
    let mut starts = Vec::new();
    for record in rows(path)? {
        let (record, line) = record?;
        if record.len() != 4 {
            return Err(TraceError::new(
                path,
                line,
                0,
                format!(
                    "{} fields; a row is `app,func,end_timestamp,duration`",
                    record.len()
                ),
            ));
        }
        let end: f64 = field(path, &record, line, 2, "an end time in seconds")?;
        let duration: f64 = field(path, &record, line, 3, "a duration in seconds")?;
        if !(end.is_finite() && duration.is_finite() && duration >= 0.0 && end >= duration) {
            return Err(TraceError::new(
                path,
                line,
                4,
                format!("duration {duration} s does not fit before the end time {end} s"),
            ));
        }
        let key = (record[0].to_owned(), record[1].to_owned());
        let function = match functions.get(&key) {
            Some(&index) => index,
            None => {
                let app = trace.app(&key.0);
                trace.functions.push(Function {
                    name: key.1.clone(),
                    app,
                });
                functions.insert(key, trace.functions.len() - 1);
                trace.functions.len() - 1
            }
        };
        starts.push((
            (end - duration) * 1000.0,
            function,
            (duration * 1000.0).round() as u64,
        ));
    }
    if starts.is_empty() {
        return Err(TraceError::new(path, 0, 0, "the trace has no invocations"));
    }
    trace.notes.push(format!(
        "{} apps have no memory in the trace: each is taken as {} MB",
        trace.apps.len(),
        App::DEFAULT_MB
    ));
    let first = starts.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    trace.invocations = starts
        .into_iter()
        .map(|(start, function, duration_ms)| Invocation {
            at_ms: (start - first).round() as u64,
            function,
            duration_ms,
        })
        .collect();
    trace.invocations.sort_by_key(|invocation| invocation.at_ms);
    Ok(trace)
}
