//! The Azure Functions 2019 format: `inv.csv` (invocations per minute of one day),
//! `run.csv` (execution times) and `mem.csv` (memory per app), in one directory.
//!
//! The trace gives counts per minute, not times: the arrivals of a minute are spread by a
//! seeded rule — the minute is cut into as many equal slots as it has invocations, and each
//! arrival falls at a uniformly drawn point of its own slot — so a minute's count is kept
//! exactly, arrivals never bunch more than the count says, and the same seed gives the same
//! replay. Each invocation runs for its function's average execution time (`run.csv`).

use crate::error::TraceError;
use crate::trace::{App, Function, Invocation, Trace};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

const MINUTE_MS: u64 = 60_000;
/// The most invocations a minute can have: one a microsecond. A count above it is no trace
/// a machine could replay, and is refused before anything is spread.
pub const MAX_PER_MINUTE: u64 = 60_000_000;

/// Reads the trace in `dir`, spreading each minute's arrivals with `seed`.
///
/// ```
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/azure2019-100");
/// let trace = lmms_replay::azure2019::read(&dir, 1)?;
/// assert!(trace.apps.iter().all(|app| app.memory_mb.is_some()));
/// # Ok::<(), lmms_replay::TraceError>(())
/// ```
pub fn read(dir: &Path, seed: u64) -> Result<Trace, TraceError> {
    if !dir.is_dir() {
        let why = if dir.exists() {
            "not a directory: the 2019 trace is a directory holding inv.csv, run.csv and mem.csv"
        } else {
            "no such directory: the 2019 trace is a directory holding inv.csv, run.csv and mem.csv"
        };
        return Err(TraceError::new(dir, 0, 0, why));
    }
    let memory = read_memory(&dir.join("mem.csv"))?;
    let durations = read_durations(&dir.join("run.csv"))?;
    let path = dir.join("inv.csv");
    let mut trace = Trace::default();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for record in rows(&path)? {
        let (record, line) = record?;
        if record.len() < 4 {
            return Err(TraceError::new(
                &path,
                line,
                0,
                format!(
                    "{} fields; a row is `HashFunction,HashApp,HashOwner` and a count per minute",
                    record.len()
                ),
            ));
        }
        let name = &record[0];
        let app = trace.app(&record[1]);
        trace.apps[app].memory_mb = memory
            .get(&record[1])
            .copied()
            .or(trace.apps[app].memory_mb);
        let Some(&duration_ms) = durations.get(name) else {
            return Err(TraceError::new(
                &path,
                line,
                1,
                format!("function `{name}` has no row in run.csv"),
            ));
        };
        let function = match by_name.get(name) {
            Some(&first) => {
                trace.notes.push(format!(
                    "{}:{line}: function `{name}` has a second row; its counts are added to the first's",
                    path.file_name().map_or(path.as_os_str(), |f| f).to_string_lossy()
                ));
                first
            }
            None => {
                trace.functions.push(Function {
                    name: name.to_owned(),
                    app,
                });
                by_name.insert(name.to_owned(), trace.functions.len() - 1);
                trace.functions.len() - 1
            }
        };
        for column in 3..record.len() {
            let count: u64 = field(&path, &record, line, column, "an invocation count")?;
            if count > MAX_PER_MINUTE {
                return Err(TraceError::new(
                    &path,
                    line,
                    column + 1,
                    format!(
                        "{count} invocations in one minute: more than one a microsecond ({MAX_PER_MINUTE}), which no replay can hold"
                    ),
                ));
            }
            let minute = (column - 3) as u64;
            spread(minute, count, seed ^ (function as u64) << 20, |at_ms| {
                trace.invocations.push(Invocation {
                    at_ms,
                    function,
                    duration_ms,
                });
            });
        }
    }
    if trace.invocations.is_empty() {
        return Err(TraceError::new(&path, 0, 0, "the trace has no invocations"));
    }
    for app in trace.apps.iter().filter(|app| app.memory_mb.is_none()) {
        trace.notes.push(format!(
            "app `{}` has no row in mem.csv: taken as {} MB",
            app.name,
            App::DEFAULT_MB
        ));
    }
    trace.invocations.sort_by_key(|invocation| invocation.at_ms);
    Ok(trace)
}

