//! System calls std does not offer, through the `libc` crate (signals,
//! waits that do not reap, poll, FIFOs, ptys, rlimits, the listen backlog,
//! ptrace: a child's exit, a thread held at a system call), and the
//! process state only /proc tells.
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
use std::sync::mpsc;
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

/// The main thread of a child, held by [`hold_after`]: it stays stopped at
/// a system call while the child's other threads run on, until the child
/// ends (the tracer then lets it go, and the child can be waited for).
pub struct HeldThread {
    held: mpsc::Receiver<Result<(), String>>,
    ended: mpsc::Receiver<Result<(), String>>,
}

impl HeldThread {
    /// Waits until the thread is held; `Err` says why it never was (the
    /// child ended first, a ptrace call failed, the timeout).
    pub fn wait_held(&self, timeout: Duration) -> Result<(), String> {
        self.held
            .recv_timeout(timeout)
            .unwrap_or_else(|e| Err(format!("not held within {timeout:?}: {e}")))
    }

    /// Waits until the held thread has stopped at its exit and been let
    /// go: only then may the child be waited for, or the wait would see
    /// the stop instead of the exit. `Err`: the child did not end.
    pub fn wait_ended(&self, timeout: Duration) -> Result<(), String> {
        self.ended
            .recv_timeout(timeout)
            .unwrap_or_else(|e| Err(format!("the child did not end within {timeout:?}: {e}")))
    }
}

/// Traces the main thread of the running child `pid` and holds it at the
/// first system call it enters after `changed()` turns true. `changed` is
/// asked at every system-call stop of that thread, so the hold comes right
/// after the call that made it true (a rename, say), before anything else
/// the thread does. Returns once the thread is traced.
///
/// The tracer is a thread of its own (ptrace requests must come from the
/// thread that attached). Once the thread is held, it waits for the
/// thread's exit stop without reaping the child, and lets it go.
pub fn hold_after(pid: u32, mut changed: impl FnMut() -> bool + Send + 'static) -> HeldThread {
    let (held_tx, held) = mpsc::channel();
    let (ended_tx, ended) = mpsc::channel();
    let (attached_tx, attached) = mpsc::channel();
    std::thread::spawn(move || {
        let traced = seize_and_interrupt(pid);
        let ok = traced.is_ok();
        let _ = attached_tx.send(traced);
        if !ok {
            return;
        }
        let outcome = run_until_held(pid, &mut changed);
        let holding = outcome.is_ok();
        let _ = held_tx.send(outcome);
        if holding {
            let _ = ended_tx.send(let_go_at_exit(pid));
        }
    });
    attached
        .recv_timeout(super::HARD_TIMEOUT)
        .expect("the tracer thread did not start")
        .unwrap_or_else(|e| panic!("cannot trace {pid}: {e}"));
    HeldThread { held, ended }
}

/// PTRACE_SEIZE (system-call stops marked, exit stops on) and
/// PTRACE_INTERRUPT, so the thread stops wherever it is.
fn seize_and_interrupt(pid: u32) -> io::Result<()> {
    let options = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_TRACEEXIT;
    // SAFETY: PTRACE_SEIZE reads no memory; the options travel in `data`.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid as libc::pid_t,
            std::ptr::null_mut::<c_void>(),
            options as usize as *mut c_void,
        )
    };
    check(r as c_int, "ptrace(PTRACE_SEIZE)")?;
    ptrace(libc::PTRACE_INTERRUPT, pid, 0)
}

/// Runs the traced thread from stop to stop until it enters a system call
/// after `changed()` turned true, and leaves it stopped there.
fn run_until_held(pid: u32, changed: &mut dyn FnMut() -> bool) -> Result<(), String> {
    let syscall_stop = libc::SIGTRAP | 0x80;
    let exit_stop = libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8);
    let mut armed = false;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::__WALL) };
        match check(r, "waitpid") {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        if !libc::WIFSTOPPED(status) {
            return Err(format!("the child ended first (wait status {status:#x})"));
        }
        if status >> 8 == exit_stop {
            let _ = ptrace(libc::PTRACE_DETACH, pid, 0);
            return Err("the child exited first".into());
        }
        let sig = match libc::WSTOPSIG(status) {
            s if s == syscall_stop => {
                if armed {
                    // Entering the first system call after the change.
                    return Ok(());
                }
                armed = changed();
                0
            }
            // Events (the interrupt, group stops) carry no signal to pass on.
            _ if status >> 16 != 0 => 0,
            s => s,
        };
        ptrace(libc::PTRACE_SYSCALL, pid, sig).map_err(|e| e.to_string())?;
    }
}

/// Waits, without reaping, for the held thread's next stop (its exit
/// stop, once another thread ends the process) or for the child's end,
/// and lets the thread go.
fn let_go_at_exit(pid: u32) -> Result<(), String> {
    // SAFETY: all-zero bytes are a valid siginfo_t.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        let options = libc::WEXITED | libc::WSTOPPED | libc::WNOWAIT | libc::__WALL;
        // SAFETY: `info` is a writable siginfo_t.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, options) };
        match check(r, "waitid") {
            Ok(()) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    if info.si_code == libc::CLD_TRAPPED {
        ptrace(libc::PTRACE_DETACH, pid, 0).map_err(|e| e.to_string())?;
    }
    Ok(())
}
