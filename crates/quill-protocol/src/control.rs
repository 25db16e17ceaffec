//! Control messages from a daemon process to its supervisor, on the pipe
//! the supervisor gives it as fd 4 ([`crate::spec::CONTROL_FD`]): one line
//! per message, so that a message is one `write` and a reader never sees
//! half of one.
//!
//! ```text
//!   daemon ── "retiring maximum_requests\n" ──▶ supervisor
//!             (it starts the replacement before the old process exits)
//! ```

/// A message a daemon process sends its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// The process is about to retire (finish its requests, then exit):
    /// start its replacement now. `reason` is mod_wsgi's name for the
    /// cause (`maximum_requests`, `inactivity_timeout`, `request_timeout`,
    /// `deadlock_timeout`, `startup_timeout`, `graceful_signal`, …).
    Retiring { reason: String },
}

/// A line that is not a control message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a control message: {0:?}")]
pub struct UnknownMessage(pub String);

impl ControlMessage {
    /// The message as one line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ControlMessage::Retiring { reason } => {
                // A reason is one word: a newline would split the message.
                let reason: String = reason
                    .chars()
                    .map(|c| if c.is_whitespace() { '_' } else { c })
                    .collect();
                format!("retiring {reason}\n").into_bytes()
            }
        }
    }

    /// A line read from the pipe, without its newline.
    pub fn decode(line: &str) -> Result<ControlMessage, UnknownMessage> {
        match line.split_once(' ') {
            Some(("retiring", reason)) if !reason.is_empty() => Ok(ControlMessage::Retiring {
                reason: reason.to_string(),
            }),
            _ => Err(UnknownMessage(line.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_the_round_trip_as_one_line() {
        let m = ControlMessage::Retiring {
            reason: "maximum_requests".into(),
        };
        let line = m.encode();
        assert_eq!(line, b"retiring maximum_requests\n");
        let text = std::str::from_utf8(&line).expect("utf-8");
        assert_eq!(ControlMessage::decode(text.trim_end()), Ok(m));
    }

    #[test]
    fn a_reason_never_splits_the_line() {
        let m = ControlMessage::Retiring {
            reason: "two words\nand a line".into(),
        };
        let line = m.encode();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(
            ControlMessage::decode(std::str::from_utf8(&line).expect("utf-8").trim_end()),
            Ok(ControlMessage::Retiring {
                reason: "two_words_and_a_line".into()
            })
        );
    }

    #[test]
    fn other_lines_are_refused() {
        assert!(ControlMessage::decode("retiring").is_err());
        assert!(ControlMessage::decode("hello there").is_err());
        assert!(ControlMessage::decode("").is_err());
    }
}
