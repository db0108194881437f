//! The two trace formats on small files: good rows, every malformed case, the spreading rule.

use lmms_replay::{azure2019, azure2021};
use std::path::{Path, PathBuf};

fn dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmms-replay-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

const MEM: &str = "HashApp,HashOwner,SampleCount,AverageAllocatedMb\na1,o,10,128\n";
const RUN: &str = "HashFunction,HashApp,HashOwner,Count,Average\nf1,a1,o,3,250\n";

#[test]
fn the_2019_format_keeps_every_minute_s_count() {
    let inv = "HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3\nf1,a1,o,3,0,60000\n";
    let trace = azure2019::read(
        &dir(
            "good",
            &[("mem.csv", MEM), ("run.csv", RUN), ("inv.csv", inv)],
        ),
        7,
    )
    .unwrap();
    assert_eq!(trace.apps[0].memory_mb, Some(128.0));
    assert_eq!(trace.invocations.len(), 60_003);
    let in_minute = |m: u64| {
        trace
            .invocations
            .iter()
            .filter(|i| i.at_ms / 60_000 == m)
            .count()
    };
    assert_eq!((in_minute(0), in_minute(1), in_minute(2)), (3, 0, 60_000));
    assert!(trace.invocations.iter().all(|i| i.duration_ms == 250));
    assert!(trace
        .invocations
        .windows(2)
        .all(|w| w[0].at_ms <= w[1].at_ms));
    // The same seed, the same replay; another seed, other arrival times.
    let again = azure2019::read(&dir("good", &[]), 7).unwrap();
    assert_eq!(again, trace);
    let other = azure2019::read(&dir("good", &[]), 8).unwrap();
    assert_ne!(other.invocations, trace.invocations);
}

#[test]
fn the_spreading_rule_puts_one_arrival_in_each_slot() {
    let mut arrivals = Vec::new();
    azure2019::spread(2, 4, 99, |at| arrivals.push(at));
    assert_eq!(arrivals.len(), 4);
    for (i, at) in arrivals.iter().enumerate() {
        let slot = 120_000 + i as u64 * 15_000;
        assert!((slot..slot + 15_000).contains(at), "arrival {i} at {at}");
    }
}

fn error_2019(inv: &str, mem: &str, run: &str) -> String {
    let dir = dir(
        &format!("bad{}", inv.len() + mem.len() + run.len()),
        &[("mem.csv", mem), ("run.csv", run), ("inv.csv", inv)],
    );
    let error = azure2019::read(&dir, 1).unwrap_err().to_string();
    error.replace(
        &format!("{}{}", dir.display(), std::path::MAIN_SEPARATOR),
        "",
    )
}

#[test]
fn every_malformed_2019_row_names_its_file_line_and_column() {
    let header = "HashFunction,HashApp,HashOwner,minute_1,minute_2\n";
    assert_eq!(
        error_2019(&format!("{header}f1,a1,o,3,x\n"), MEM, RUN),
        "inv.csv:2:5: `x` is not an invocation count"
    );
    assert_eq!(
        error_2019(&format!("{header}f1,a1,o,3,-1\n"), MEM, RUN),
        "inv.csv:2:5: `-1` is not an invocation count"
    );
    assert_eq!(
        error_2019(&format!("{header}f2,a1,o,3,1\n"), MEM, RUN),
        "inv.csv:2:1: function `f2` has no row in run.csv"
    );
    assert_eq!(
        error_2019(&format!("{header}f1,a1\n"), MEM, RUN),
        "inv.csv:2:3: 2 fields where the header has 5: the row stops short"
    );
    assert_eq!(
        error_2019(
            &format!("{header}f1,a1,o,1,1\n"),
            "HashApp,HashOwner,SampleCount,AverageAllocatedMb\na1,o,10,lots\n",
            RUN
        ),
        "mem.csv:2:4: `lots` is not a memory size in MB (AverageAllocatedMb)"
    );
    assert_eq!(
        error_2019(
            &format!("{header}f1,a1,o,1,1\n"),
            MEM,
            "HashFunction,HashApp,HashOwner,Count\nf1,a1,o,3\n"
        ),
        "run.csv:2:5: missing field: expected an execution time in ms (Average)"
    );
    let missing = azure2019::read(Path::new("/no/such/dir"), 1)
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("/no/such/dir: no such directory"),
        "{missing}"
    );
}

