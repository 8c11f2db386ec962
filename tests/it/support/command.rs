//! Runs the real `orstream` binary hermetically: [`Cmd`] builds the run
//! (cleared environment, only `PATH` and a fake API key), [`Running`] is the
//! live child whose output is collected by threads, and [`Output`] what it
//! left. Every wait has a hard timeout, so a hung client fails its test
//! instead of the CI job.

use super::{lock, sys, Server, HARD_TIMEOUT};
use std::ffi::{c_int, OsStr, OsString};
use std::fs::File;
use std::io::{self, ErrorKind, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The API key every hermetic run gets. Tests assert it never leaks into
/// output, so it is deliberately recognisable.
pub const TEST_KEY: &str = "sk-or-v1-test-SECRET-KEY-0123456789";

/// Output captured from one child pipe, shared with its reader thread.
#[derive(Default)]
struct Capture {
    state: Mutex<CaptureState>,
    changed: Condvar,
}

#[derive(Default)]
struct CaptureState {
    buf: Vec<u8>,
    /// The reader has finished and dropped its pipe.
    done: bool,
    /// Test asked the reader to drop the pipe now.
    stop: bool,
    /// Drop the pipe once this many bytes were read (`head -c N`).
    limit: Option<usize>,
}

impl Capture {
    fn snapshot(&self) -> Vec<u8> {
        lock(&self.state).buf.clone()
    }

    fn finish(&self) {
        lock(&self.state).done = true;
        self.changed.notify_all();
    }

    fn append(&self, data: &[u8]) {
        lock(&self.state).buf.extend_from_slice(data);
        self.changed.notify_all();
    }

    /// Waits until `pred` holds or the reader is done; returns `pred`'s
    /// final value.
    fn wait_for(&self, timeout: Duration, pred: impl Fn(&CaptureState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            if pred(&st) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if st.done || left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Plain reader: to EOF, never stops early (stderr).
fn read_all(mut pipe: impl Read, cap: &Capture) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => cap.append(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(pipe);
    cap.finish();
}

/// Stdout reader that can be told to drop the pipe mid-stream (simulating a
/// downstream `head` exiting). It polls the pipe together with a wake pipe so
/// a stop request takes effect immediately, even while no output arrives —
/// otherwise the child would get one more successful write than with a real
/// `head`.
fn read_stoppable(mut pipe: ChildStdout, mut wake: PipeReader, cap: &Capture) {
    let mut buf = [0u8; 8192];
    let mut wake_fd = wake.as_raw_fd();
    loop {
        let max = {
            let st = lock(&cap.state);
            let room = st
                .limit
                .map_or(buf.len(), |l| l.saturating_sub(st.buf.len()));
            if st.stop || room == 0 {
                break;
            }
            room.min(buf.len())
        };
        let Ok([out_ready, wake_ready]) = sys::wait_readable([pipe.as_raw_fd(), wake_fd]) else {
            break;
        };
        if wake_ready {
            let mut b = [0u8; 64];
            // Wake writer gone (Running dropped): stop watching it rather
            // than spin on a permanently readable fd (poll ignores -1).
            if matches!(wake.read(&mut b), Ok(0) | Err(_)) {
                wake_fd = -1;
            }
            continue; // re-check stop/limit first
        }
        if out_ready {
            match pipe.read(&mut buf[..max]) {
                Ok(0) => break,
                Ok(n) => cap.append(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    // Close the pipe before announcing `done`, so `close_stdout` returning
    // means the child's next write will fail. A child being spawned at this
    // moment by another test holds a copy of every descriptor until its exec
    // closes them; wait for that, or the "closed" pipe could still take a
    // write.
    drop(pipe);
    drop(lock(&SPAWNING));
    cap.finish();
}

#[derive(Debug, Clone)]
enum StdinMode {
    Null,
    Bytes(Vec<u8>),
    OpenPipe,
    Terminal,
}

/// Held while a child is spawned, from the fork to its exec: the only time
/// another process holds copies of this process's pipes.
static SPAWNING: Mutex<()> = Mutex::new(());

/// Builder for a hermetic run of the `orstream` binary.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    /// Applied in order after the hermetic base; `None` removes.
    env: Vec<(OsString, Option<OsString>)>,
    stdin: StdinMode,
    current_dir: Option<OsString>,
    stdout_limit: Option<usize>,
    /// Set to SIG_IGN in the child only: the test process shares its signal
    /// dispositions with every other test's children.
    ignored_signals: Vec<c_int>,
}

/// The real binary with a cleared environment: only `PATH` (from the test
/// process) and `OPENROUTER_API_KEY=TEST_KEY`. No HOME, proxies, NO_COLOR,
/// OPENROUTER_* or RUST_BACKTRACE leak in from the developer's shell.
pub fn orstream() -> Cmd {
    Cmd {
        program: env!("CARGO_BIN_EXE_orstream").into(),
        args: Vec::new(),
        env: Vec::new(),
        stdin: StdinMode::Null,
        current_dir: None,
        stdout_limit: None,
        ignored_signals: Vec::new(),
    }
}

/// `orstream --base-url <server>`.
pub fn orstream_at(server: &Server) -> Cmd {
    orstream().arg("--base-url").arg(server.url())
}

fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Cmd {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), Some(v.as_ref().to_owned())));
        self
    }

    /// Also works for the hermetic base variables (`PATH`,
    /// `OPENROUTER_API_KEY`).
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env.push((k.as_ref().to_owned(), None));
        self
    }

    /// Feeds `bytes` from a thread, then closes stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = StdinMode::Bytes(bytes.into());
        self
    }

    /// `/dev/null` (also the default).
    pub fn stdin_null(mut self) -> Self {
        self.stdin = StdinMode::Null;
        self
    }

    /// A pipe that is never written and stays open until the child exits
    /// (like an interactive terminal nobody types into, minus the tty).
    pub fn stdin_open_pipe(mut self) -> Self {
        self.stdin = StdinMode::OpenPipe;
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<OsStr>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Like `| head -c n`: the stdout reader drops the pipe after `n` bytes.
    /// Set here (rather than on `Running`) it applies from the first byte,
    /// with no race against early output.
    pub fn close_stdout_after(mut self, n_bytes: usize) -> Self {
        self.stdout_limit = Some(n_bytes);
        self
    }

    /// A terminal nobody types into: the slave of a pty whose master stays
    /// open until the child exits, so a read blocks (which `stdin_open_pipe`
    /// cannot show to a program that asks whether stdin is a terminal).
    pub fn stdin_terminal(mut self) -> Self {
        self.stdin = StdinMode::Terminal;
        self
    }

    /// `sig` starts out ignored in the child (an ignored signal stays
    /// ignored across exec), without touching the test process.
    pub fn ignore_signal(mut self, sig: c_int) -> Self {
        self.ignored_signals.push(sig);
        self
    }

    /// The command line for reports, env changes shown as an `env` prefix
    /// (on top of the hermetic base).
    pub fn cmdline(&self) -> String {
        let mut parts = Vec::new();
        if !self.env.is_empty() {
            parts.push("env".to_string());
            for (k, v) in &self.env {
                match v {
                    Some(v) => {
                        let mut kv = k.clone();
                        kv.push("=");
                        kv.push(v);
                        parts.push(shell_quote(&kv));
                    }
                    None => {
                        parts.push("-u".into());
                        parts.push(shell_quote(k));
                    }
                }
            }
        }
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        match self.stdin {
            StdinMode::Null => {}
            StdinMode::Bytes(ref b) => parts.push(format!("<<< ({} bytes)", b.len())),
            StdinMode::OpenPipe => parts.push("< (open pipe)".into()),
            StdinMode::Terminal => parts.push("< (a terminal)".into()),
        }
        parts.join(" ")
    }

    /// The hermetic `Command`, args, env and directory set; stdio is left
    /// to the caller.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env_clear();
        cmd.env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        );
        cmd.env("OPENROUTER_API_KEY", TEST_KEY);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        for &sig in &self.ignored_signals {
            // SAFETY: `ignore_signal` makes one async-signal-safe call.
            unsafe { cmd.pre_exec(move || sys::ignore_signal(sig)) };
        }
        cmd
    }

    /// Starts the child with its stdio wired by `wire`, for a test that
    /// reads or writes the pipes itself; no timeout, no capture.
    pub fn spawn_child(self, wire: impl FnOnce(&mut Command) -> &mut Command) -> Child {
        let cmdline = self.cmdline();
        let mut cmd = self.command();
        wire(&mut cmd);
        let _spawning = lock(&SPAWNING);
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"))
    }

    /// Runs to completion, with a hard 30 s timeout (kill + panic).
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// Starts the child; stdout/stderr are collected by background threads.
    pub fn spawn(self) -> Running {
        let cmdline = self.cmdline();
        let mut cmd = self.command();
        let mut terminal = None;
        cmd.stdin(match self.stdin {
            StdinMode::Null => Stdio::null(),
            StdinMode::Bytes(_) | StdinMode::OpenPipe => Stdio::piped(),
            StdinMode::Terminal => {
                let (master, slave) = sys::open_pty();
                terminal = Some(master);
                Stdio::from(slave)
            }
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());

        let started = Instant::now();
        let spawned = {
            let _spawning = lock(&SPAWNING);
            cmd.spawn()
        };
        let mut child = spawned.unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));

        let mut stdin_hold = terminal;
        if let Some(mut stdin) = child.stdin.take() {
            match self.stdin {
                StdinMode::Bytes(bytes) => {
                    // Detached: if the child never reads, this unblocks with
                    // EPIPE when it exits.
                    thread::spawn(move || {
                        let _ = stdin.write_all(&bytes);
                    });
                }
                _ => stdin_hold = Some(File::from(OwnedFd::from(stdin))),
            }
        }

        let stdout_cap = Arc::new(Capture::default());
        lock(&stdout_cap.state).limit = self.stdout_limit;
        let stderr_cap = Arc::new(Capture::default());
        let (wake_rx, wake_tx) = io::pipe().expect("create wake pipe");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let readers = vec![
            {
                let cap = Arc::clone(&stdout_cap);
                thread::spawn(move || read_stoppable(stdout, wake_rx, &cap))
            },
            {
                let cap = Arc::clone(&stderr_cap);
                thread::spawn(move || read_all(stderr, &cap))
            },
        ];

        Running {
            child,
            cmdline,
            started,
            stdout: stdout_cap,
            stderr: stderr_cap,
            wake: wake_tx,
            stdin_hold,
            readers,
            reaped: false,
        }
    }
}

