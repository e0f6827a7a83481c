//! The terminal's side of ISO 8583: the 0100 built from a kernel's online request, and the
//! issuer response read back from the 0110.

use cards::Amount;
use emv_kernel::{IssuerResponse, OnlineRequest};
use iso8583::{Message, Mti, ResponseCode};
use secret::Secret;

/// Identifiers of one authorization, chosen by the terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    /// DE 11, six digits.
    pub stan: u32,
    /// DE 37, twelve characters.
    pub rrn: String,
    /// DE 41, eight characters.
    pub terminal: String,
    /// DE 7 transmission date and time, MMDDhhmmss (UTC).
    pub transmission: String,
}

/// The 0100 for an online request: PAN, expiry, PSN and Track 2 from the card, DE 55 from the
/// kernel's authorization data, POS entry mode 071 (contactless chip).
pub fn authorization_request(request: &OnlineRequest, amount: Amount, ids: &Ids) -> Message {
    let mut msg = Message::new(Mti::AUTHORIZATION_REQUEST);
    msg.set_pan(Secret::new(request.card.pan.expose_digits().to_owned()));
    msg.set_processing_code("000000");
    msg.set_amount_minor(amount.minor());
    msg.set_transmission_date_time(&ids.transmission);
    msg.set_stan(ids.stan);
    if let (Some(hhmmss), Some(mmdd)) = (ids.transmission.get(4..), ids.transmission.get(..4)) {
        msg.set_local_time(hhmmss);
        msg.set_local_date(mmdd);
    }
    if let Some(e) = request.card.expiry {
        msg.set_expiry(Secret::new(e.yymm()));
    }
    msg.set_pos_entry_mode("071");
    if let Some(psn) = request.card.psn {
        msg.set_card_sequence_number(&format!("{:03}", (psn >> 4) * 10 + (psn & 0x0F)));
    }
    msg.set_rrn(&ids.rrn);
    msg.set_terminal_id(&ids.terminal);
    msg.set_currency_code(&format!("{:03}", amount.currency().numeric));
    msg.set_icc_data(&request.data.to_tlv());
    msg
}

/// The issuer's answer as the kernel's completion step wants it.
pub fn issuer_response(answer: &Message) -> IssuerResponse {
    let code = answer
        .response_code()
        .unwrap_or(ResponseCode::SYSTEM_MALFUNCTION);
    let data91 = answer.icc_tlv().ok().flatten().and_then(|t| {
        t.get(emv::tags::ISSUER_AUTHENTICATION_DATA)
            .map(<[u8]>::to_vec)
    });
    IssuerResponse {
        approved: code.is_approval(),
        arc: code.0,
        issuer_authentication_data: data91,
    }
}
