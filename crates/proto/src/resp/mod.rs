//! RESP2/RESP3: frames, request decoding, reply encoding, tokio-util codec.
//!
//! - `frame`: [`Frame`], the one in-memory form of a RESP value, and [`Protocol`].
//! - `decode`: [`RequestDecoder`] (client requests: multibulk and inline, Redis's limits and
//!   error texts) and [`FrameDecoder`] (any RESP2/RESP3 value). Both carry each item's wire
//!   length, the unit of replication offsets.
//! - `encode`: [`encode`] (replies, with the RESP2 downgrades), [`encode_command`] (the
//!   replication/AOF form) and [`format_double`] (Redis 7.0's `%.17g`).
//! - `codec`: [`RequestCodec`] and [`FrameCodec`] for `tokio_util::codec::Framed`.
//! - `error`: [`ProtoError`], whose `Display` is the text after `-ERR `.
//!
//! Flow on a server connection: socket bytes -> [`RequestDecoder`] -> `Request { argv }` ->
//! command table (store) -> reply [`Frame`] -> [`encode`] -> socket. On a malformed request
//! the connection writes [`ProtoError::reply`] and closes, as Redis does.

mod codec;
mod decode;
mod encode;
mod error;
mod frame;
mod inline;
mod scan;

pub use codec::{CodecError, FrameCodec, RequestCodec};
pub use decode::{Decoded, FrameDecoder, Limits, Request, RequestDecoder};
pub use encode::{encode, encode_command, format_double};
pub use error::ProtoError;
pub use frame::{Frame, Protocol};
pub use inline::{quote_arg, split_args};
