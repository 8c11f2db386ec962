//! A conversation file (SPEC §10): load, lock, save atomically.
