//! Signal handling: Ctrl-C, SIGTERM and SIGHUP shut the socket down at once.
//!
//! The ctrlc handler runs on its own thread. It sets the cancelled flag and
//! calls `Agent::shutdown()`, which shuts down every socket the agent holds,
//! so the main thread's blocked read returns within a millisecond and the
//! provider sees the connection close. A TCP connect or DNS lookup in
//! progress cannot be interrupted that way: a watchdog ends the process
//! shortly after, and a second signal ends it at once.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How long the main thread gets to end cleanly before the watchdog exits.
const GRACE: Duration = Duration::from_millis(500);

/// What the main thread is doing, for the signal handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Reading stdin or files: nothing printed yet, exit at once.
    Input = 0,
    /// Connecting, waiting, streaming: shut the socket and let main finish.
    Network = 1,
}

struct State {
    cancelled: AtomicBool,
    signals: AtomicU32,
    phase: AtomicU8,
    agent: Mutex<Option<ureq::Agent>>,
    /// Wakes a retry backoff early.
    wake: (Mutex<()>, Condvar),
    exit: fn() -> !,
}

static STATE: OnceLock<State> = OnceLock::new();

/// Installs the handler. `exit` ends the process with 130; it is passed in
/// so that only `main` decides how the process exits.
pub fn install(exit: fn() -> !) -> Result<(), ctrlc::Error> {
    let _ = STATE.set(State {
        cancelled: AtomicBool::new(false),
        signals: AtomicU32::new(0),
        phase: AtomicU8::new(Phase::Input as u8),
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
    if n >= 2 || s.phase.load(Ordering::SeqCst) == Phase::Input as u8 {
        (s.exit)();
    }
    shutdown();
    // Taking the lock orders this wake-up after a sleeper's flag check.
    drop(s.wake.0.lock());
    s.wake.1.notify_all();
    let exit = s.exit;
    std::thread::spawn(move || {
        std::thread::sleep(GRACE);
        exit();
    });
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether the stdout watcher saw the reader go away.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// Watches a pipe on stdout: when its reader closes it (`| head` exits), the
/// socket is shut at once, even while the main thread waits on a silent
/// server, so the provider stops generating; the main thread then ends as
/// on a broken pipe (141). Without this, nothing would notice until the next
/// write, which may be minutes away on a thinking model.
#[cfg(unix)]
pub fn watch_stdout() {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    extern "C" {
        fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
    }
    const POLLERR: i16 = 0x8;
    const POLLHUP: i16 = 0x10;
    const POLLNVAL: i16 = 0x20;
    std::thread::spawn(|| loop {
        // Events 0: a pipe's write end still reports POLLERR once the
        // reader is gone, and nothing else wakes this thread.
        let mut fd = PollFd {
            fd: 1,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { poll(&mut fd, 1, -1) };
        if n > 0 && fd.revents & (POLLERR | POLLHUP | POLLNVAL) != 0 {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            shutdown();
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
pub fn cancelled() -> bool {
    STATE
        .get()
        .is_some_and(|s| s.cancelled.load(Ordering::SeqCst))
}

pub fn set_phase(phase: Phase) {
    if let Some(s) = STATE.get() {
        s.phase.store(phase as u8, Ordering::SeqCst);
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

/// Sleeps, returning early (false) when a signal arrives.
pub fn sleep(d: Duration) -> bool {
    let Some(s) = STATE.get() else {
        std::thread::sleep(d);
        return true;
    };
    let deadline = std::time::Instant::now() + d;
    let mut guard = match s.wake.0.lock() {
        Ok(g) => g,
        Err(_) => return !cancelled(),
    };
    while !cancelled() {
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        guard = match s.wake.1.wait_timeout(guard, deadline - now) {
            Ok((g, _)) => g,
            Err(_) => return !cancelled(),
        };
    }
    false
}
