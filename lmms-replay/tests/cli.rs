//! The `lmms-replay` binary end to end: a small trace in each format, and a malformed one.

use std::path::PathBuf;
use std::process::{Command, Output};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmms-replay"))
        .args(args)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmms-replay-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small 2021-format trace, replayed with `extra` arguments, its charts in a scratch
/// directory: the output, its stdout, and where the charts went.
fn replay_2021(name: &str, extra: &[&str]) -> (Output, String, PathBuf) {
    let path = a_2021_trace(name);
    let out = scratch(&format!("{name}-charts"));
    let mut args = vec![
        "--format",
        "azure2021",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = replay(&args);
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    (output, stdout, out)
}

#[test]
fn a_2021_trace_gives_a_table_per_policy_and_both_charts() {
    let (output, stdout, out) = replay_2021("2021", &[]);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("2 apps, 2 functions, 34 invocations"),
        "{stdout}"
    );
    for policy in ["eager", "fixed 30 s", "fixed 10 min", "LRU", "adaptive"] {
        assert!(
            stdout.lines().any(|line| line.starts_with(policy)),
            "{policy} in {stdout}"
        );
    }
    let pareto = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    for label in ["offline optimum", "eager", "fixed 30 s", "adaptive"] {
        assert!(pareto.contains(label), "{label} in the Pareto chart");
    }
    let resident = std::fs::read_to_string(out.join("resident.svg")).unwrap();
    assert!(resident.contains("resident MB"));
    assert!(
        !resident.contains(">eager<"),
        "eager is the baseline, not among the best"
    );
}

