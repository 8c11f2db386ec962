//! Signals and a closed stdout: Ctrl-C, SIGTERM and SIGHUP end the request
//! at once; a reader leaving stdout closes the socket at once (seen from
//! the first wait that lasts, for a single request: see
//! [`watch_stdout_lazily`]).
//!
//! One query, [`stop_reason`], tells every loop why it must stop, and one
//! scoped phase, [`streaming`], tells the handler what stopping means.
//!
//! The ctrlc handler runs on its own thread. While stdin or files are read,
//! or a request is being sent (DNS, a TCP connect, TLS, awaiting the status
//! line), nothing is pending on stdout: the handler exits 130 itself, at
//! once (0 once a conversation's turn is saved), and the kernel closes the
//! socket. Once the answer streams, it sets the cancelled flag and calls
//! `Agent::shutdown()`, which shuts down every socket the agent holds, so
//! the main thread's blocked read returns within a millisecond, ends the
//! line and prints what it must. A replay blocked reading a silent pipe is
//! woken the same way, through a self-pipe it polls beside its input. A
//! watchdog covers a main thread stuck elsewhere (a full stdout pipe), and
//! a second signal ends the process at once.

use crate::exit::{Failure, Kind};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How long a streaming main thread gets to end cleanly before the
/// watchdog exits (it normally returns within a millisecond of the shutdown).
const GRACE: Duration = Duration::from_millis(500);

/// What a signal does, by what the main thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Reading stdin or files, connecting, sending, waiting for the status
    /// line, backing off before a retry: nothing printed yet, exit at once.
    Exit = 0,
    /// The answer streams (or a recording is replayed): shut the socket and
    /// let main end the line and finish.
    Stream = 1,
}

/// Why the run must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT, SIGTERM or SIGHUP (exit 130).
    Interrupted,
    /// The reader of stdout went away (exit 141, quietly).
    StdoutClosed,
}

impl Stop {
    pub fn failure(self) -> Failure {
        match self {
            Stop::Interrupted => Failure::interrupted(),
            Stop::StdoutClosed => Failure::new(Kind::BrokenPipe, "stdout closed"),
        }
    }
}

/// Why the run must stop, if it must: a signal first, then a closed stdout.
pub fn stop_reason() -> Option<Stop> {
    if interrupted() {
        Some(Stop::Interrupted)
    } else if STDOUT_CLOSED.load(Ordering::SeqCst) {
        Some(Stop::StdoutClosed)
    } else {
        None
    }
}

/// `Err` with the failure to report when the run must stop.
pub fn check() -> Result<(), Failure> {
    match stop_reason() {
        Some(stop) => Err(stop.failure()),
        None => Ok(()),
    }
}

/// While the answer streams, a signal shuts the socket and main finishes
/// (ends the line, writes what `-x` held); the phase ends with the guard.
#[must_use = "the phase ends when the guard is dropped"]
pub struct Streaming(Phase);

pub fn streaming() -> Streaming {
    Streaming(set_phase(Phase::Stream))
}

impl Drop for Streaming {
    fn drop(&mut self) {
        set_phase(self.0);
    }
}

/// Sets the phase, returning the one before.
fn set_phase(phase: Phase) -> Phase {
    match STATE.get() {
        Some(s) if s.phase.swap(phase as u8, Ordering::SeqCst) == Phase::Stream as u8 => {
            Phase::Stream
        }
        _ => Phase::Exit,
    }
}