#[test]
fn a_trace_cut_short_is_refused_where_it_stops() {
    let header = "HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3\n";
    // Cut in the middle of a row, after a digit: the file ends inside the line.
    let cut = format!("{header}f1,a1,o,3,0,60000\nf2,a1,o,4,1");
    let run = "HashFunction,HashApp,HashOwner,Count,Average\nf1,a1,o,3,250\nf2,a1,o,4,10\n";
    assert_eq!(
        error_2019(&cut, MEM, run),
        "inv.csv:3: the file ends inside this line: it was cut short (a trace file ends with a newline)"
    );
    // A row shorter than its header, the file otherwise whole.
    let short = format!("{header}f1,a1,o,3,0,60000\nf2,a1,o,4,1\n");
    assert_eq!(
        error_2019(&short, MEM, run),
        "inv.csv:3:6: 5 fields where the header has 6: the row stops short"
    );
    // A file where the directory was expected, and the other way round.
    let file = dir(
        "a-file",
        &[("trace.csv", "app,func,end_timestamp,duration\n")],
    );
    let not_dir = azure2019::read(&file.join("trace.csv"), 1)
        .unwrap_err()
        .to_string();
    assert!(not_dir.ends_with("trace.csv: not a directory: the 2019 trace is a directory holding inv.csv, run.csv and mem.csv"), "{not_dir}");
    let not_file = azure2021::read(&file).unwrap_err().to_string();
    assert!(
        not_file.ends_with(": a directory, where a CSV file was expected"),
        "{not_file}"
    );
}

#[test]
fn the_2021_format_and_its_malformed_rows() {
    let header = "app,func,end_timestamp,duration\n";
    let good = dir(
        "2021",
        &[(
            "trace.csv",
            &format!("{header}a,f,5.0,1.0\nb,f,3.0,0.5\na,f,9.0,2.0\n"),
        )],
    );
    let trace = azure2021::read(&good.join("trace.csv")).unwrap();
    assert_eq!((trace.apps.len(), trace.functions.len()), (2, 2));
    let starts: Vec<u64> = trace.invocations.iter().map(|i| i.at_ms).collect();
    assert_eq!(starts, [0, 1_500, 4_500]);
    for (row, message) in [
        (
            "a,f,x,1.0",
            "trace.csv:2:3: `x` is not an end time in seconds",
        ),
        (
            "a,f,5.0",
            "trace.csv:2:4: 3 fields where the header has 4: the row stops short",
        ),
        (
            "a,f,1.0,2.0",
            "trace.csv:2:4: duration 2 s does not fit before the end time 1 s",
        ),
        (
            "a,f,1.0,-1",
            "trace.csv:2:4: duration -1 s does not fit before the end time 1 s",
        ),
    ] {
        let bad = dir(
            &format!("2021bad{}", row.len()),
            &[("trace.csv", &format!("{header}{row}\n"))],
        );
        let error = azure2021::read(&bad.join("trace.csv"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error.replace(
                &format!("{}{}", bad.display(), std::path::MAIN_SEPARATOR),
                ""
            ),
            message
        );
    }
}

#[test]
fn a_trace_with_no_invocations_is_an_error_that_says_so() {
    let empty = dir(
        "empty2021",
        &[("trace.csv", "app,func,end_timestamp,duration\n")],
    );
    let error = azure2021::read(&empty.join("trace.csv"))
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("trace.csv: the trace has no invocations"),
        "{error}"
    );
    let blank = dir("blank2021", &[("trace.csv", "")]);
    let error = azure2021::read(&blank.join("trace.csv"))
        .unwrap_err()
        .to_string();
    assert!(error.ends_with("the trace has no invocations"), "{error}");
    let inv = "HashFunction,HashApp,HashOwner,minute_1\nf1,a1,o,0\n";
    assert_eq!(
        error_2019(inv, MEM, RUN),
        "inv.csv: the trace has no invocations"
    );
}

#[test]
fn an_unbalanced_quote_gives_a_short_error() {
    let mut inv = String::from("HashFunction,HashApp,HashOwner,minute_1\nf1,a1,o,\"3\n");
    for _ in 0..20_000 {
        inv += "f1,a1,o,3\n";
    }
    let error = error_2019(&inv, MEM, RUN);
    assert!(
        error.len() < 300,
        "{} bytes: {}",
        error.len(),
        &error[..300]
    );
    assert!(error.starts_with("inv.csv:2:4: "), "{error}");
    assert!(error.contains("unbalanced quote"), "{error}");
}

#[test]
fn a_count_no_machine_could_replay_is_refused_before_it_is_spread() {
    let inv = "HashFunction,HashApp,HashOwner,minute_1\nf1,a1,o,10000000000\n";
    assert_eq!(
        error_2019(inv, MEM, RUN),
        "inv.csv:2:4: 10000000000 invocations in one minute: more than one a microsecond (60000000), which no replay can hold"
    );
}

#[test]
fn what_the_2019_format_lacks_or_repeats_is_said() {
    let inv = "HashFunction,HashApp,HashOwner,minute_1\nf1,a1,o,1\nf1,a1,o,2\nf2,a2,o,1\n";
    let run = "HashFunction,HashApp,HashOwner,Count,Average\nf1,a1,o,3,250\nf2,a2,o,1,10\n";
    let dir = dir(
        "notes2019",
        &[("mem.csv", MEM), ("run.csv", run), ("inv.csv", inv)],
    );
    let trace = azure2019::read(&dir, 1).unwrap();
    assert_eq!(
        trace.notes,
        [
            "inv.csv:3: function `f1` has a second row; its counts are added to the first's",
            "app `a2` has no row in mem.csv: taken as 128 MB",
        ]
    );
    assert_eq!(trace.functions.len(), 2);
    assert_eq!(trace.invocations.len(), 4);
}
