//! Detach keys (`ctrl-p,ctrl-q` by default, `detachKeys` of attach and exec): the
//! sequence typed on an attached stdin ends the attach and leaves the process running,
//! as dockerd's escape proxy does; bytes that start the sequence but do not finish it
//! are passed on.

use crate::error::{DaemonError, Result};

pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// `ctrl-p,ctrl-q` → `[0x10, 0x11]`; `a` is itself; `ctrl-@`, `ctrl-[` … `ctrl-_` too.
pub fn parse(spec: &str) -> Result<Vec<u8>> {
    let bad = || DaemonError::InvalidParameter(format!("Invalid detach keys ({spec}) provided"));
    let mut out = vec![];
    for key in spec.split(',') {
        let b = match key.strip_prefix("ctrl-") {
            Some(k) if k.len() == 1 => {
                let c = k.as_bytes()[0].to_ascii_lowercase();
                match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(bad()),
                }
            }
            Some(_) => return Err(bad()),
            None if key.len() == 1 => key.as_bytes()[0],
            None => return Err(bad()),
        };
        out.push(b);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Watches a stdin stream for the sequence.
#[derive(Debug)]
pub struct Escape {
    keys: Vec<u8>,
    /// How many of the keys the input has matched so far (held back, not yet passed on).
    matched: usize,
}

/// What a chunk of input gives: bytes to pass on, and whether the sequence was typed.
#[derive(Debug, PartialEq, Eq)]
pub struct Filtered {
    pub pass: Vec<u8>,
    pub detach: bool,
}

impl Escape {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Filtered {
        let mut pass = Vec::with_capacity(chunk.len());
        for &b in chunk {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Filtered { pass, detach: true };
                }
                continue;
            }
            // A false start: what was held back goes on, and this byte may begin anew.
            pass.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return Filtered { pass, detach: true };
                }
            } else {
                pass.push(b);
            }
        }
        Filtered {
            pass,
            detach: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(parse(DEFAULT).unwrap(), [0x10, 0x11]);
        assert_eq!(parse("ctrl-a,x").unwrap(), [1, b'x']);
        assert_eq!(parse("ctrl-@,ctrl-[,ctrl-_").unwrap(), [0, 27, 31]);
        assert!(parse("ctrl-").is_err());
        assert!(parse("ctrl-1").is_err());
        assert!(parse("shift-a").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_false_starts_pass() {
        let mut e = Escape::new(parse(DEFAULT).unwrap());
        assert_eq!(
            e.feed(b"ab\x10c"),
            Filtered {
                pass: b"ab\x10c".to_vec(),
                detach: false
            }
        );
        // Split across chunks, with a repeated first key.
        assert_eq!(e.feed(b"x\x10").pass, b"x");
        assert_eq!(
            e.feed(b"\x10\x11rest"),
            Filtered {
                pass: b"\x10".to_vec(),
                detach: true
            }
        );
        let mut one = Escape::new(parse("ctrl-x").unwrap());
        assert_eq!(
            one.feed(b"ab\x18"),
            Filtered {
                pass: b"ab".to_vec(),
                detach: true
            }
        );
    }
}
