//! System calls std does not offer, through the `libc` crate (signals,
//! waits that do not reap, poll, FIFOs, ptys, rlimits, the listen backlog,
//! ptrace), and the process state only /proc tells.
//!
//! Linux-only, as the whole suite is.

use std::ffi::{c_int, c_void, CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub use libc::{SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGXFSZ};

/// `-1` from a libc call as the `io::Error` of `errno`.
fn check(r: c_int, what: &str) -> io::Result<()> {
    if r == -1 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

/// kill(2): sends `sig` to `pid`.
pub fn kill(pid: u32, sig: c_int) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    check(unsafe { libc::kill(pid as libc::pid_t, sig) }, "kill")
}

/// Blocks until `pid` has exited WITHOUT reaping it (`WNOWAIT`), so the
/// `Child` can still be waited normally and its pid cannot be recycled while
/// we might signal it. This lets a helper thread wait while `Running` keeps
/// ownership of the `Child`.
pub(super) fn wait_exit_no_reap(pid: u32) {
    // SAFETY: all-zero bytes are a valid siginfo_t.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a writable siginfo_t.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != ErrorKind::Interrupted {
            return;
        }
    }
}

/// Blocks until one of `fds` is readable or hung up; a negative fd is
/// ignored, as poll(2) does. Returns which ones are ready.
pub(super) fn wait_readable<const N: usize>(fds: [RawFd; N]) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    loop {
        // SAFETY: `polled` is a valid array of N pollfd structs.
        let r = unsafe { libc::poll(polled.as_mut_ptr(), N as libc::nfds_t, -1) };
        match check(r, "poll") {
            Ok(()) => return Ok(polled.map(|p| p.revents != 0)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// mkfifo(3) with mode 0600.
pub(super) fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: `c` is a valid NUL-terminated path.
    check(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, "mkfifo").unwrap();
}

/// A pseudo-terminal: (master, slave). While the master stays open, a read
/// of the slave blocks, as a terminal nobody types into would.
pub fn open_pty() -> (File, File) {
    // SAFETY: plain libc calls; every return value is checked, the master fd
    // is owned by a File at once, and ptsname_r NUL-terminates `name` on
    // success.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        check(m, "posix_openpt").unwrap();
        let master = File::from_raw_fd(m);
        check(libc::grantpt(m), "grantpt").unwrap();
        check(libc::unlockpt(m), "unlockpt").unwrap();
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let name = CStr::from_ptr(name.as_ptr()).to_str().unwrap().to_string();
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&name)
            .expect("open pty slave");
        (master, slave)
    }
}

/// Lowers `pid`'s RLIMIT_FSIZE (soft and hard) to `bytes`.
pub fn limit_file_size(pid: u32, bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: `limit` is a valid rlimit for the call; no old value asked.
    let r = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    check(r, "prlimit").unwrap();
}

/// Sets `sig` to SIG_IGN. Only async-signal-safe calls: it runs between
/// fork and exec, in a child spawned by a process full of threads.
pub(super) fn ignore_signal(sig: c_int) -> io::Result<()> {
    // SAFETY: SIG_IGN installs no handler code.
    if unsafe { libc::signal(sig, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// listen(2) again on a bound listener, to change its accept backlog.
pub(super) fn set_backlog(listener: &TcpListener, backlog: c_int) {
    // SAFETY: listen(2) on a socket we own; no memory involved.
    check(
        unsafe { libc::listen(listener.as_raw_fd(), backlog) },
        "listen",
    )
    .unwrap();
}

/// Traces the child `pid` only to be stopped at its exit, so that
/// [`at_exit`] can look at it while its memory is still mapped.
pub(super) fn trace_exit(pid: u32) -> io::Result<()> {
    // SAFETY: PTRACE_SEIZE reads no memory; the options travel in `data`.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid as libc::pid_t,
            std::ptr::null_mut::<c_void>(),
            libc::PTRACE_O_TRACEEXIT as usize as *mut c_void,
        )
    };
    check(r as c_int, "ptrace(PTRACE_SEIZE)")
}

/// Lets the child traced by [`trace_exit`] run, passing its signals on,
/// until it stops at its exit; runs `look` then and lets it go. Must be
/// called on the thread that called `trace_exit` (the tracer is a thread).
pub(super) fn at_exit<T>(pid: u32, look: impl FnOnce() -> T) -> io::Result<T> {
    let exit_stop = libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8);
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::__WALL) };
        match check(r, "waitpid") {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if !libc::WIFSTOPPED(status) {
            return Err(io::Error::other(format!(
                "the child ended without its exit stop (wait status {status:#x})"
            )));
        }
        if status >> 8 == exit_stop {
            let seen = look();
            ptrace(libc::PTRACE_DETACH, pid, 0)?;
            return Ok(seen);
        }
        // A signal on its way to the child is delivered; other stops
        // (ptrace events) just go on.
        let sig = if status >> 16 == 0 {
            libc::WSTOPSIG(status)
        } else {
            0
        };
        ptrace(libc::PTRACE_CONT, pid, sig)?;
    }
}

/// A ptrace(2) request that reads no memory; `sig` travels in `data`.
fn ptrace(request: libc::c_uint, pid: u32, sig: c_int) -> io::Result<()> {
    // SAFETY: CONT and DETACH take no pointers.
    let r = unsafe {
        libc::ptrace(
            request,
            pid as libc::pid_t,
            std::ptr::null_mut::<c_void>(),
            sig as usize as *mut c_void,
        )
    };
    check(r as c_int, "ptrace")
}

/// Bounded poll for conditions no channel can report (kernel state seen
/// through /proc). 5 ms steps, never longer than `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `sig` is set in any of the masks named `fields` (`SigCgt`,
/// `SigIgn`, `SigPnd`, `ShdPnd`, …) in /proc/PID/status: kernel state no
/// channel reports, such as "the handler is installed now". Unreadable
/// (the process is gone): false.
pub fn in_signal_mask(pid: u32, fields: &[&str], sig: c_int) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .filter_map(|l| {
            let (name, hex) = l.split_once(':')?;
            fields.contains(&name).then_some(hex)
        })
        .filter_map(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .any(|mask| mask & (1u64 << (sig - 1)) != 0)
}
