//! The floor (issue 18): orstream's short request against the least a
//! client can do, and its TLS short request against curl, all in the same
//! interleaved rounds.
//!
//! * **short request vs the minimal client**: `benches/floor/client.c`
//!   (POST, de-chunk, print each `data:` line's `"content":"…"` by substring,
//!   one write per read) is compiled with `gcc -O2` into a fresh temp dir
//!   when the suite starts, and orstream's release binary is copied into the
//!   same dir, so both are newly written files of the same file system,
//!   equally in the page cache. Both fetch `/bulk/20/k32` (20 content chunks,
//!   then the finish, usage and `[DONE]` events) from the **serial**
//!   listener of [`crate::server`] (one thread serves one connection after
//!   the other: no thread is created per connection).
//! * **TLS**: orstream over https with `SSL_CERT_FILE=tests/fixtures/ca.pem`
//!   against `curl -sN --cacert ca.pem`, and orstream with `SSL_CERT_FILE` =
//!   the system bundle followed by the test CA (what reading a real bundle
//!   costs), both against the serial TLS listener.
//! * `true` is timed the same way, as the spawn floor.
//!
//! Every round runs each client once, in an order rotated each round; round
//! 0 warms up and is not counted. Time is spawn → reaped. A figure is the
//! **median of the per-round ratios** (orstream's time over the other
//! client's in the same round, so a disturbance of the shared machine hits
//! both sides of a ratio alike), with the min / p25 / p75 / max of those
//! ratios. `ORSTREAM_BENCH_BASELINE=PATH` adds another orstream binary
//! (copied the same way) to every round, for before/after figures taken
//! under the same load.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::body::{Body, Framing};
use crate::child::{self, hermetic, which, Status};
use crate::clients::big_bundle;
use crate::report::{load_average, ms, out, pct, spread, verdict};
use crate::server::{fixture, Server};
use crate::Bench;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Client {
    Orstream,
    /// The same, from `ORSTREAM_BENCH_BASELINE`.
    Baseline,
    Minimal,
    Spawn,
    OrstreamTls,
    OrstreamTlsBundle,
    CurlTls,
}

/// The binaries run from the fresh temp dir.
struct Bins {
    dir: PathBuf,
    orstream: PathBuf,
    baseline: Option<PathBuf>,
    minimal: PathBuf,
}

/// A new file `name` in `dir` with the bytes of `from` (mode included).
fn copy_in(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    to
}

/// Compiles the minimal client and copies orstream (and the baseline) into
/// a new temp dir.
fn prepare() -> Bins {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let minimal = dir.join("client");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/floor/client.c");
    let built = Command::new(which("gcc"))
        .args(["-O2", "-o"])
        .arg(&minimal)
        .arg(source)
        .status()
        .expect("gcc (the floor suite compiles benches/floor/client.c)");
    assert!(built.success(), "gcc -O2 {source}: {built}");
    let orstream = copy_in(env!("CARGO_BIN_EXE_orstream").as_ref(), &dir, "orstream");
    let baseline = std::env::var_os("ORSTREAM_BENCH_BASELINE")
        .map(|p| copy_in(Path::new(&p), &dir, "orstream-baseline"));
    Bins {
        dir,
        orstream,
        baseline,
        minimal,
    }
}

const SCENARIO: &str = "bulk/20/k32";

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Orstream => "orstream",
            Client::Baseline => "orstream (ORSTREAM_BENCH_BASELINE)",
            Client::Minimal => "minimal client (benches/floor/client.c, gcc -O2)",
            Client::Spawn => "`true` (spawn floor)",
            Client::OrstreamTls => "orstream https, SSL_CERT_FILE=ca.pem",
            Client::OrstreamTlsBundle => "orstream https, SSL_CERT_FILE=system bundle + ca.pem",
            Client::CurlTls => "curl -sN https --cacert ca.pem",
        }
    }

    fn command(self, bins: &Bins, server: &Server) -> Command {
        let orstream = |bin: &Path, base: String| {
            let mut c = Command::new(bin);
            hermetic(&mut c).args(["--base-url", &base, "--retries", "0", "hi"]);
            c
        };
        match self {
            Client::Orstream => orstream(&bins.orstream, server.serial_url(SCENARIO)),
            Client::Baseline => orstream(
                bins.baseline.as_deref().expect("baseline"),
                server.serial_url(SCENARIO),
            ),
            Client::Minimal => {
                let mut c = Command::new(&bins.minimal);
                hermetic(&mut c)
                    .arg(server.serial_port().to_string())
                    .arg(format!("/{SCENARIO}/chat/completions"));
                c
            }
            Client::Spawn => {
                let mut c = Command::new(which("true"));
                hermetic(&mut c);
                c
            }
            Client::OrstreamTls | Client::OrstreamTlsBundle => {
                let mut c = orstream(&bins.orstream, server.serial_tls_url(SCENARIO));
                let roots = match self {
                    Client::OrstreamTls => fixture("ca.pem"),
                    _ => big_bundle().to_string(),
                };
                c.env("SSL_CERT_FILE", roots);
                c
            }
            Client::CurlTls => {
                let mut c = Command::new(which("curl"));
                hermetic(&mut c)
                    .args(["-sN", "-X", "POST", "-d", "{}", "--cacert"])
                    .arg(fixture("ca.pem"))
                    .arg(format!(
                        "{}/chat/completions",
                        server.serial_tls_url(SCENARIO)
                    ));
                c
            }
        }
    }

    fn expected_len(self, b: &Body) -> usize {
        match self {
            Client::Spawn => 0,
            Client::CurlTls => b.sse_len.0,
            _ => b.text_len.0,
        }
    }
}

