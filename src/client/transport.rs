//! The connection ureq reads through: ureq's own, with one hook. When the
//! main thread waits on the socket for more than the response head, the
//! stdout watcher starts ([`signal::long_wait_begins`]). A short answer
//! that comes whole with the head never waits again, so never pays for the
//! thread (0.06 ms of a 1.4 ms short request, issue 18).
//!
//! `ureq::unversioned` is outside ureq's semver promise: a ureq release may
//! change these traits, and then this file fails to compile (it cannot go
//! wrong silently: every method is passed on).

use crate::signal;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

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
        };
        Ok(self.0.connect(details, chained)?.map(hooked))
    }
}

#[derive(Debug)]
pub struct HookedTransport {
    inner: Box<dyn Transport>,
    /// A wait for input happened: the first is for the response head.
    waited: bool,
}

impl Transport for HookedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)
    }

    /// Called only when ureq needs bytes it has not got: the read may block.
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if self.waited {
            signal::long_wait_begins();
        }
        self.waited = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
