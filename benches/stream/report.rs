//! Turning samples into the printed tables: percentiles, units, verdicts,
//! and the `out!` line writer every suite's report uses.

use std::time::Duration;

/// `writeln!` into the report `String` (which cannot fail).
macro_rules! out {
    ($w:expr, $($arg:tt)*) => {{
        use ::std::fmt::Write as _;
        writeln!($w, $($arg)*).unwrap()
    }};
}
pub(crate) use out;

/// Nearest-rank percentile (`q` in 0..=1) of unsorted values.
pub fn pct<T: Copy + PartialOrd>(v: &[T], q: f64) -> T {
    assert!(!v.is_empty(), "no samples");
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[((s.len() - 1) as f64 * q).round() as usize]
}

pub fn max<T: Copy + PartialOrd>(v: &[T]) -> T {
    pct(v, 1.0)
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// Microseconds to the nanosecond: CPU time per chunk.
pub fn us3(d: Duration) -> String {
    format!("{:.3} µs", d.as_secs_f64() * 1e6)
}

pub fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**NOT met**"
    }
}

pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// `p50 / max` in ms, or "no data".
pub fn p50_max(v: Option<&[Duration]>) -> String {
    match v {
        Some(v) if !v.is_empty() => format!("{} / {}", ms(pct(v, 0.5)), ms(max(v))),
        _ => "no data".to_string(),
    }
}

/// `min | p50 | p90 | max` in ms, for a detail table's row.
pub fn spread(v: &[Duration]) -> String {
    format!(
        "{} | {} | {} | {}",
        ms(pct(v, 0.0)),
        ms(pct(v, 0.5)),
        ms(pct(v, 0.9)),
        ms(max(v))
    )
}

/// `/proc/loadavg`'s first three fields.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_string())
}