/// The rows: orstream's client, what it is held to, the target ratio.
const ROWS: [(Client, Client, f64); 3] = [
    (Client::Orstream, Client::Minimal, 1.3),
    (Client::OrstreamTls, Client::CurlTls, 0.30),
    (Client::OrstreamTlsBundle, Client::CurlTls, 0.33),
];

/// Spawn → reaped of every counted round, per client, in round order.
pub struct Floor {
    rounds: usize,
    clients: Vec<Client>,
    walls: HashMap<Client, Vec<Duration>>,
    cpu: HashMap<Client, Vec<Duration>>,
    load: (String, String),
}

pub fn run(bench: &Bench, anomalies: &mut Vec<String>) -> Floor {
    let (server, rounds) = (&bench.server, bench.plan.floor_rounds);
    let bins = prepare();
    let mut clients = vec![Client::Orstream, Client::Minimal, Client::Spawn];
    clients.extend(bins.baseline.as_ref().map(|_| Client::Baseline));
    clients.extend([
        Client::OrstreamTls,
        Client::OrstreamTlsBundle,
        Client::CurlTls,
    ]);
    bench.say(format!(
        "floor: {rounds} rounds of {} clients, interleaved",
        clients.len()
    ));
    big_bundle();
    let body = server.state.body(20, Framing::K32);
    let load_before = load_average();
    let mut walls: HashMap<Client, Vec<Duration>> = HashMap::new();
    let mut cpu: HashMap<Client, Vec<Duration>> = HashMap::new();
    for round in 0..=rounds {
        let mut order = clients.clone();
        order.rotate_left(round % clients.len());
        for client in order {
            let mut run = child::spawn(client.name(), client.command(&bins, server));
            let drain = run.drain((), |_, _| {});
            let (r, err) = run.finish();
            let len = drain.join().map_or(0, |(n, _)| n);
            if r.status != Status::Code(0) || len != client.expected_len(&body) {
                anomalies.push(format!(
                    "{} (floor): exit {:?}, {len} bytes on stdout; stderr: {err:?}",
                    client.name(),
                    r.status
                ));
            }
            if round > 0 {
                walls.entry(client).or_default().push(r.wall);
                cpu.entry(client).or_default().push(r.cpu);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&bins.dir);
    Floor {
        rounds,
        clients,
        walls,
        cpu,
        load: (load_before, load_average()),
    }
}

impl Floor {
    /// `a`'s time over `b`'s, round by round.
    fn ratios(&self, a: Client, b: Client) -> Vec<f64> {
        let (a, b) = (&self.walls[&a], &self.walls[&b]);
        a.iter()
            .zip(b)
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect()
    }

    fn median(&self, c: Client) -> Duration {
        pct(&self.walls[&c], 0.5)
    }

    pub fn report(&self, w: &mut String) {
        if !w.ends_with("\n\n") {
            w.push('\n');
        }
        out!(
            w,
            "### The floor (issue 18): short request vs a minimal client, TLS vs curl, same rounds\n"
        );
        out!(
            w,
            "{} counted rounds, each client once per round in a rotating order, against the serial\n\
             listeners; binaries run from a fresh temp dir. Ratio: median of the per-round ratios\n\
             (min / p25 / p75 / max). Load average before / after: {} / {}.\n",
            self.rounds,
            self.load.0,
            self.load.1
        );
        out!(
            w,
            "| figure | orstream p50 | other p50 | orstream / other per round: median (min / p25 / p75 / max) | target | result |"
        );
        out!(w, "|---|---|---|---|---|---|");
        let mut rows = ROWS.to_vec();
        if self.clients.contains(&Client::Baseline) {
            rows.insert(1, (Client::Baseline, Client::Minimal, 1.3));
        }
        for (a, b, target) in rows {
            let r = self.ratios(a, b);
            let med = pct(&r, 0.5);
            out!(
                w,
                "| {} vs {} | {} | {} | {:.3}× ({:.2} / {:.2} / {:.2} / {:.2}) | ≤ {target:.2}× | {} |",
                a.name(),
                b.name(),
                ms(self.median(a)),
                ms(self.median(b)),
                med,
                pct(&r, 0.0),
                pct(&r, 0.25),
                pct(&r, 0.75),
                pct(&r, 1.0),
                verdict(med <= target)
            );
        }
        out!(
            w,
            "\n| client | min | p50 | p90 | max | CPU (user+sys) p50 |"
        );
        out!(w, "|---|---|---|---|---|---|");
        for c in &self.clients {
            out!(
                w,
                "| {} | {} | {} |",
                c.name(),
                spread(&self.walls[c]),
                ms(pct(&self.cpu[c], 0.5))
            );
        }
    }
}
