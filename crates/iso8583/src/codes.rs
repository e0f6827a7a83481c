//! Wire enums as newtypes over the wire value: DE 39 response codes and DE 70 network
//! management codes. Every known value has a named constant; unknown values are kept.

use core::fmt;

/// DE 39, two characters (ISO 8583:1987 Annex A, "response code"). Unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResponseCode(pub [u8; 2]);

macro_rules! response_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl ResponseCode {
            $($(#[$doc])* pub const $name: ResponseCode = ResponseCode(*$value);)*

            /// The meaning of a known code.
            fn known_name(self) -> Option<&'static str> {
                match &self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }

            /// Every named code, in code order.
            pub const ALL: &'static [ResponseCode] = &[$(Self::$name,)*];
        }
    };
}

response_codes! {
    /// `00`: approved or completed successfully.
    APPROVED = b"00", "approved";
    /// `01`: refer to card issuer.
    REFER_TO_CARD_ISSUER = b"01", "refer to card issuer";
    /// `03`: invalid merchant.
    INVALID_MERCHANT = b"03", "invalid merchant";
    /// `04`: pick up card.
    PICK_UP = b"04", "pick up card";
    /// `05`: do not honour.
    DO_NOT_HONOUR = b"05", "do not honour";
    /// `06`: error.
    ERROR = b"06", "error";
    /// `08`: honour with identification (an approval).
    HONOUR_WITH_IDENTIFICATION = b"08", "honour with identification";
    /// `10`: approved for partial amount.
    APPROVED_PARTIAL = b"10", "approved for partial amount";
    /// `11`: approved (VIP).
    APPROVED_VIP = b"11", "approved (VIP)";
    /// `12`: invalid transaction.
    INVALID_TRANSACTION = b"12", "invalid transaction";
    /// `13`: invalid amount.
    INVALID_AMOUNT = b"13", "invalid amount";
    /// `14`: invalid card number (no such number).
    INVALID_CARD_NUMBER = b"14", "invalid card number";
    /// `15`: no such issuer.
    NO_SUCH_ISSUER = b"15", "no such issuer";
    /// `16`: approved, update track 3.
    APPROVED_UPDATE_TRACK3 = b"16", "approved, update track 3";
    /// `19`: re-enter transaction.
    RE_ENTER_TRANSACTION = b"19", "re-enter transaction";
    /// `21`: no action taken.
    NO_ACTION_TAKEN = b"21", "no action taken";
    /// `25`: unable to locate record on file.
    RECORD_NOT_FOUND = b"25", "unable to locate record on file";
    /// `30`: format error.
    FORMAT_ERROR = b"30", "format error";
    /// `41`: lost card, pick up.
    LOST_CARD = b"41", "lost card";
    /// `43`: stolen card, pick up.
    STOLEN_CARD = b"43", "stolen card";
    /// `51`: not sufficient funds.
    INSUFFICIENT_FUNDS = b"51", "insufficient funds";
    /// `54`: expired card.
    EXPIRED_CARD = b"54", "expired card";
    /// `55`: incorrect personal identification number.
    INCORRECT_PIN = b"55", "incorrect PIN";
    /// `56`: no card record.
    NO_CARD_RECORD = b"56", "no card record";
    /// `57`: transaction not permitted to cardholder.
    NOT_PERMITTED_TO_CARDHOLDER = b"57", "transaction not permitted to cardholder";
    /// `58`: transaction not permitted to terminal.
    NOT_PERMITTED_TO_TERMINAL = b"58", "transaction not permitted to terminal";
    /// `59`: suspected fraud.
    SUSPECTED_FRAUD = b"59", "suspected fraud";
    /// `61`: exceeds withdrawal amount limit.
    EXCEEDS_WITHDRAWAL_AMOUNT_LIMIT = b"61", "exceeds withdrawal amount limit";
    /// `62`: restricted card.
    RESTRICTED_CARD = b"62", "restricted card";
    /// `63`: security violation.
    SECURITY_VIOLATION = b"63", "security violation";
    /// `65`: exceeds withdrawal frequency limit.
    EXCEEDS_WITHDRAWAL_FREQUENCY_LIMIT = b"65", "exceeds withdrawal frequency limit";
    /// `68`: response received too late.
    RESPONSE_TOO_LATE = b"68", "response received too late";
    /// `75`: allowable number of PIN tries exceeded.
    PIN_TRIES_EXCEEDED = b"75", "allowable number of PIN tries exceeded";
    /// `78`: blocked, first use (the card has not been activated).
    ///
    /// ISO 8583:1987 leaves 76-89 to private use and networks disagree on 78: Visa uses it for
    /// "blocked, first use" (a new card not yet unblocked), Mastercard for "invalid or
    /// nonexistent account". The Visa meaning is the one most response code tables repeat, so
    /// it is the one named here.
    BLOCKED_FIRST_USE = b"78", "blocked, first use";
    /// `91`: issuer or switch inoperative.
    ISSUER_OR_SWITCH_INOPERATIVE = b"91", "issuer or switch inoperative";
    /// `92`: financial institution or intermediate network facility cannot be found for routing.
    ROUTING_ERROR = b"92", "no routing to the issuer";
    /// `94`: duplicate transmission.
    DUPLICATE_TRANSMISSION = b"94", "duplicate transmission";
    /// `96`: system malfunction.
    SYSTEM_MALFUNCTION = b"96", "system malfunction";
}

