//! The ISO 8583 codec the hosts use: the ASCII 1987 dialect (`iso8583::spec::ASCII87`, the
//! layout pyiso8583's `default_ascii` uses), requests matched to responses by STAN (DE 11), RRN
//! (DE 37) and terminal (DE 41).

use iso8583::{Message, Mti, ResponseCode, spec::ASCII87};

use crate::{Codec, DecodeFailure, EncodeFailure};

/// Matching key: STAN, RRN, terminal id (absent fields are empty).
pub type IsoKey = (u32, String, String);

/// ISO 8583:1987 in the ASCII dialect.
#[derive(Clone, Copy, Debug, Default)]
pub struct IsoCodec;

fn key(msg: &Message) -> Option<IsoKey> {
    let stan = msg.stan()?;
    let rrn = msg.rrn().unwrap_or_default().to_owned();
    let terminal = msg.terminal_id().unwrap_or_default().to_owned();
    Some((stan, rrn, terminal))
}

/// A format-error answer (DE 39 = 30) to a request whose MTI could be read, so a peer that sent
/// something malformed learns why instead of being cut off.
fn format_error(frame: &[u8]) -> Option<Vec<u8>> {
    let mti = frame
        .get(..4)
        .and_then(|m| core::str::from_utf8(m).ok())
        .and_then(Mti::from_digits)?;
    let response = mti.response_mti()?;
    let mut rsp = Message::new(response);
    rsp.set_response_code(ResponseCode::FORMAT_ERROR);
    rsp.pack(&ASCII87).ok()
}

impl Codec for IsoCodec {
    type Message = Message;
    type Key = IsoKey;

    fn decode(&self, frame: &[u8]) -> Result<Message, DecodeFailure> {
        Message::unpack(frame, &ASCII87).map_err(|e| {
            // The error names the field and offset; it never carries field contents.
            let failure = DecodeFailure::new(e.to_string());
            match format_error(frame) {
                Some(rsp) => failure.with_response(rsp),
                None => failure,
            }
        })
    }

    fn encode(&self, msg: &Message) -> Result<Vec<u8>, EncodeFailure> {
        msg.pack(&ASCII87)
            .map_err(|e| EncodeFailure::new(e.to_string()))
    }

    fn request_key(&self, msg: &Message) -> Option<IsoKey> {
        key(msg)
    }

    fn response_key(&self, msg: &Message) -> Option<IsoKey> {
        key(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_keys() {
        let mut msg = Message::new(Mti::AUTHORIZATION_REQUEST);
        msg.set_stan(42)
            .set_rrn("123456789012")
            .set_terminal_id("TWPOS001")
            .set_amount_minor(1234);
        let bytes = IsoCodec.encode(&msg).unwrap();
        let back = IsoCodec.decode(&bytes).unwrap();
        assert_eq!(back, msg);
        assert_eq!(
            IsoCodec.request_key(&msg),
            Some((42, "123456789012".into(), "TWPOS001".into()))
        );
    }

    #[test]
    fn malformed_requests_get_a_format_error() {
        let failure = IsoCodec.decode(b"0100zzzz").unwrap_err();
        let rsp = IsoCodec.decode(failure.response().unwrap()).unwrap();
        assert_eq!(rsp.mti, Mti::AUTHORIZATION_RESPONSE);
        assert_eq!(rsp.response_code(), Some(ResponseCode::FORMAT_ERROR));
        assert!(IsoCodec.decode(b"zz").unwrap_err().response().is_none());
    }
}
