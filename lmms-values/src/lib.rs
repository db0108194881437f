//! The words lmms's attributes and settings share, read one way everywhere: durations
//! (`"30s"`), byte counts (`"512MiB"`) and module classes (`"core"`), each with the same
//! message for the user when a value is wrong.
//!
//! ```
//! assert_eq!(lmms_values::duration_ms("30s"), Ok(30_000));
//! assert_eq!(lmms_values::bytes("2KiB"), Ok(2_048));
//! assert_eq!(lmms_values::CLASSES[lmms_values::class("feature")?], "feature");
//! # Ok::<(), lmms_values::Invalid>(())
//! ```

use std::fmt;

/// What was wrong with a value, in words for the user; `Display` prints the reason.
///
/// ```
/// let invalid = lmms_values::duration_ms("soon").unwrap_err();
/// assert_eq!(invalid.to_string(), invalid.reason());
/// assert!(invalid.reason().starts_with("`soon` is not a duration"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(String);

impl Invalid {
    /// The reason, a sentence naming the text and what to write instead.
    ///
    /// ```
    /// let invalid = lmms_values::class("sometimes").unwrap_err();
    /// assert_eq!(
    ///     invalid.reason(),
    ///     "`sometimes` is not a class; use `core`, `utility` or `feature`",
    /// );
    /// ```
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A duration as attributes and settings write it: a whole number and a unit, `ms`, `s`, `m`
/// or `h` (`"250ms"`, `"30s"`, `"5m"`, `"1h"`), surrounding whitespace allowed. In
/// milliseconds.
///
/// ```
/// assert_eq!(lmms_values::duration_ms("250ms"), Ok(250));
/// assert_eq!(lmms_values::duration_ms(" 5m "), Ok(300_000));
/// assert!(lmms_values::duration_ms("5 parsecs").is_err());
/// ```
pub fn duration_ms(text: &str) -> Result<u64, Invalid> {
    const UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];
    quantity(text, UNITS, "a duration", "`250ms`, `30s`, `5m` or `1h`")
}

/// A byte count: a whole number with an optional unit: (none), `B`, `KB`, `MB`, `GB`, `KiB`,
/// `MiB`, `GiB`.
///
/// ```
/// assert_eq!(lmms_values::bytes("1048576"), Ok(1 << 20));
/// assert_eq!(lmms_values::bytes("512MiB"), Ok(512 << 20));
/// assert_eq!(lmms_values::bytes("2GB"), Ok(2_000_000_000));
/// assert!(lmms_values::bytes("-1").is_err());
/// ```
pub fn bytes(text: &str) -> Result<u64, Invalid> {
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("B", 1),
        ("KB", 1_000),
        ("MB", 1_000_000),
        ("GB", 1_000_000_000),
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
    ];
    quantity(text, UNITS, "a byte count", "`512MiB`, `2GB` or `1048576`")
}

/// A module class: its index in [`CLASSES`] (and [`CLASS_VARIANTS`]).
///
/// ```
/// use lmms_values::{class, CLASS_VARIANTS};
///
/// assert_eq!(CLASS_VARIANTS[class("core")?], "Core");
/// assert!(class("Core").is_err());
/// # Ok::<(), lmms_values::Invalid>(())
/// ```
pub fn class(text: &str) -> Result<usize, Invalid> {
    CLASSES
        .iter()
        .position(|class| *class == text)
        .ok_or_else(|| {
            Invalid(format!(
                "`{text}` is not a class; use `core`, `utility` or `feature`"
            ))
        })
}

/// The classes as attributes spell them, in the order of the runtime's `Class` enum.
///
/// ```
/// assert_eq!(lmms_values::CLASSES, ["core", "utility", "feature"]);
/// ```
pub const CLASSES: [&str; 3] = ["core", "utility", "feature"];

/// The same classes as the runtime's `Class` variants name them.
///
/// ```
/// use lmms_values::{CLASSES, CLASS_VARIANTS};
///
/// assert_eq!(CLASS_VARIANTS[1], "Utility");
/// assert!(CLASSES.iter().zip(CLASS_VARIANTS).all(|(class, variant)| variant.eq_ignore_ascii_case(class)));
/// ```
pub const CLASS_VARIANTS: [&str; 3] = ["Core", "Utility", "Feature"];