/// A child started by [`Cmd::spawn`]. Dropping it without `wait` kills it.
pub struct Running {
    pub child: Child,
    cmdline: String,
    started: Instant,
    stdout: Arc<Capture>,
    stderr: Arc<Capture>,
    wake: PipeWriter,
    /// Our end of the child's stdin (a pipe or a pty master), held open
    /// until the child is reaped.
    stdin_hold: Option<File>,
    readers: Vec<JoinHandle<()>>,
    reaped: bool,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (e.g. [`SIGINT`]); panics if kill(2) fails. The child is
    /// not reaped before `wait`, so its pid cannot have been recycled.
    pub fn signal(&self, sig: i32) {
        sys::kill(self.pid(), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}) failed: {e}", self.pid()));
    }

    /// Waits until stdout contains `needle`; false on timeout or if stdout
    /// reached EOF without it.
    pub fn wait_stdout_contains(&self, needle: &[u8], timeout: Duration) -> bool {
        self.stdout
            .wait_for(timeout, |st| contains(&st.buf, needle))
    }

    /// As `wait_stdout_contains`, for stderr.
    pub fn wait_stderr_contains(&self, needle: &[u8], timeout: Duration) -> bool {
        self.stderr
            .wait_for(timeout, |st| contains(&st.buf, needle))
    }

    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.snapshot()
    }

    pub fn stderr_so_far(&self) -> Vec<u8> {
        self.stderr.snapshot()
    }

    fn wake_stdout_reader(&mut self) {
        // A full wake pipe already guarantees a wake-up, so errors are moot.
        let _ = self.wake.write_all(b"x");
    }

    /// Drops our read end of stdout, like a downstream `| head` exiting.
    /// Returns once the pipe is actually closed: the child's next write to
    /// stdout fails with EPIPE/SIGPIPE.
    pub fn close_stdout(&mut self) {
        lock(&self.stdout.state).stop = true;
        self.wake_stdout_reader();
        if !self.stdout.wait_for(HARD_TIMEOUT, |st| st.done) {
            panic!("stdout reader did not stop within {HARD_TIMEOUT:?}");
        }
    }

    /// Waits for exit with a hard 30 s timeout; on timeout kills the child
    /// and panics with everything captured so far.
    pub fn wait(mut self) -> Output {
        let pid = self.pid();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            sys::wait_exit_no_reap(pid);
            let _ = tx.send(());
        });
        let timed_out = match rx.recv_timeout(HARD_TIMEOUT) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => false,
            Err(RecvTimeoutError::Timeout) => {
                let _ = sys::kill(pid, sys::SIGKILL);
                true
            }
        };
        let status = self.reap();

        // Readers end at EOF once the child is gone; the cap only matters if
        // something else (a grandchild) inherited the pipes.
        let grace = Duration::from_secs(5);
        self.stdout.wait_for(grace, |st| st.done);
        self.stderr.wait_for(grace, |st| st.done);
        for r in self.readers.drain(..) {
            if r.is_finished() {
                let _ = r.join();
            }
        }

        let out = Output {
            status: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            stdout: self.stdout.snapshot(),
            stderr: self.stderr.snapshot(),
            cmdline: self.cmdline.clone(),
            elapsed: self.started.elapsed(),
        };
        if timed_out {
            panic!(
                "orstream did not exit within {HARD_TIMEOUT:?}; killed it.\n{}",
                out.report()
            );
        }
        out
    }

    fn reap(&mut self) -> Option<ExitStatus> {
        let status = self.child.wait();
        self.reaped = true;
        self.stdin_hold = None;
        status.ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked mid-way must not leave an orphan behind.
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        lock(&self.stdout.state).stop = true;
        let _ = self.wake.write_all(b"x");
    }
}

/// Result of a finished run.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code, if the child exited normally.
    pub status: Option<i32>,
    /// Terminating signal, if it was killed by one.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub cmdline: String,
    /// From spawn to exit.
    pub elapsed: Duration,
}

impl Output {
    /// The exit code; panics with the full report if killed by a signal.
    pub fn code(&self) -> i32 {
        match self.status {
            Some(c) => c,
            None => panic!("process did not exit normally\n{}", self.report()),
        }
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn assert_code(&self, expected: i32) -> &Self {
        if self.status != Some(expected) {
            panic!("expected exit code {expected}\n{}", self.report());
        }
        self
    }

    fn status_text(&self) -> String {
        match (self.status, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "unknown (wait failed)".to_string(),
        }
    }

    /// Everything needed to debug a failure, for panic messages.
    pub fn report(&self) -> String {
        format!(
            "command: {}\nstatus: {} (after {:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.status_text(),
            self.elapsed,
            self.stdout_str(),
            self.stderr_str()
        )
    }
}
