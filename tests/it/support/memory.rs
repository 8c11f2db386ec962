//! A child's peak RSS, read from its own memory map so that nothing of the
//! test process counts.

/// The child's peak RSS so far in KiB (`VmHWM` in /proc/PID/status).
pub fn vm_hwm(pid: u32) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