struct State {
    cancelled: AtomicBool,
    signals: AtomicU32,
    phase: AtomicU8,
    /// The write end of the self-pipe that wakes [`read_or_wake`].
    wake_fd: Option<i32>,
    /// Its read end.
    wake_rx: Option<i32>,
    agent: Mutex<Option<ureq::Agent>>,
    /// Wakes a retry backoff early.
    wake: (Mutex<()>, Condvar),
    exit: fn() -> !,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Installs the handler. `exit` ends the process (130, or 0 when a
/// conversation's turn is already saved); it is passed in so that only
/// `main` decides how the process exits.
pub fn install(exit: fn() -> !) -> Result<(), ctrlc::Error> {
    let wake_pipe = self_pipe();
    let _ = STATE.set(State {
        cancelled: AtomicBool::new(false),
        signals: AtomicU32::new(0),
        phase: AtomicU8::new(Phase::Exit as u8),
        wake_fd: wake_pipe.map(|(_, w)| w),
        wake_rx: wake_pipe.map(|(r, _)| r),
        agent: Mutex::new(None),
        wake: (Mutex::new(()), Condvar::new()),
        exit,
    });
    ctrlc::set_handler(on_signal)
}

fn on_signal() {
    let Some(s) = STATE.get() else { return };
    let n = s.signals.fetch_add(1, Ordering::SeqCst) + 1;
    s.cancelled.store(true, Ordering::SeqCst);
    let streaming = s.phase.load(Ordering::SeqCst) == Phase::Stream as u8;
    if n >= 2 || !streaming {
        (s.exit)();
    }
    shutdown();
    wake_sleepers();
    if let Some(fd) = s.wake_fd {
        // SAFETY: writing one byte from a valid buffer to our own pipe.
        let _ = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
    let exit = s.exit;
    std::thread::spawn(move || {
        std::thread::sleep(GRACE);
        exit();
    });
}

/// Ignores SIGXFSZ: a write past a file-size limit (`ulimit -f`) then
/// fails with EFBIG, reported like any failed write, instead of killing
/// the process (and dumping a core that could hold the key).
pub fn ignore_file_size_limit_signal() {
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// [`watch_stdout_lazily`]: not asked for, asked for, started.
static LAZY_WATCH: AtomicU8 = AtomicU8::new(LAZY_OFF);
const LAZY_OFF: u8 = 0;
const LAZY_ASKED: u8 = 1;
const LAZY_STARTED: u8 = 2;

/// [`watch_stdout`], started only when a wait that may last begins
/// ([`long_wait_begins`]): a response head that takes more than a moment,
/// the rest of a response, a retry backoff. A thread costs as much as the
/// rest of a short answer, which often comes whole with a quick response
/// head. A reader that leaves before then is seen at the next such wait,
/// or by the first write.
pub fn watch_stdout_lazily() {
    LAZY_WATCH.store(LAZY_ASKED, Ordering::SeqCst);
}

/// A wait that may last begins: the watcher asked for starts now.
pub fn long_wait_begins() {
    let (asked, started) = (LAZY_ASKED, LAZY_STARTED);
    let swap = LAZY_WATCH.compare_exchange(asked, started, Ordering::SeqCst, Ordering::SeqCst);
    if swap.is_ok() {
        watch_stdout();
    }
}

/// Watches a pipe on stdout: when its reader closes it (`| head` exits), the
/// socket is shut at once, even while the main thread waits on a silent
/// server, so the provider stops generating; the main thread then ends as
/// on a broken pipe (141). Without this, nothing would notice until the next
/// write, which may be minutes away on a thinking model.
#[cfg(unix)]
pub fn watch_stdout() {
    std::thread::spawn(|| loop {
        // Events 0: a pipe's write end still reports POLLERR once the
        // reader is gone, and nothing else wakes this thread.
        let mut fd = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, -1) };
        if n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            shutdown();
            wake_sleepers();
            return;
        }
        if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    });
}

#[cfg(not(unix))]
pub fn watch_stdout() {}

/// Whether a signal arrived.
pub fn interrupted() -> bool {
    STATE
        .get()
        .is_some_and(|s| s.cancelled.load(Ordering::SeqCst))
}

/// A pipe whose write end the handler writes to: poll(2) on its read end
/// wakes a main thread blocked on input a socket shutdown cannot reach.
#[cfg(unix)]
fn self_pipe() -> Option<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    for fd in fds {
        // SAFETY: fcntl on descriptors we own; failure only loses CLOEXEC.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Some((fds[0], fds[1]))
}

#[cfg(not(unix))]
fn self_pipe() -> Option<(i32, i32)> {
    None
}

/// Reads `fd` (a replayed pipe, FIFO or terminal), returning `Ok(0)` as soon
/// as a signal arrives: the caller then sees [`stop_reason`] and ends the
/// stream as a live one would, `-x` and the final newline included.
#[cfg(unix)]
pub fn read_or_wake(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    let wake = STATE.get().and_then(|s| s.wake_rx);
    loop {
        if interrupted() {
            return Ok(0);
        }
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds for the duration of the call (a
        // negative fd is ignored by poll).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 || interrupted() {
            return Ok(0);
        }
        if fds[0].revents != 0 {
            // SAFETY: reading into a valid buffer of `buf.len()` bytes.
            let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if got < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(got as usize);
        }
    }
}

/// Makes the agent's sockets reachable from the handler.
pub fn register(agent: &ureq::Agent) {
    if let Some(s) = STATE.get() {
        if let Ok(mut a) = s.agent.lock() {
            *a = Some(agent.clone());
        }
    }
}

/// Shuts down every socket of the registered agent (signal or broken pipe).
pub fn shutdown() {
    if let Some(s) = STATE.get() {
        let agent = s.agent.lock().ok().and_then(|a| a.clone());
        if let Some(agent) = agent {
            agent.shutdown();
        }
    }
}

/// Wakes a retry backoff in [`sleep`].
fn wake_sleepers() {
    if let Some(s) = STATE.get() {
        // Taking the lock orders this wake-up after a sleeper's flag check.
        drop(s.wake.0.lock());
        s.wake.1.notify_all();
    }
}

/// Sleeps, returning early (false) when a signal arrives or the reader of
/// stdout goes away (nobody is left to read a retried answer).
pub fn sleep(d: Duration) -> bool {
    long_wait_begins();
    let Some(s) = STATE.get() else {
        std::thread::sleep(d);
        return true;
    };
    let deadline = std::time::Instant::now() + d;
    let stop = || stop_reason().is_some();
    let mut guard = match s.wake.0.lock() {
        Ok(g) => g,
        Err(_) => return !stop(),
    };
    while !stop() {
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        guard = match s.wake.1.wait_timeout(guard, deadline - now) {
            Ok((g, _)) => g,
            Err(_) => return !stop(),
        };
    }
    false
}
