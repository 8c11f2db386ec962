//! A child's peak RSS, read from its own memory map so that nothing of the
//! test process counts.
//!
//! `wait4`'s `ru_maxrss` would not do: Linux carries the spawning process's
//! peak across `exec` (all of it with std's vfork-style spawn), and this
//! process runs the whole suite, so it would report the suite's peak.

use super::sys;

/// The child's peak RSS so far in KiB (`VmHWM` in /proc/PID/status).
pub fn vm_hwm(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Watches the child `pid` from now on (before it can exit) for
/// [`peak_at_exit`], which must then be called on this same thread.
pub fn watch_peak(pid: u32) {
    sys::trace_exit(pid).unwrap_or_else(|e| panic!("cannot watch {pid} for its exit: {e}"));
}

/// Lets the child watched by [`watch_peak`] run to its exit and returns its
/// peak RSS in KiB, read as it exits with its memory still mapped. The child
/// is left to be reaped as usual.
pub fn peak_at_exit(pid: u32) -> i64 {
    sys::at_exit(pid, || vm_hwm(pid)).unwrap_or_else(|e| panic!("no peak for {pid}: {e}"))
}
