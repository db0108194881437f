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

#[test]
fn a_2021_trace_gives_a_table_per_policy_and_both_charts() {
    let dir = scratch("2021");
    let mut rows = String::from("app,func,end_timestamp,duration\n");
    // One app every 5 minutes for two hours, another every minute for ten.
    for i in 0..24 {
        rows += &format!("report,nightly,{}.5,0.5\n", 300 * i + 1);
    }
    for i in 0..10 {
        rows += &format!("shop,checkout,{}.2,0.2\n", 60 * i + 1);
    }
    std::fs::write(dir.join("trace.csv"), rows).unwrap();
    let out = dir.join("charts");
    let output = replay(&[
        "--format",
        "azure2021",
        dir.join("trace.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
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
