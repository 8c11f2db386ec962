//! `--list-models`: `GET {base}/models`, the ids sorted one per line, or
//! the raw body with `--json` (SPEC §7).

use crate::client;
use crate::config::{Net, OutputOptions, SinkKind};
use crate::exit::{Failure, Kind};
use crate::output::Out;
use anyhow::Context;

/// The model list may be large, but not without bound.
const BODY_LIMIT: usize = 256 * 1024 * 1024;

pub fn list(net: &Net, opts: &OutputOptions) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Models {
        data: Vec<Model>,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        id: String,
    }
    let agent = client::agent(net)?;
    let url = net.url("models");
    let resp = client::send(&client::Request {
        agent: &agent,
        net,
        verbose: opts.verbose,
        url: &url,
        call: client::Call::Get,
        pacer: &client::Alone,
    })?;
    let body = client::read_body(resp, BODY_LIMIT, net)?;
    let mut out = Out::stdout();
    if opts.sink == SinkKind::JsonLines {
        // The raw body, ending in a newline.
        out.line(body.strip_suffix(b"\n").unwrap_or(&body));
    } else {
        let models: Models = serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                Kind::Server,
                format!(
                    "the model list from {} is not valid: {e}",
                    crate::secret::redact_userinfo(&url)
                ),
            )
        })?;
        let mut ids: Vec<String> = models.data.into_iter().map(|m| m.id).collect();
        ids.sort();
        for id in ids {
            out.line(id.as_bytes());
        }
    }
    out.flush().context("writing stdout")
}
