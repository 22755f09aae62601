//! Docker's multiplexed stream framing (`application/vnd.docker.multiplexed-stream`):
//! each frame is an 8-byte header `[stream, 0, 0, 0, len_be32]` followed by `len` bytes.

/// Which stream a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamKind {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
    /// berth's own: the last frame of a shim stream carries the exit code as decimal text.
    /// Never sent to Docker clients.
    Exit = 3,
    /// berth's own: an error message from the shim, sent before the stream closes.
    Error = 4,
}

impl StreamKind {
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Stdin,
            1 => Self::Stdout,
            2 => Self::Stderr,
            3 => Self::Exit,
            4 => Self::Error,
            _ => return None,
        })
    }
}

pub const HEADER_LEN: usize = 8;

/// The header of one frame carrying `len` bytes of `kind`.
pub fn frame_header(kind: StreamKind, len: usize) -> [u8; HEADER_LEN] {
    let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [kind as u8, 0, 0, 0, n[0], n[1], n[2], n[3]]
}

/// One whole frame.
pub fn encode_frame(kind: StreamKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&frame_header(kind, payload.len()));
    out.extend_from_slice(payload);
    out
}

/// Parses a header into its stream and payload length.
pub fn decode_header(h: &[u8; HEADER_LEN]) -> Option<(StreamKind, usize)> {
    let kind = StreamKind::from_byte(h[0])?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    Some((kind, len))
}

/// Incremental decoder: feed bytes, take whole frames out.
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, if one is buffered. A header with an unknown stream byte is
    /// reported as `Err` with that byte.
    pub fn next_frame(&mut self) -> Result<Option<(StreamKind, Vec<u8>)>, u8> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[..HEADER_LEN]);
        let (kind, len) = decode_header(&h).ok_or(h[0])?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((kind, payload)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_split_across_reads() {
        let mut bytes = encode_frame(StreamKind::Stdout, b"hello");
        bytes.extend(encode_frame(StreamKind::Stderr, b""));
        bytes.extend(encode_frame(StreamKind::Stderr, b"err"));
        let mut d = FrameDecoder::default();
        let mut got = vec![];
        for chunk in bytes.chunks(3) {
            d.push(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                (StreamKind::Stdout, b"hello".to_vec()),
                (StreamKind::Stderr, vec![]),
                (StreamKind::Stderr, b"err".to_vec())
            ]
        );
    }

    #[test]
    fn unknown_stream_is_an_error() {
        let mut d = FrameDecoder::default();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert_eq!(d.next_frame(), Err(9));
    }
}
