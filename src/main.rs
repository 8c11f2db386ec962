//! The orstream binary: run, then turn the outcome into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match orstream::run(std::env::args_os().collect(), exit_on_signal) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => ExitCode::from(orstream::report(&err)),
    }
}

/// Called from the signal thread when the main thread cannot return in time
/// (a TCP connect in progress, a second Ctrl-C, stdin still being read):
/// 130, or 0 when the conversation's turn was saved just before.
fn exit_on_signal() -> ! {
    let code = orstream::on_forced_exit();
    std::process::exit(i32::from(code))
}
