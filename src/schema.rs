//! `--schema`: concise syntax → JSON Schema; the answer check (exit 8) (pure).
