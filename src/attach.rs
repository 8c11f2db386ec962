//! Attachments (SPEC §8): an argument → its kind by magic bytes → a content part (pure).
