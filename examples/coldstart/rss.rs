//! The peak resident set of this process, as each cold-start binary reports it.

/// This process's peak resident set (`VmHWM`), in KiB; 0 where `/proc` is not there.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
