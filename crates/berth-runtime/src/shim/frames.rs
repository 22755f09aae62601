//! The frames a shim sends on an attach or exec connection, after its reply line. They
//! are berth's own (the daemon turns them into Docker's stream format): a 5-byte header
//! `[kind, len_be32]`, then `len` bytes.

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FrameKind {
    Stdout = 1,
    Stderr = 2,
    /// The last frame: the exit code as decimal text.
    Exit = 3,
    /// An error message (a failed exec), sent before the exit frame.
    Error = 4,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Stdout,
            2 => Self::Stderr,
            3 => Self::Exit,
            4 => Self::Error,
            _ => return None,
        })
    }
}

pub(crate) const HEADER_LEN: usize = 5;

/// Largest payload a reader accepts: the shim never sends more than its read buffer.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

pub(crate) fn header(kind: FrameKind, len: usize) -> [u8; HEADER_LEN] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind as u8, n[0], n[1], n[2], n[3]]
}

pub(crate) fn encode(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(kind, payload.len()));
    out.extend_from_slice(payload);
    out
}

/// The kind and payload length of a header; None for one no shim sends.
pub(crate) fn decode_header(h: &[u8; HEADER_LEN]) -> Option<(FrameKind, usize)> {
    let kind = FrameKind::from_byte(h[0])?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    (len <= MAX_PAYLOAD).then_some((kind, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = encode(FrameKind::Stderr, b"oops");
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&f[..HEADER_LEN]);
        assert_eq!(decode_header(&h), Some((FrameKind::Stderr, 4)));
        assert_eq!(&f[HEADER_LEN..], b"oops");
        assert_eq!(decode_header(&[9, 0, 0, 0, 1]), None);
        assert_eq!(
            decode_header(&header(FrameKind::Stdout, MAX_PAYLOAD + 1)),
            None
        );
    }
}
