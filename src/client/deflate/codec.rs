//! The two halves of permessage-deflate on one connection: the client's compressor for the
//! data frames it sends, and its decompressor for the server's, each with its window kept from
//! message to message (context takeover) unless the negotiation said otherwise. Both write into
//! one buffer of their own that is reused for every message, and make their zlib state on first
//! use.

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::Negotiated;

/// What a sync flush ends with; RFC 7692 takes it off each compressed message (and the
/// receiver puts it back).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Smallest output step while inflating: a heartbeat inflates in one step.
const INFLATE_STEP: usize = 4096;

/// The client's compressor.
#[derive(Debug)]
pub struct Deflater {
    /// The window to compress with; `None` when the server asked for an 8-bit window: zlib
    /// (and zlib-rs) compress raw deflate with 9 bits at least, so those messages go out
    /// uncompressed (RSV1 clear), which the extension allows message by message.
    window_bits: Option<u8>,
    /// Made on the first message: its state (about 200 KiB at 15 bits) is the bulk of what
    /// deflate costs a connection, and a connection that sends only pings never needs it.
    compress: Option<Compress>,
    /// `client_no_context_takeover`: every message starts from an empty window.
    reset_after_message: bool,
    /// The last compressed message.
    out: Vec<u8>,
}

impl Deflater {
    pub fn new(negotiated: &Negotiated) -> Self {
        let bits = negotiated.client_max_window_bits;
        Self {
            window_bits: (bits >= 9).then_some(bits),
            compress: None,
            reset_after_message: negotiated.client_no_context_takeover,
            out: Vec::new(),
        }
    }

    /// Compresses one whole message; the payload of its frame (sync tail removed), or `None`
    /// when it is to go out uncompressed.
    pub fn compress(&mut self, message: &[u8]) -> Option<&[u8]> {
        let bits = self.window_bits?;
        let compress = self.compress.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::default(), false, bits)
        });
        if message.is_empty() {
            // zlib emits nothing for a second sync flush in a row; an empty stored block's
            // first byte is what the extension sends for an empty message (RFC 7692 7.2.3.6),
            // and it leaves the window as it was.
            return Some(&[0x00]);
        }
        self.out.clear();
        let start = compress.total_in();
        let mut failed = false;
        loop {
            let taken = (compress.total_in() - start) as usize;
            if self.out.capacity() - self.out.len() < 64 {
                self.out.reserve((message.len() - taken) / 2 + 64);
            }
            let Some(rest) = message.get(taken..) else {
                failed = true;
                break;
            };
            if compress
                .compress_vec(rest, &mut self.out, FlushCompress::Sync)
                .is_err()
            {
                failed = true;
                break;
            }
            // Done when all input is in and the flush left room: nothing more is pending.
            let all_in = (compress.total_in() - start) as usize == message.len();
            if all_in && self.out.len() < self.out.capacity() {
                break;
            }
        }
        if failed {
            // The window is unknown now; start over and send this message as it is.
            compress.reset();
            return None;
        }
        if self.out.ends_with(&SYNC_TAIL) {
            self.out.truncate(self.out.len() - SYNC_TAIL.len());
        }
        if self.reset_after_message {
            compress.reset();
        }
        Some(&self.out)
    }
}

/// Why a compressed message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The message inflates past the frame limit (a decompression bomb, or just too big).
    TooBig,
    /// The payload is not valid deflate data.
    Corrupt(String),
}

/// The client's decompressor.
pub struct Inflater {
    /// Always a 15-bit window: it reads what any smaller window wrote, and zlib-rs allocates
    /// the window on first use.
    /// Made on the first compressed frame.
    decompress: Option<Decompress>,
    /// The message being inflated; handed out with `split`, so the allocation comes back once
    /// the frame is dropped.
    out: BytesMut,
    /// Bytes inflated so far of the current message.
    message_len: usize,
    /// Most bytes one message may inflate to.
    limit: usize,
    /// Within a fragmented message whose first frame was compressed.
    pub in_message: bool,
    /// The current message ended its deflate stream with a final block.
    stream_ended: bool,
}

impl Inflater {
    pub fn new(limit: usize) -> Self {
        Self {
            decompress: None,
            out: BytesMut::new(),
            message_len: 0,
            limit,
            in_message: false,
            stream_ended: false,
        }
    }

    /// Inflates one frame's payload: `first` and `last` say where the frame is in its message.
    /// Its inflated bytes, or an error once the message passes the limit (memory held stays
    /// under the limit plus one step) or the data is not deflate.
    pub fn inflate(
        &mut self,
        payload: &[u8],
        first: bool,
        last: bool,
    ) -> Result<Bytes, InflateError> {
        if first {
            self.message_len = 0;
            self.stream_ended = false;
        }
        self.out.clear();
        self.feed(payload)?;
        // After a final block the sync tail put back belongs to nothing.
        if last && !self.stream_ended {
            self.feed(&SYNC_TAIL)?;
        }
        self.in_message = !last;
        Ok(self.out.split().freeze())
    }