impl ResponseCode {
    /// From the two characters of DE 39; `None` unless the text is exactly two bytes long.
    pub fn from_text(text: &str) -> Option<Self> {
        Some(Self(text.as_bytes().try_into().ok()?))
    }

    /// The code as text (`"??"` when not ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// True for the ISO 8583:1987 approvals: `00`, `08`, `10`, `11` and `16`.
    pub fn is_approval(self) -> bool {
        matches!(&self.0, b"00" | b"08" | b"10" | b"11" | b"16")
    }

    /// The meaning of a known code, or `"unknown response code"`.
    pub fn name(self) -> &'static str {
        self.known_name().unwrap_or("unknown response code")
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.escape_ascii(), self.name())
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({})", self.0.escape_ascii())
    }
}

/// DE 70, three digits: what a network management (`0800`) message does. Unknown values are
/// kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkManagementCode(pub [u8; 3]);

macro_rules! network_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl NetworkManagementCode {
            $($(#[$doc])* pub const $name: NetworkManagementCode = NetworkManagementCode(*$value);)*

            /// The meaning of a known code.
            fn known_name(self) -> Option<&'static str> {
                match &self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

network_codes! {
    /// `001`: sign-on.
    SIGN_ON = b"001", "sign-on";
    /// `002`: sign-off.
    SIGN_OFF = b"002", "sign-off";
    /// `161`: change key (new working key follows).
    KEY_CHANGE = b"161", "key change";
    /// `201`: cutover (start of a new business day).
    CUTOVER = b"201", "cutover";
    /// `301`: echo test (keep-alive).
    ECHO_TEST = b"301", "echo test";
}

impl NetworkManagementCode {
    /// From the three characters of DE 70; `None` unless the text is exactly three bytes long.
    pub fn from_text(text: &str) -> Option<Self> {
        Some(Self(text.as_bytes().try_into().ok()?))
    }

    /// The code as text (`"???"` when not ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The meaning of a known code, or `"unknown network management code"`.
    pub fn name(self) -> &'static str {
        self.known_name()
            .unwrap_or("unknown network management code")
    }
}

impl fmt::Display for NetworkManagementCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.escape_ascii(), self.name())
    }
}

impl fmt::Debug for NetworkManagementCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkManagementCode({})", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_codes_the_platform_uses() {
        let expected: [(&[u8; 2], &str); 18] = [
            (b"00", "approved"),
            (b"05", "do not honour"),
            (b"12", "invalid transaction"),
            (b"13", "invalid amount"),
            (b"14", "invalid card number"),
            (b"30", "format error"),
            (b"51", "insufficient funds"),
            (b"54", "expired card"),
            (b"55", "incorrect PIN"),
            (b"57", "transaction not permitted to cardholder"),
            (b"59", "suspected fraud"),
            (b"61", "exceeds withdrawal amount limit"),
            (b"62", "restricted card"),
            (b"65", "exceeds withdrawal frequency limit"),
            (b"78", "blocked, first use"),
            (b"91", "issuer or switch inoperative"),
            (b"94", "duplicate transmission"),
            (b"96", "system malfunction"),
        ];
        for (code, name) in expected {
            assert_eq!(ResponseCode(*code).name(), name, "{}", code.escape_ascii());
        }
        assert_eq!(
            ResponseCode::DO_NOT_HONOUR.to_string(),
            "05 (do not honour)"
        );
        assert_eq!(format!("{:?}", ResponseCode::APPROVED), "ResponseCode(00)");
    }

    #[test]
    fn unknown_codes_are_kept() {
        let code = ResponseCode::from_text("Z9").unwrap();
        assert_eq!(code.0, *b"Z9");
        assert_eq!(code.name(), "unknown response code");
        assert_eq!(code.as_str(), "Z9");
        assert!(!code.is_approval());
        assert_eq!(ResponseCode::from_text("000"), None);
        assert_eq!(ResponseCode([0xFF, b'1']).as_str(), "??");
    }

    #[test]
    fn approvals_are_the_1987_ones() {
        let approvals: Vec<_> = ResponseCode::ALL
            .iter()
            .filter(|c| c.is_approval())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(approvals, ["00", "08", "10", "11", "16"]);
        // ALL is in code order and has no duplicates.
        assert!(ResponseCode::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn network_management_codes() {
        assert_eq!(NetworkManagementCode::SIGN_ON.name(), "sign-on");
        assert_eq!(NetworkManagementCode::SIGN_OFF.as_str(), "002");
        assert_eq!(
            NetworkManagementCode::from_text("301"),
            Some(NetworkManagementCode::ECHO_TEST)
        );
        assert_eq!(
            NetworkManagementCode::from_text("999").unwrap().name(),
            "unknown network management code"
        );
        assert_eq!(
            NetworkManagementCode::ECHO_TEST.to_string(),
            "301 (echo test)"
        );
        assert_eq!(
            format!("{:?}", NetworkManagementCode::CUTOVER),
            "NetworkManagementCode(201)"
        );
        assert_eq!(NetworkManagementCode::from_text("01"), None);
    }
}
