//! The connection ureq reads and writes through: ureq's own, with two
//! hooks, each worth a little of a short request (issue 18):
//!
//! * The stdout watcher starts ([`signal::long_wait_begins`]) when the main
//!   thread waits on the socket for more than the response head, or for the
//!   head itself longer than [`HEAD_PROBE`] on plain TCP (at once over TLS).
//!   A short answer that comes whole with a quick head never waits again,
//!   so never pays for the thread (0.06 ms of a 1.4 ms short request); a
//!   reader leaving during a slow head is still seen at once (SPEC §6).
//! * A request head is held back and leaves with the first bytes of the
//!   body, in one write (one TCP segment, one TLS record), instead of two:
//!   the server is woken once. Before any wait it goes out as it is.
//!
//! `ureq::unversioned` is outside ureq's semver promise: a ureq release may
//! change these traits, and then this file fails to compile (it cannot go
//! wrong silently: every method is passed on).

use crate::signal;
use std::time::Instant;
use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// How long the wait for a response head goes on before the stdout watcher
/// starts: a loopback or LAN server answers well within it.
const HEAD_PROBE: std::time::Duration = std::time::Duration::from_millis(3);

/// ureq's default chain (proxies, TCP, rustls), its connections wrapped.
#[derive(Debug, Default)]
pub struct Hooked(DefaultConnector);

impl Connector for Hooked {
    type Out = HookedTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let hooked = |inner| HookedTransport {
            inner,
            waited: false,
            request_start: true,
            held: Vec::new(),
            held_timeout: None,
        };
        Ok(self.0.connect(details, chained)?.map(hooked))
    }
}

#[derive(Debug)]
pub struct HookedTransport {
    inner: Box<dyn Transport>,
    /// A wait for input happened: the first is for the response head.
    waited: bool,
    /// The next write starts a request (none yet, or input came since).
    request_start: bool,
    /// A request head not sent yet, and the timeout it was given.
    held: Vec<u8>,
    held_timeout: Option<NextTimeout>,
}

impl HookedTransport {
    /// Sends the held head alone; the output buffer's first `keep` bytes
    /// (a write waiting behind it) are kept.
    fn send_held(&mut self, keep: usize) -> Result<(), ureq::Error> {
        let Some(timeout) = self.held_timeout.take() else {
            return Ok(());
        };
        let held = std::mem::take(&mut self.held);
        let out = self.inner.buffers().output();
        let kept = out[..keep].to_vec();
        out[..held.len()].copy_from_slice(&held);
        self.inner.transmit_output(held.len(), timeout)?;
        self.inner.buffers().output()[..keep].copy_from_slice(&kept);
        Ok(())
    }
}

impl Transport for HookedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if std::mem::take(&mut self.request_start) {
            self.held = self.inner.buffers().output()[..amount].to_vec();
            self.held_timeout = Some(timeout);
            return Ok(());
        }
        let n = self.held.len();
        let out = self.inner.buffers().output();
        if self.held_timeout.is_some() && n + amount <= out.len() {
            out.copy_within(..amount, n);
            out[..n].copy_from_slice(&self.held);
            self.held_timeout = None;
            self.held.clear();
            return self.inner.transmit_output(n + amount, timeout);
        }
        self.send_held(amount)?;
        self.inner.transmit_output(amount, timeout)
    }

    /// Called only when ureq needs bytes it has not got: the read may block.
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.send_held(0)?;
        self.request_start = true;
        let for_head = !std::mem::replace(&mut self.waited, true);
        if for_head && !self.inner.is_tls() && Duration::from(HEAD_PROBE) < timeout.after {
            // The head, first for a moment only: a plain TCP read that times
            // out has taken nothing (a TLS record cut by a timeout is not
            // risked; over TLS the watcher starts at once).
            let started = Instant::now();
            let probe = NextTimeout {
                after: HEAD_PROBE.into(),
                ..timeout
            };
            match self.inner.await_input(probe) {
                Err(ureq::Error::Timeout(_)) => {}
                done => return done,
            }
            signal::long_wait_begins();
            let rest = NextTimeout {
                after: match timeout.after {
                    Duration::Exact(d) => d.saturating_sub(started.elapsed()).into(),
                    forever => forever,
                },
                ..timeout
            };
            return self.inner.await_input(rest);
        }
        if !for_head || self.inner.is_tls() {
            signal::long_wait_begins();
        }
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
