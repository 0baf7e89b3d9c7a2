//! Process figures read from `/proc`: CPU time, resident memory, open files and threads — what
//! the fleet benchmark and the soak report for drover itself and for dockerd.
//!
//! Invariant: readers return `None` rather than failing when a process or file is gone, so a
//! benchmark prints "n/a" instead of aborting.

use std::time::{Duration, Instant};

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which the kernel fixes at 100 on every
/// architecture for this interface (independent of the kernel's HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// User + system CPU time of `pid` ("self" for this process).
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields are counted from
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / TICKS_PER_SEC))
}

/// A `Status:` field of `/proc/<pid>/status`, as its first number (kB for memory fields).
fn status_field(pid: &str, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Resident set size in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    status_field(pid, "VmRSS")
}

pub fn threads(pid: &str) -> Option<u64> {
    status_field(pid, "Threads")
}

/// Open file descriptors (sockets, pipes and files alike).
pub fn open_fds(pid: &str) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The pid of the local dockerd, if it runs on this machine and is visible to us.
pub fn dockerd_pid() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().into_string().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "dockerd").then_some(pid)
    })
}

/// CPU use of a process over a window: start with [`CpuMeter::start`], read with
/// [`CpuMeter::percent`] (100 % = one core busy).
pub struct CpuMeter {
    pid: String,
    cpu: Option<Duration>,
    wall: Instant,
}

impl CpuMeter {
    pub fn start(pid: &str) -> Self {
        Self {
            pid: pid.to_string(),
            cpu: cpu_time(pid),
            wall: Instant::now(),
        }
    }

    pub fn percent(&self) -> Option<f64> {
        let used = cpu_time(&self.pid)?.checked_sub(self.cpu?)?;
        Some(100.0 * used.as_secs_f64() / self.wall.elapsed().as_secs_f64().max(1e-9))
    }
}

/// "12.3 %" or "n/a".
pub fn show_percent(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".into(), |p| format!("{p:.1} %"))
}

/// "45.6 MiB" or "n/a".
pub fn show_kib(k: Option<u64>) -> String {
    k.map_or_else(|| "n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(rss_kib("self").is_some_and(|k| k > 0));
        assert!(threads("self").is_some_and(|t| t >= 1));
        assert!(open_fds("self").is_some_and(|n| n >= 3));
        let before = cpu_time("self").expect("cpu time");
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time("self").expect("cpu time") > before);
    }

    #[test]
    fn a_missing_process_is_none() {
        assert_eq!(rss_kib("999999999"), None);
        assert_eq!(cpu_time("999999999"), None);
    }
}
