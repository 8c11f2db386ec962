//! The orstream binary: run, then turn the outcome into an exit code.
//!
//! On Unix it starts as a C `main` (`no_main`): std's runtime start reads
//! /proc/self/maps for the main thread's guard page and gives every thread
//! an alternate signal stack, 0.12 ms of a 1.5 ms short request (issue 18).
//! `orstream::begin` and `orstream::end` do what of it orstream needs.
#![cfg_attr(unix, no_main)]

use std::ffi::OsString;

#[cfg(unix)]
#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    use std::os::unix::ffi::OsStrExt;
    orstream::begin();
    // From argv itself: std only collects it without its runtime start on
    // some systems (glibc).
    let args = (0..usize::try_from(argc).unwrap_or(0))
        // SAFETY: the C runtime passes `argc` valid NUL-terminated strings.
        .map(|i| unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) })
        .map(|arg| std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned())
        .collect();
    let code = run(args);
    orstream::end();
    code.into()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    run(std::env::args_os().collect()).into()
}

/// The exit code of the run.
fn run(args: Vec<OsString>) -> u8 {
    match orstream::run(args, exit_on_signal) {
        Ok(()) => 0,
        Err(err) => orstream::report(&err),
    }
}

/// Called from the signal thread when the main thread cannot return in time
/// (a TCP connect in progress, a second Ctrl-C, stdin still being read):
/// 130, or 0 when the conversation's turn was saved just before.
fn exit_on_signal() -> ! {
    let code = orstream::on_forced_exit();
    std::process::exit(i32::from(code))
}
