//! The integration tests, one crate: each module runs the real `orstream`
//! binary against loopback servers and checks one part of the SPEC, and
//! `support` is compiled once for all of them.

mod support;

mod attach;
mod cancel;
mod chat;
mod each;
mod each_more;
mod generated;
mod hostile;
mod memory;
mod prompt_request;
mod robustness;
mod scripts;
mod stream_output;
mod support_selftest;
mod surface;
mod tls;
mod whole;
mod whole_more;
