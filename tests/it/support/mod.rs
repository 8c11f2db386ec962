//! Shared support for the integration tests, one module per concern; tests
//! take it whole as `use crate::support::*;`.

mod assertions;
mod command;
mod files;
mod memory;
mod net;
mod payloads;
mod server;
mod sys;

pub use assertions::*;
pub use command::*;
pub use files::*;
pub use memory::*;
pub use net::*;
pub use payloads::*;
pub use server::*;
pub use sys::*;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Upper bound for every blocking wait inside support: nothing here may
/// hang a test forever.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(30);

/// Locks a mutex, ignoring poisoning: a panicking test thread must not turn
/// every later assertion into a confusing `PoisonError`.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