    fn feed(&mut self, input: &[u8]) -> Result<(), InflateError> {
        let decompress = self
            .decompress
            .get_or_insert_with(|| Decompress::new(false));
        let mut taken = 0;
        loop {
            let room = self.limit.saturating_sub(self.message_len) + 1;
            let step = room.min(INFLATE_STEP.max(2 * (input.len() - taken)));
            let start = self.out.len();
            self.out.resize(start + step, 0);
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            let status = decompress
                .decompress(
                    &input[taken..],
                    &mut self.out[start..],
                    FlushDecompress::Sync,
                )
                .map_err(|e| InflateError::Corrupt(e.to_string()));
            let took = (decompress.total_in() - in_before) as usize;
            let made = (decompress.total_out() - out_before) as usize;
            self.out.truncate(start + made);
            taken += took;
            self.message_len += made;
            if self.message_len > self.limit {
                return Err(InflateError::TooBig);
            }
            match status? {
                // A final block ends the deflate stream: the next message starts a new one.
                Status::StreamEnd => {
                    decompress.reset(false);
                    self.stream_ended = true;
                }
                // Data after a final block starts a new stream, which needs its tail.
                Status::Ok | Status::BufError if took > 0 => self.stream_ended = false,
                Status::Ok | Status::BufError => {}
            }
            let output_left = made < step;
            if (taken == input.len() && output_left) || (took == 0 && made == 0) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(client_bits: u8, no_takeover: bool) -> Negotiated {
        Negotiated {
            client_max_window_bits: client_bits,
            client_no_context_takeover: no_takeover,
            ..Negotiated::default()
        }
    }

    /// A message that compresses well, `n` bytes long.
    fn compressible(n: usize) -> Vec<u8> {
        b"heartbeat {\"seq\": 12345, \"ok\": true} "
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()
    }

    /// Bytes that do not compress (a simple xorshift stream).
    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn messages_round_trip_with_context_takeover_and_later_ones_shrink() {
        let mut deflater = Deflater::new(&Negotiated::default());
        let mut inflater = Inflater::new(1 << 20);
        let message = compressible(300);
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let compressed = deflater.compress(&message).expect("compressed").to_vec();
            assert!(!compressed.ends_with(&SYNC_TAIL));
            sizes.push(compressed.len());
            let back = inflater.inflate(&compressed, true, true).expect("inflates");
            assert_eq!(&back[..], &message[..]);
        }
        assert!(sizes[0] < 300, "{sizes:?}");
        assert!(
            sizes[1] < sizes[0],
            "the window remembers the first message: {sizes:?}"
        );
        let random = noise(5000);
        let compressed = deflater.compress(&random).expect("compressed").to_vec();
        let back = inflater.inflate(&compressed, true, true).expect("inflates");
        assert_eq!(&back[..], &random[..]);
        let empty = deflater.compress(b"").expect("compressed").to_vec();
        assert_eq!(empty, [0x00], "RFC 7692 7.2.3.6");
        assert!(
            inflater
                .inflate(&empty, true, true)
                .expect("inflates")
                .is_empty()
        );
    }

    #[test]
    fn no_context_takeover_restarts_each_message_and_small_windows_are_honoured() {
        let message = compressible(300);
        let mut reset = Deflater::new(&negotiated(15, true));
        let first = reset.compress(&message).expect("compressed").to_vec();
        let second = reset.compress(&message).expect("compressed").to_vec();
        assert_eq!(first, second, "each message starts from an empty window");
        // A 9-bit window (512 bytes) reaches back no further than that: an inflater with the
        // same window reads it.
        let mut small = Deflater::new(&negotiated(9, false));
        let mut inflater = Inflater {
            decompress: Some(Decompress::new_with_window_bits(false, 9)),
            ..Inflater::new(1 << 20)
        };
        let long = compressible(20_000);
        for _ in 0..2 {
            let compressed = small.compress(&long).expect("compressed").to_vec();
            let back = inflater.inflate(&compressed, true, true).expect("inflates");
            assert_eq!(&back[..], &long[..]);
        }
        let mut eight = Deflater::new(&negotiated(8, false));
        assert_eq!(eight.compress(&message), None, "sent uncompressed");
    }

    #[test]
    fn a_message_inflating_past_the_limit_fails_before_it_is_held() {
        let mut deflater = Deflater::new(&Negotiated::default());
        let bomb = deflater
            .compress(&vec![0u8; 1 << 20])
            .expect("compressed")
            .to_vec();
        assert!(bomb.len() < 2048, "{} bytes", bomb.len());
        let mut inflater = Inflater::new(64 * 1024);
        assert_eq!(
            inflater.inflate(&bomb, true, true),
            Err(InflateError::TooBig)
        );
        assert!(inflater.out.len() <= 64 * 1024 + 1);
        // Fragments count together: each under the limit, the message over it.
        let mut deflater = Deflater::new(&Negotiated::default());
        let message = deflater
            .compress(&compressible(100 * 1024))
            .expect("compressed")
            .to_vec();
        let (first, second) = message.split_at(message.len() / 2);
        let mut inflater = Inflater::new(64 * 1024);
        let start = inflater
            .inflate(first, true, false)
            .expect("under the limit");
        assert!(start.len() < 64 * 1024, "{} bytes", start.len());
        assert_eq!(
            inflater.inflate(second, false, true),
            Err(InflateError::TooBig)
        );
    }

    #[test]
    fn garbage_is_corrupt_and_a_final_block_starts_a_new_stream() {
        let mut inflater = Inflater::new(1024);
        assert!(matches!(
            inflater.inflate(&[0xff, 0xff, 0xff], true, true),
            Err(InflateError::Corrupt(_))
        ));
        // A whole deflate stream (final block) per message, as some servers send.
        let mut inflater = Inflater::new(1024);
        for text in [&b"one"[..], b"two"] {
            let mut c = Compress::new(Compression::default(), false);
            let mut out = Vec::with_capacity(64);
            c.compress_vec(text, &mut out, FlushCompress::Finish)
                .expect("compress");
            let back = inflater.inflate(&out, true, true).expect("inflates");
            assert_eq!(&back[..], text);
        }
    }
}