#[test]
fn a_malformed_trace_is_an_error_naming_file_line_and_column() {
    let dir = scratch("bad");
    let path = dir.join("trace.csv");
    std::fs::write(
        &path,
        "app,func,end_timestamp,duration\na,f,10,1\na,f,soon,1\n",
    )
    .unwrap();
    let output = replay(&["--format", "azure2021", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("trace.csv:3:3"), "{stderr}");
    assert!(stderr.contains("soon"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing replayed");
}

#[test]
fn a_missing_trace_is_an_error_not_a_panic() {
    let output = replay(&["/no/such/trace"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("/no/such/trace"), "{stderr}");
}

#[test]
fn a_price_budget_or_scale_out_of_range_is_refused_naming_the_option() {
    for (option, value) in [
        ("--load-cost", "-5"),
        ("--load-cost", "NaN"),
        ("--budget", "0"),
        ("--scale", "0"),
    ] {
        let output = replay(&[&format!("{option}={value}"), "/no/such/trace"]);
        assert_eq!(output.status.code(), Some(2), "{option} {value}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(option) && stderr.contains(value),
            "{stderr}"
        );
    }
}

fn a_2021_trace(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut rows = String::from("app,func,end_timestamp,duration\n");
    // One app every 5 minutes for two hours, another every minute for ten.
    for i in 0..24 {
        rows += &format!("report,nightly,{}.5,0.5\n", 300 * i + 1);
    }
    for i in 0..10 {
        rows += &format!("shop,checkout,{}.2,0.2\n", 60 * i + 1);
    }
    let path = dir.join("trace.csv");
    std::fs::write(&path, rows).unwrap();
    path
}

#[test]
fn a_2021_file_read_as_2019_says_which_option_to_pass() {
    let path = a_2021_trace("hint");
    let output = replay(&[path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("is a file, and the azure2019 format is a directory of inv.csv, run.csv and mem.csv: for one CSV of `app,func,end_timestamp,duration` rows, pass `--format azure2021`"),
        "{stderr}"
    );
}

#[test]
fn the_2021_format_s_memory_is_said_to_be_assumed() {
    let (output, stdout, _) = replay_2021("memory", &[]);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("note: 2 apps have no memory in the trace: each is taken as 128 MB"),
        "{stdout}"
    );
}

#[test]
fn a_scale_that_would_not_fit_in_memory_is_refused_before_allocating() {
    let (output, _, _) = replay_2021("scale", &["--scale", "1000000000"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--scale 1000000000 would allocate"),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty() || !String::from_utf8_lossy(&output.stdout).contains("÷ optimum")
    );
}

#[test]
fn a_verdict_of_dominance_is_pareto_dominance_and_a_trade_says_both_ratios() {
    let (output, stdout, out) =
        replay_2021("verdicts", &["--load-cost", "1e2,1e3,1e4,1e5,1e6,1e7,1e8"]);
    assert!(output.status.success(), "{stdout}");
    for line in stdout.lines().filter(|line| line.contains(" ÷ fixed ")) {
        let ratio = |what: &str| -> f64 {
            let at = line.find(what).unwrap() + what.len();
            line[at..]
                .split('×')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let (loads, idle) = (ratio("loads "), ratio("idle MB-s "));
        let dominates = loads < 1.0 && idle < 1.0;
        let weakly = loads <= 1.0 && idle <= 1.0 && (loads < 1.0 || idle < 1.0) && !dominates;
        assert_eq!(line.ends_with("— dominates"), dominates, "{line}");
        assert_eq!(line.ends_with("— weakly dominates"), weakly, "{line}");
    }
    // All nine policies are in the Pareto chart, each in the colour it has in the other.
    let pareto = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    for cost in ["1.0e2", "1.0e8"] {
        assert!(
            pareto.contains(&format!("adaptive, load = {cost} MB-s")),
            "{cost}"
        );
    }
}

#[test]
fn folds_choose_the_price_on_the_rest_and_judge_each_part_held_out() {
    let (output, stdout, _) = replay_2021("folds", &["--folds", "2"]);
    assert!(output.status.success(), "{stdout}");
    for part in [
        "fold 1 of 2 (1 apps held out): price",
        "fold 2 of 2 (1 apps held out): price",
        "second half, chosen on the first: price",
        "first half, chosen on the second: price",
    ] {
        assert!(stdout.contains(part), "{part} in {stdout}");
    }
    // Each part: the chosen price and break-evens, the default and the default before
    // issue 32 with and without pre-warming, and the hybrid histogram against the fixed
    // policies; and whether any keep-alive could dominate both.
    let verdicts = |learned: &str| {
        stdout
            .lines()
            .filter(|line| line.starts_with(learned) && line.contains("÷ fixed 30 s: "))
            .count()
    };
    for learned in [
        "  adaptive, load = ",
        "  adaptive, break-even ",
        "  adaptive, mean size's break-even ",
        "  adaptive, default ÷ ",
        "  adaptive, default, pre-warm 25% ÷ ",
        "  adaptive, default before issue 32 ÷ ",
        "  adaptive, default before issue 32, pre-warm 25% ÷ ",
        "  hybrid histogram ÷ ",
    ] {
        assert_eq!(verdicts(learned), 4, "{learned} in {stdout}");
    }
    // A run that pre-warmed is judged on the request path too (the four policies that
    // can, on each part where they did).
    assert!(
        (1..=16).contains(&verdicts("    on the request path ÷ ")),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("keep-alive policy can dominate both here")
            .count(),
        4,
        "{stdout}"
    );
    let refused = replay(&["--folds", "1", "/no/such/trace"]);
    assert_eq!(refused.status.code(), Some(2), "one fold holds nothing out");
}

#[test]
fn an_unwritable_out_is_refused_before_the_replay_naming_it() {
    // A file where the charts' folder should be: nothing can be written under it.
    let blocker = scratch("blocked").join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let out = blocker.join("charts");
    let trace = a_2021_trace("unwritable");
    let output = replay(&[
        "--format",
        "azure2021",
        trace.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}: the charts cannot be written there (--out)",
            out.display()
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        !stdout.contains("invocations over"),
        "the trace was read first: {stdout}"
    );
}
