//! permessage-deflate (RFC 7692), the compression browsers offer: the offer and the reading of
//! the server's answer (`negotiate`), and the per-connection compressor and decompressor
//! (`codec`). A connection holds their state only when the server accepted; the writer
//! compresses data frames (RSV1 set), the reader inflates frames that carry RSV1.

mod codec;
mod negotiate;

pub use codec::{Deflater, InflateError, Inflater};
pub use negotiate::{Negotiated, OFFER, negotiate};

/// The frame header bit that marks a compressed message (on its first frame only).
pub const RSV1: u8 = 0b0100_0000;