/// The arrivals of `count` invocations in `minute`: one per equal slot of the minute, at a
/// seeded uniform point of it.
pub fn spread(minute: u64, count: u64, seed: u64, mut arrive: impl FnMut(u64)) {
    if count == 0 {
        return;
    }
    let mut rng = SplitMix(seed ^ minute.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for i in 0..count {
        let (start, end) = (i * MINUTE_MS / count, (i + 1) * MINUTE_MS / count);
        arrive(minute * MINUTE_MS + start + rng.next() % (end - start).max(1));
    }
}

/// SplitMix64: small, seeded, and the same everywhere.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn read_memory(path: &Path) -> Result<HashMap<String, f64>, TraceError> {
    let mut memory = HashMap::new();
    for record in rows(path)? {
        let (record, line) = record?;
        let mb: f64 = field(
            path,
            &record,
            line,
            3,
            "a memory size in MB (AverageAllocatedMb)",
        )?;
        memory.insert(record[0].to_owned(), mb);
    }
    Ok(memory)
}

fn read_durations(path: &Path) -> Result<HashMap<String, u64>, TraceError> {
    let mut durations = HashMap::new();
    for record in rows(path)? {
        let (record, line) = record?;
        let ms: f64 = field(path, &record, line, 4, "an execution time in ms (Average)")?;
        durations.insert(record[0].to_owned(), ms.max(0.0).round() as u64);
    }
    Ok(durations)
}

/// The rows of a CSV file with a header, each with its line number. A file that is not
/// one (a directory), that ends inside a line, or a row shorter than the header is an
/// error naming the file and line: a trace cut short would otherwise replay as a shorter
/// day without a word.
pub(crate) fn rows(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(csv::StringRecord, u64), TraceError>> + '_, TraceError> {
    if path.is_dir() {
        return Err(TraceError::new(
            path,
            0,
            0,
            "a directory, where a CSV file was expected",
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|error| TraceError::new(path, 0, 0, error.to_string()))?;
    if bytes.last().is_some_and(|&last| last != b'\n') {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        return Err(TraceError::new(
            path,
            lines,
            0,
            "the file ends inside this line: it was cut short (a trace file ends with a newline)",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::Cursor::new(bytes));
    let header = reader
        .headers()
        .map_err(|error| TraceError::csv(path, &error))?
        .len();
    Ok(reader.into_records().map(move |record| {
        let record = record.map_err(|error| TraceError::csv(path, &error))?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() < header {
            return Err(TraceError::new(
                path,
                line,
                record.len() + 1,
                format!(
                    "{} fields where the header has {header}: the row stops short",
                    record.len()
                ),
            ));
        }
        Ok((record, line))
    }))
}

/// Field `column` (from 0) of a row, parsed; an error names its line and column.
pub(crate) fn field<T: FromStr>(
    path: &Path,
    record: &csv::StringRecord,
    line: u64,
    column: usize,
    what: &str,
) -> Result<T, TraceError> {
    let Some(text) = record.get(column) else {
        return Err(TraceError::new(
            path,
            line,
            column + 1,
            format!("missing field: expected {what}"),
        ));
    };
    text.trim()
        .parse()
        .map_err(|_| TraceError::new(path, line, column + 1, not_a(text, what)))
}

/// "`text` is not `what`", with a long field cut short: an unbalanced quote makes the
/// rest of the file one field, which is no message.
fn not_a(text: &str, what: &str) -> String {
    const SHOWN: usize = 40;
    let lines = text.lines().count();
    if text.len() <= SHOWN && lines <= 1 {
        return format!("`{text}` is not {what}");
    }
    let head: String = text
        .chars()
        .take(SHOWN)
        .collect::<String>()
        .replace('\n', "\\n");
    let quote = if lines > 1 {
        format!(" (it runs over {lines} lines: an unbalanced quote?)")
    } else {
        String::new()
    };
    format!("`{head}…` is not {what}{quote}")
}
