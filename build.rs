//! Link settings of the orstream executable on Linux with glibc, for a
//! faster start (issue 18; README "Linking"). Measured on a 1.9 ms short
//! request, stdout to a pipe:
//!
//! * `-no-pie`: a position-dependent executable has no relative relocations
//!   to apply at start (10,933 of them, which also made the dynamic loader
//!   write to, and so copy, 53 pages of its read-only-after-relocation
//!   data): -0.15 ms. The cost: the executable itself is loaded at a fixed
//!   address (its libraries, stack and heap are still randomised).
//! * the unwinder linked in (`libgcc_eh.a`, what `gcc -static-libgcc`
//!   does) instead of loading `libgcc_s.so.1`: one shared library fewer to
//!   find, map and relocate, -0.17 ms. Building needs gcc's `libgcc_eh.a`
//!   (part of every gcc install).
//!
//! `ORSTREAM_STANDARD_LINKING=1` at build time keeps rustc's defaults (a PIE
//! with `libgcc_s.so.1`), e.g. for a distribution whose policy wants PIE.
//! Fully static linking (`+crt-static`) was not taken: in
//! `.cargo/config.toml` it also applies to proc-macro crates, which cannot
//! be built that way, and with glibc it breaks name lookups through NSS
//! modules.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ORSTREAM_STANDARD_LINKING");
    let var = |name| std::env::var(name).unwrap_or_default();
    let standard = !var("ORSTREAM_STANDARD_LINKING").is_empty();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || standard {
        return;
    }
    // Linked before std's `-lgcc_s`, so `--as-needed` drops that library.
    // Every target of the package gets it (rustc-link-lib goes with the
    // library); only the executable gets -no-pie.
    println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
    println!("cargo::rustc-link-arg-bins=-no-pie");
}
