//! Spawning and timing one child process: a hermetic command, its stderr
//! and stdout drained by threads, `wait4(2)` for its own `rusage`, its peak
//! RSS (`VmHWM`) and signal handlers read from /proc, signals sent to it.
//!
//! Children get a cleared environment (only `PATH`), stdin from /dev/null
//! and stdout on a pipe that a bench thread drains. Linux only (`wait4`
//! and `VmHWM`, through `libc`).

use std::ffi::c_int;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::lock;

pub use libc::{listen, SIGHUP, SIGINT, SIGKILL, SIGTERM};

/// Sends `sig` to our own child `pid`, live and not yet reaped.
pub fn signal(pid: u32, sig: c_int) {
    // SAFETY: plain syscall on our own live (unreaped) child.
    unsafe { libc::kill(pid as c_int, sig) };
}

/// How a child ended, and what it cost.
pub struct Reaped {
    pub status: Status,
    /// Spawn (or the instant given to [`reap`]) → reaped.
    pub wall: Duration,
    /// user + sys of this child only.
    pub cpu: Duration,
    pub maxrss_kib: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Code(i32),
    Signal(i32),
}

/// Waits for one child with `wait4`, so the rusage is that process's own.
pub fn reap(child: &Child, started: Instant) -> Reaped {
    let pid = child.id() as c_int;
    let mut status: c_int = 0;
    // SAFETY: `rusage` is plain integers: all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right type; `pid`
        // is our own child, not yet reaped (std never waits on it here).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        assert!(e.kind() == io::ErrorKind::Interrupted, "wait4({pid}): {e}");
    }
    let wall = started.elapsed();
    let tv = |t: &libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let status = if status & 0x7f == 0 {
        Status::Code((status >> 8) & 0xff)
    } else {
        Status::Signal(status & 0x7f)
    };
    Reaped {
        status,
        wall,
        cpu: tv(&ru.ru_utime) + tv(&ru.ru_stime),
        maxrss_kib: ru.ru_maxrss as u64,
    }
}

/// `/proc/PID/status`, or None once the process is gone.
fn proc_status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// Whether `pid` is running (not gone, not a zombie waiting for `wait4`).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.get(s.rfind(')')? + 2..)?.starts_with(['Z', 'X'])))
        .is_some_and(|dead| !dead)
}

/// `VmHWM` (peak RSS of the current image) from `/proc/PID/status`, in KiB.
/// `ru_maxrss` from `wait4` cannot serve: Linux keeps the pre-`exec` image's
/// peak in it, i.e. this bench's RSS.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = proc_status(pid)?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` has a handler installed for `sig` (`SigCgt` in
/// /proc/PID/status).
pub fn catches(pid: u32, sig: c_int) -> bool {
    proc_status(pid)
        .as_deref()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("SigCgt:")))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << (sig - 1)) != 0)
}

/// Polls `cond` every millisecond (kernel state seen through /proc, which
/// no channel reports); false after `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// A program resolved on PATH (once). An absolute path matters: for a bare
/// name with a changed `PATH` (we clear the env), std falls back from
/// `posix_spawn` to `fork`, and forking this bench (hundreds of MB of
/// pre-rendered bodies) cost curl ~13 ms per run in an early version.
pub fn which(name: &'static str) -> &'static Path {
    static FOUND: Mutex<Vec<(&str, &Path)>> = Mutex::new(Vec::new());
    let mut found = lock(&FOUND);
    if let Some((_, p)) = found.iter().find(|(n, _)| *n == name) {
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let p = std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found on PATH"));
    let p: &'static Path = Box::leak(p.into_boxed_path());
    found.push((name, p));
    p
}

/// The orstream binary cargo built for this bench (`target/release`).
pub fn orstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_orstream"))
}

/// Clears `c`'s environment but `PATH`; stdin /dev/null, stdout and stderr
/// piped.
pub fn hermetic(c: &mut Command) -> &mut Command {
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
}

/// A running child with its stderr collected in the background.
pub struct Running {
    pub child: Child,
    started: Instant,
    pub stdout: Option<ChildStdout>,
    pub stderr: JoinHandle<String>,
}

/// Spawns `cmd` (made by [`hermetic`]); `name` is for the panic message.
pub fn spawn(name: &str, mut cmd: Command) -> Running {
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let stdout = child.stdout.take();
    let mut err = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        String::from_utf8_lossy(&v).trim().to_string()
    });
    Running {
        child,
        started,
        stdout,
        stderr,
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads stdout to its end on a thread; `seen` gets `acc` and the
    /// running total after each read. The thread returns both at the end.
    pub fn drain<T: Send + 'static>(
        &mut self,
        mut acc: T,
        mut seen: impl FnMut(&mut T, usize) + Send + 'static,
    ) -> JoinHandle<(usize, T)> {
        let mut out = self.stdout.take().unwrap();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            while let Ok(n @ 1..) = out.read(&mut buf) {
                total += n;
                seen(&mut acc, total);
            }
            (total, acc)
        })
    }

    /// Reaps the child (wall time from spawn) and returns its stderr.
    pub fn finish(self) -> (Reaped, String) {
        let r = reap(&self.child, self.started);
        (r, self.stderr.join().unwrap_or_default())
    }
}
