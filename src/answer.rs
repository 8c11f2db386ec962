//! The answer as it accumulates: its text (kept as far as a check or a
//! conversation needs it), how it finished, and what the stream said about
//! it (id, model, provider, usage). Pure: fed by the stream engine, read by
//! the checks, the usage line and the conversation file.

use crate::chunk::{Chunk, Usage};

/// How much answer text to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// None: only the sink needs it, as it passes.
    Nothing,
    /// Up to this many bytes (the `--schema` check); past it, nothing.
    UpTo(usize),
    /// All of it, whatever its size (a conversation saves it).
    All,
}

#[derive(Debug)]
pub struct Answer {
    keep: Keep,
    text: String,
    overflow: bool,
    /// The first non-null `finish_reason`.
    pub finish_reason: Option<String>,
    /// The last value the stream reported for each.
    pub id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub usage: Option<Usage>,
}

/// What a chunk changed, for the `-v` trace.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Noted {
    pub new_id: bool,
    pub new_provider: bool,
}

impl Answer {
    pub fn new(keep: Keep) -> Answer {
        Answer {
            keep,
            text: String::new(),
            overflow: false,
            finish_reason: None,
            id: None,
            model: None,
            provider: None,
            usage: None,
        }
    }

    /// Adds answer text, as far as it is kept.
    pub fn push_text(&mut self, text: &str) {
        let limit = match self.keep {
            Keep::Nothing => return,
            _ if self.overflow => return,
            Keep::UpTo(limit) => limit,
            Keep::All => usize::MAX,
        };
        if self.text.len().saturating_add(text.len()) > limit {
            self.overflow = true;
            self.text = String::new();
        } else {
            self.text.push_str(text);
        }
    }

    /// The whole text, or `None` when it grew past the limit.
    pub fn text(&self) -> Option<&str> {
        (!self.overflow).then_some(self.text.as_str())
    }

    /// Records the chunk's id, model, provider and usage.
    pub fn note(&mut self, chunk: &Chunk<'_>) -> Noted {
        let mut noted = Noted::default();
        if let Some(id) = &chunk.id {
            noted.new_id = replace(&mut self.id, id.as_str());
        }
        if let Some(p) = &chunk.provider {
            noted.new_provider = replace(&mut self.provider, p.as_str());
        }
        if let Some(m) = &chunk.model {
            replace(&mut self.model, m.as_str());
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        noted
    }

    /// Records a finish reason; true when it is the first (the one that
    /// counts). Any non-null value counts, even Ollama's "".
    pub fn finish(&mut self, reason: &str) -> bool {
        if self.finish_reason.is_some() {
            return false;
        }
        self.finish_reason = Some(reason.to_string());
        true
    }
}

/// Sets `slot` to `value`; true when that changed it.
fn replace(slot: &mut Option<String>, value: &str) -> bool {
    if slot.as_deref() == Some(value) {
        return false;
    }
    *slot = Some(value.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_as_asked() {
        let mut a = Answer::new(Keep::Nothing);
        a.push_text("abc");
        assert_eq!(a.text(), Some(""));
        let mut a = Answer::new(Keep::UpTo(4));
        a.push_text("ab");
        a.push_text("cd");
        assert_eq!(a.text(), Some("abcd"));
        a.push_text("e");
        assert_eq!(a.text(), None, "past the limit nothing is kept");
        a.push_text("");
        assert_eq!(a.text(), None);
        let mut a = Answer::new(Keep::All);
        a.push_text("x");
        assert_eq!(a.text(), Some("x"));
    }

    #[test]
    fn notes_what_changed() {
        let mut a = Answer::new(Keep::Nothing);
        let c = Chunk::parse(r#"{"id":"g1","provider":"P","model":"m"}"#).unwrap();
        assert_eq!(
            a.note(&c),
            Noted {
                new_id: true,
                new_provider: true
            }
        );
        assert_eq!(a.note(&c), Noted::default());
        assert_eq!(
            (a.id.as_deref(), a.model.as_deref()),
            (Some("g1"), Some("m"))
        );
    }

    #[test]
    fn the_first_finish_reason_counts() {
        let mut a = Answer::new(Keep::Nothing);
        assert!(a.finish(""));
        assert!(!a.finish("stop"));
        assert_eq!(a.finish_reason.as_deref(), Some(""));
    }
}
