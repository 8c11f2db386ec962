//! `-x`: push answer text, get what may be written now (pure).
