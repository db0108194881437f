//! CloudWatch's Embedded Metric Format specification, as a check of one line: every rule of
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! a line can break, each violation said in words.

use serde_json::{Map, Value};

/// The units a metric definition may name.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The spec's limits: a log event's size, dimensions per set, metrics per directive,
/// values per metric, a name's length.
const MAX_EVENT_BYTES: usize = 256 * 1024;
const MAX_DIMENSIONS: usize = 30;
const MAX_METRICS: usize = 100;
const MAX_VALUES: usize = 100;
const MAX_NAME: usize = 1024;

/// The violations of `line`; empty when it is a valid EMF document.
pub fn violations(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    if line.len() > MAX_EVENT_BYTES {
        found.push(format!(
            "{} bytes, over the log event's {MAX_EVENT_BYTES}",
            line.len()
        ));
    }
    if line.contains('\n') {
        found.push("a document must be one log event: one line".into());
    }
    let root: Value = match serde_json::from_str(line) {
        Ok(root) => root,
        Err(error) => return vec![format!("not JSON: {error}")],
    };
    let Some(root) = root.as_object() else {
        return vec!["the root must be an object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["the root must have an `_aws` object".into()];
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.is_u64() => {}
        other => found.push(format!(
            "_aws.Timestamp must be milliseconds since the epoch, not {other:?}"
        )),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        found.push("_aws.CloudWatchMetrics must be an array".into());
        return found;
    };
    for (i, directive) in directives.iter().enumerate() {
        check_directive(
            root,
            directive,
            &format!("CloudWatchMetrics[{i}]"),
            &mut found,
        );
    }
    found
}

fn check_directive(
    root: &Map<String, Value>,
    directive: &Value,
    at: &str,
    found: &mut Vec<String>,
) {
    let Some(directive) = directive.as_object() else {
        found.push(format!("{at} must be an object"));
        return;
    };
    match directive.get("Namespace").and_then(Value::as_str) {
        Some(namespace) if valid_name(namespace) => {}
        other => found.push(format!(
            "{at}.Namespace must be a name of 1 to {MAX_NAME} characters, not {other:?}"
        )),
    }
    match directive.get("Dimensions").and_then(Value::as_array) {
        None => found.push(format!(
            "{at}.Dimensions must be an array of dimension sets"
        )),
        Some(sets) => {
            for (j, set) in sets.iter().enumerate() {
                let Some(keys) = set.as_array() else {
                    found.push(format!("{at}.Dimensions[{j}] must be an array"));
                    continue;
                };
                if keys.len() > MAX_DIMENSIONS {
                    found.push(format!(
                        "{at}.Dimensions[{j}] has {} dimensions, over {MAX_DIMENSIONS}",
                        keys.len()
                    ));
                }
                for key in keys {
                    match key.as_str().map(|key| (key, root.get(key))) {
                        Some((_, Some(Value::String(value)))) if valid_name(value) => {}
                        _ => found.push(format!("{at}.Dimensions[{j}]: {key} must name a root member whose value is a string of 1 to {MAX_NAME} characters")),
                    }
                }
            }
        }
    }
    let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
        found.push(format!(
            "{at}.Metrics must be an array of metric definitions"
        ));
        return;
    };
    if metrics.len() > MAX_METRICS {
        found.push(format!(
            "{at}.Metrics has {} definitions, over {MAX_METRICS}",
            metrics.len()
        ));
    }
    for (k, metric) in metrics.iter().enumerate() {
        let at = format!("{at}.Metrics[{k}]");
        let Some(metric) = metric.as_object() else {
            found.push(format!("{at} must be an object"));
            continue;
        };
        if let Some(unit) = metric.get("Unit") {
            if !unit.as_str().is_some_and(|unit| UNITS.contains(&unit)) {
                found.push(format!("{at}.Unit {unit} is not a CloudWatch unit"));
            }
        }
        if let Some(resolution) = metric.get("StorageResolution") {
            if resolution != 1 && resolution != 60 {
                found.push(format!(
                    "{at}.StorageResolution must be 1 or 60, not {resolution}"
                ));
            }
        }
        let Some(name) = metric
            .get("Name")
            .and_then(Value::as_str)
            .filter(|n| valid_name(n))
        else {
            found.push(format!(
                "{at}.Name must be a name of 1 to {MAX_NAME} characters"
            ));
            continue;
        };
        match root.get(name) {
            Some(Value::Number(n)) if valid_value(n) => {}
            Some(Value::Array(values))
                if !values.is_empty()
                    && values.len() <= MAX_VALUES
                    && values.iter().all(|v| v.as_number().is_some_and(valid_value)) => {}
            other => found.push(format!("{at}: `{name}` must name a root member that is a number or an array of 1 to {MAX_VALUES} numbers, not {other:?}")),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control)
}

/// A value CloudWatch stores: zero, or a magnitude between 2^-360 and 2^360.
fn valid_value(n: &serde_json::Number) -> bool {
    n.as_f64().is_some_and(|v| {
        let magnitude = v.abs();
        v.is_finite() && (magnitude == 0.0 || (8.515920e-109..=1.174271e108).contains(&magnitude))
    })
}

#[test]
fn the_check_catches_what_the_spec_forbids() {
    let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["f"]],"Metrics":[{"Name":"m","Unit":"Count"}]}]},"f":"x","m":[1,2]}"#;
    assert_eq!(violations(good), Vec::<String>::new());
    for bad in [
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["f"]],"Metrics":[{"Name":"m"}]}]},"m":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m","Unit":"Things"}]}]},"m":1}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":"1"}"#,
        r#"{"_aws":{"Timestamp":"1","CloudWatchMetrics":[]}}"#,
        r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"","Dimensions":[[]],"Metrics":[]}]}}"#,
    ] {
        assert!(!violations(bad).is_empty(), "{bad}");
    }
}
