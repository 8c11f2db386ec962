//! The start and end of the process that std's runtime would do, for the C
//! `main` of `src/main.rs`: the standard fds open, SIGPIPE ignored, stdout
//! flushed at the end.
//!
//! std's own start (`lang_start`) also finds the main thread's guard page
//! by reading /proc/self/maps and gives the main thread and every thread
//! after it an alternate signal stack, to print "has overflowed its stack"
//! before aborting; it cost 0.12 ms of a 1.5 ms short request (issue 18).
//! Without it a stack overflow is a plain SIGSEGV, and a panic names the
//! main thread `<unnamed>`.

use std::io::{self, Write};

/// Call first: opens /dev/null on a closed fd 0, 1 or 2 (so no file or
/// socket of ours can land there and get the answer), and ignores SIGPIPE
/// (a write to a closed pipe is then an `io::Error`, exit 141).
pub fn begin() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    loop {
        // SAFETY: three valid pollfds for the duration of the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } != -1 {
            break;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // poll refused (RLIMIT_NOFILE below 3): ask each fd instead.
            for f in &mut fds {
                // SAFETY: F_GETFD reads a flag of a descriptor number.
                let closed = unsafe { libc::fcntl(f.fd, libc::F_GETFD) } == -1;
                f.revents = if closed { libc::POLLNVAL } else { 0 };
            }
            break;
        }
    }
    for f in fds {
        if f.revents & libc::POLLNVAL != 0 {
            // SAFETY: a NUL-terminated path; the lowest free fd is `f.fd`,
            // as the lower ones are open by now. std aborts when this fails.
            if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
                std::process::abort();
            }
        }
    }
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Call last: what is left in stdout's buffer goes out (errors are for
/// the writes that reported them already).
pub fn end() {
    let _ = io::stdout().flush();
}
