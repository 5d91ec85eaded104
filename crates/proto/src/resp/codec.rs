//! tokio-util codecs over the decoders and the encoder, for `Framed` sockets.
//!
//! - [`RequestCodec`]: the server side of a connection: decodes [`Request`]s, encodes reply
//!   [`Frame`]s in the connection's [`Protocol`] (switched by `HELLO`).
//! - [`FrameCodec`]: the client side (a replica talking to its primary, tests): decodes any
//!   reply as [`Decoded`], encodes commands given as argv.
//!
//! After `+FULLRESYNC` the RDB payload is not a RESP frame; the replica switches codecs with
//! `Framed::into_parts` / `map_codec` without losing buffered bytes.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::decode::{Decoded, FrameDecoder, Limits, Request, RequestDecoder};
use super::encode::{encode, encode_command};
use super::error::ProtoError;
use super::frame::{Frame, Protocol};

/// Why a framed stream ended: a protocol error or the socket's I/O error.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Proto(#[from] ProtoError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Server side: requests in, replies out.
#[derive(Debug, Default)]
pub struct RequestCodec {
    decoder: RequestDecoder,
    protocol: Protocol,
}

impl RequestCodec {
    pub fn new(limits: Limits) -> RequestCodec {
        RequestCodec {
            decoder: RequestDecoder::new(limits),
            protocol: Protocol::Resp2,
        }
    }

    /// Wraps a configured decoder (e.g. [`RequestDecoder::primary_link`]).
    pub fn with_decoder(decoder: RequestDecoder) -> RequestCodec {
        RequestCodec {
            decoder,
            protocol: Protocol::Resp2,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sets the protocol replies are encoded in (after `HELLO 2|3`).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    pub fn decoder(&self) -> &RequestDecoder {
        &self.decoder
    }

    /// For settings that change during a connection (`auth_required` after `AUTH`).
    pub fn decoder_mut(&mut self) -> &mut RequestDecoder {
        &mut self.decoder
    }
}

impl Decoder for RequestCodec {
    type Item = Request;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, CodecError> {
        Ok(self.decoder.decode_request(buf)?)
    }
}

impl Encoder<Frame> for RequestCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, out: &mut BytesMut) -> Result<(), CodecError> {
        encode(&frame, self.protocol, out);
        Ok(())
    }
}

impl Encoder<&Frame> for RequestCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), CodecError> {
        encode(frame, self.protocol, out);
        Ok(())
    }
}

/// Client side: commands out, any reply in.
#[derive(Debug, Default)]
pub struct FrameCodec {
    decoder: FrameDecoder,
}

impl FrameCodec {
    pub fn new(limits: Limits) -> FrameCodec {
        FrameCodec {
            decoder: FrameDecoder::new(limits),
        }
    }

    pub fn decoder(&self) -> &FrameDecoder {
        &self.decoder
    }

    pub fn decoder_mut(&mut self) -> &mut FrameDecoder {
        &mut self.decoder
    }
}

impl Decoder for FrameCodec {
    type Item = Decoded;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, CodecError> {
        Ok(self.decoder.decode_frame(buf)?)
    }
}

impl<A: AsRef<[u8]>> Encoder<&[A]> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, argv: &[A], out: &mut BytesMut) -> Result<(), CodecError> {
        encode_command(argv, out);
        Ok(())
    }
}

impl<A: AsRef<[u8]>> Encoder<Vec<A>> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, argv: Vec<A>, out: &mut BytesMut) -> Result<(), CodecError> {
        encode_command(&argv, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn request_codec_round_trip_and_protocol_switch() {
        let mut codec = RequestCodec::default();
        let mut buf = BytesMut::from(&b"*1\r\n$5\r\nHELLO\r\nPING\r\n"[..]);
        let first = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(first.argv, vec![Bytes::from_static(b"HELLO")]);
        assert_eq!(first.wire_len, 15);
        let second = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(second.argv, vec![Bytes::from_static(b"PING")]);
        assert_eq!(second.wire_len, 6);
        assert!(codec.decode(&mut buf).unwrap().is_none());

        let mut out = BytesMut::new();
        codec.encode(Frame::Null, &mut out).unwrap();
        codec.set_protocol(Protocol::Resp3);
        codec.encode(&Frame::Null, &mut out).unwrap();
        assert_eq!(&out[..], b"$-1\r\n_\r\n");
    }

    #[test]
    fn request_codec_reports_protocol_errors() {
        let mut codec = RequestCodec::default();
        let mut buf = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            CodecError::Proto(ProtoError::InvalidBulkLength)
        ));
        assert_eq!(err.to_string(), "Protocol error: invalid bulk length");
    }

    #[test]
    fn frame_codec_sends_commands_and_reads_replies() {
        let mut codec = FrameCodec::default();
        let mut out = BytesMut::new();
        codec
            .encode(&["REPLCONF", "ACK", "0"][..], &mut out)
            .unwrap();
        codec
            .encode(vec![Bytes::from_static(b"PING")], &mut out)
            .unwrap();
        assert_eq!(
            &out[..],
            b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n"
        );

        let mut buf = BytesMut::from(&b"+PONG\r\n:12\r\n"[..]);
        let got = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            got,
            Decoded {
                frame: Frame::simple("PONG"),
                wire_len: 7
            }
        );
        let got = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            got,
            Decoded {
                frame: Frame::Integer(12),
                wire_len: 5
            }
        );
    }
}