/// A whole number followed by one of `units`, scaled by that unit; `what` and `examples`
/// name the kind of value in the messages.
fn quantity(text: &str, units: &[(&str, u64)], what: &str, examples: &str) -> Result<u64, Invalid> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(Invalid(format!(
            "`{text}` is negative; {what} counts up from zero"
        )));
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let scale = units
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|&(_, scale)| scale)
        .ok_or_else(|| {
            Invalid(format!(
                "`{text}` is not {what}; write a whole number and a unit: {examples}"
            ))
        })?;
    digits
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(scale))
        .ok_or_else(|| {
            Invalid(format!(
                "`{text}` needs a whole number before its unit, small enough to fit"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: fmt::Debug>(result: Result<T, Invalid>) -> String {
        result.unwrap_err().reason().to_owned()
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("250ms"), Ok(250));
        assert_eq!(duration_ms("30s"), Ok(30_000));
        assert_eq!(duration_ms("5m"), Ok(300_000));
        assert_eq!(duration_ms("1h"), Ok(3_600_000));
        assert_eq!(duration_ms("0s"), Ok(0));
        assert_eq!(duration_ms("  30s\n"), Ok(30_000));
        assert_eq!(duration_ms("30 s"), Ok(30_000));
    }

    #[test]
    fn duration_errors() {
        assert_eq!(
            reason(duration_ms("-5s")),
            "`-5s` is negative; a duration counts up from zero"
        );
        assert_eq!(
            reason(duration_ms(" -5s")),
            "` -5s` is negative; a duration counts up from zero"
        );
        for text in ["5 parsecs", "soon", "30", "", "+5s", "5S", "1.5s"] {
            assert_eq!(
                reason(duration_ms(text)),
                format!("`{text}` is not a duration; write a whole number and a unit: `250ms`, `30s`, `5m` or `1h`")
            );
        }
        for text in ["ms", " s", "99999999999999999999s", "18446744073709551615h"] {
            assert_eq!(
                reason(duration_ms(text)),
                format!("`{text}` needs a whole number before its unit, small enough to fit")
            );
        }
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes("1048576"), Ok(1_048_576));
        assert_eq!(bytes("0"), Ok(0));
        assert_eq!(bytes("7B"), Ok(7));
        assert_eq!(bytes("2KB"), Ok(2_000));
        assert_eq!(bytes("2MB"), Ok(2_000_000));
        assert_eq!(bytes("2GB"), Ok(2_000_000_000));
        assert_eq!(bytes("2KiB"), Ok(2_048));
        assert_eq!(bytes("512MiB"), Ok(512 << 20));
        assert_eq!(bytes(" 1 GiB "), Ok(1 << 30));
        assert_eq!(bytes(&u64::MAX.to_string()), Ok(u64::MAX));
    }

    #[test]
    fn byte_count_errors() {
        assert_eq!(
            reason(bytes("-1MiB")),
            "`-1MiB` is negative; a byte count counts up from zero"
        );
        for text in ["512 mib", "lots", "2TB", "1.5GB"] {
            assert_eq!(
                reason(bytes(text)),
                format!("`{text}` is not a byte count; write a whole number and a unit: `512MiB`, `2GB` or `1048576`")
            );
        }
        for text in ["", "MiB", "18446744073709551616", "17179869184GiB"] {
            assert_eq!(
                reason(bytes(text)),
                format!("`{text}` needs a whole number before its unit, small enough to fit")
            );
        }
    }

    #[test]
    fn classes() {
        assert_eq!(class("core"), Ok(0));
        assert_eq!(class("utility"), Ok(1));
        assert_eq!(class("feature"), Ok(2));
        for (index, name) in CLASSES.iter().enumerate() {
            assert_eq!(class(name), Ok(index));
            assert!(CLASS_VARIANTS[index].eq_ignore_ascii_case(name));
        }
    }

    #[test]
    fn class_errors() {
        for text in ["sometimes", "Core", " core", ""] {
            assert_eq!(
                reason(class(text)),
                format!("`{text}` is not a class; use `core`, `utility` or `feature`")
            );
        }
    }

    #[test]
    fn display_is_the_reason() {
        let invalid = class("sometimes").unwrap_err();
        assert_eq!(invalid.to_string(), invalid.reason());
        let error: Box<dyn std::error::Error> = Box::new(invalid.clone());
        assert_eq!(error.to_string(), invalid.reason());
    }
}
