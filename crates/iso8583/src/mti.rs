//! The message type indicator (ISO 8583:1987 section 4.1): version, class, function, origin.

use core::fmt;
use core::str::FromStr;

/// Four ASCII digits: version, message class, message function, transaction originator.
/// Unknown values are kept as they are; [`Mti::is_valid`] says whether all four are digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti(pub [u8; 4]);

macro_rules! mtis {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl Mti {
            $($(#[$doc])* pub const $name: Mti = Mti(*$value);)*

            /// The name of a known MTI.
            fn known_name(self) -> Option<&'static str> {
                match &self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

mtis! {
    /// `0100`: authorization request.
    AUTHORIZATION_REQUEST = b"0100", "authorization request";
    /// `0110`: authorization request response.
    AUTHORIZATION_RESPONSE = b"0110", "authorization response";
    /// `0120`: authorization advice.
    AUTHORIZATION_ADVICE = b"0120", "authorization advice";
    /// `0130`: authorization advice response.
    AUTHORIZATION_ADVICE_RESPONSE = b"0130", "authorization advice response";
    /// `0400`: reversal request.
    REVERSAL_REQUEST = b"0400", "reversal request";
    /// `0410`: reversal request response.
    REVERSAL_RESPONSE = b"0410", "reversal response";
    /// `0420`: reversal advice.
    REVERSAL_ADVICE = b"0420", "reversal advice";
    /// `0430`: reversal advice response.
    REVERSAL_ADVICE_RESPONSE = b"0430", "reversal advice response";
    /// `0800`: network management request (sign-on, sign-off, echo test, key change).
    NETWORK_MANAGEMENT_REQUEST = b"0800", "network management request";
    /// `0810`: network management request response.
    NETWORK_MANAGEMENT_RESPONSE = b"0810", "network management response";
}

impl Mti {
    /// From four ASCII digits; `None` unless all four are digits.
    pub fn from_digits(text: &str) -> Option<Self> {
        let bytes: [u8; 4] = text.as_bytes().try_into().ok()?;
        let mti = Self(bytes);
        mti.is_valid().then_some(mti)
    }

    /// True when all four bytes are ASCII digits.
    pub fn is_valid(self) -> bool {
        self.0.iter().all(u8::is_ascii_digit)
    }

    /// The four digits as text (`"????"` for an MTI that is not ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("????")
    }

    /// Position 1: ISO 8583 version (`b'0'` for 1987).
    pub const fn version(self) -> u8 {
        self.0[0]
    }

    /// Position 2: message class (`b'1'` authorization, `b'4'` reversal, `b'8'` network
    /// management, ...).
    pub const fn class(self) -> u8 {
        self.0[1]
    }

    /// Position 3: message function (`b'0'` request, `b'1'` request response, `b'2'` advice,
    /// `b'3'` advice response, `b'4'` notification).
    pub const fn function(self) -> u8 {
        self.0[2]
    }

    /// Position 4: transaction originator (`b'0'` acquirer, `b'1'` acquirer repeat, `b'2'`
    /// issuer, `b'3'` issuer repeat, ...).
    pub const fn origin(self) -> u8 {
        self.0[3]
    }

    /// True for messages that expect a response: requests (function `0`) and advices (`2`),
    /// repeats included.
    pub const fn is_request(self) -> bool {
        matches!(self.function(), b'0' | b'2')
    }

    /// True for responses to requests (function `1`) and to advices (`3`).
    pub const fn is_response(self) -> bool {
        matches!(self.function(), b'1' | b'3')
    }

    /// The MTI of the response to this request or advice: function `0` becomes `1`, `2` becomes
    /// `3`, and a repeat origin becomes the plain one (`0101` is answered by `0110`). `None` for
    /// anything that expects no response.
    pub const fn response_mti(self) -> Option<Mti> {
        let function = match self.function() {
            b'0' => b'1',
            b'2' => b'3',
            _ => return None,
        };
        // Odd origins are repeats (1, 3, 5): the response carries the even one below.
        let origin = match self.origin() {
            b'1' => b'0',
            b'3' => b'2',
            b'5' => b'4',
            other => other,
        };
        Some(Mti([self.0[0], self.0[1], function, origin]))
    }

    /// A readable name for the known MTIs, or the message class for others.
    pub fn name(self) -> &'static str {
        if let Some(name) = self.known_name() {
            return name;
        }
        match self.class() {
            b'1' => "authorization message",
            b'2' => "financial message",
            b'3' => "file action message",
            b'4' => "reversal message",
            b'5' => "reconciliation message",
            b'6' => "administrative message",
            b'7' => "fee collection message",
            b'8' => "network management message",
            _ => "unknown message class",
        }
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({self})")
    }
}

/// The text is not four ASCII digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseMtiError;

impl fmt::Display for ParseMtiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MTI is four decimal digits")
    }
}

impl std::error::Error for ParseMtiError {}

impl FromStr for Mti {
    type Err = ParseMtiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_digits(s).ok_or(ParseMtiError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_responses() {
        let pairs = [
            (Mti::AUTHORIZATION_REQUEST, Mti::AUTHORIZATION_RESPONSE),
            (
                Mti::AUTHORIZATION_ADVICE,
                Mti::AUTHORIZATION_ADVICE_RESPONSE,
            ),
            (Mti::REVERSAL_REQUEST, Mti::REVERSAL_RESPONSE),
            (Mti::REVERSAL_ADVICE, Mti::REVERSAL_ADVICE_RESPONSE),
            (
                Mti::NETWORK_MANAGEMENT_REQUEST,
                Mti::NETWORK_MANAGEMENT_RESPONSE,
            ),
        ];
        for (request, response) in pairs {
            assert!(request.is_request() && !request.is_response(), "{request}");
            assert!(
                response.is_response() && !response.is_request(),
                "{response}"
            );
            assert_eq!(request.response_mti(), Some(response));
            assert_eq!(response.response_mti(), None);
        }
        // Repeats are answered by the plain response.
        assert_eq!(
            "0101".parse::<Mti>().unwrap().response_mti(),
            Some(Mti::AUTHORIZATION_RESPONSE)
        );
        assert_eq!(
            "0421".parse::<Mti>().unwrap().response_mti(),
            Some(Mti::REVERSAL_ADVICE_RESPONSE)
        );
        assert_eq!(
            "0402"
                .parse::<Mti>()
                .unwrap()
                .response_mti()
                .unwrap()
                .as_str(),
            "0412"
        );
        // Notifications expect nothing.
        assert_eq!("0140".parse::<Mti>().unwrap().response_mti(), None);
    }

    #[test]
    fn parses_only_four_digits() {
        assert_eq!("0100".parse::<Mti>(), Ok(Mti::AUTHORIZATION_REQUEST));
        assert!("010".parse::<Mti>().is_err());
        assert!("01000".parse::<Mti>().is_err());
        assert!("01A0".parse::<Mti>().is_err());
        assert!(!Mti(*b"01 0").is_valid());
        assert_eq!(Mti([0x30, 0xFF, 0x30, 0x30]).as_str(), "????");
        assert_eq!(
            format!("{:?}", Mti([0x30, 0xFF, 0x30, 0x30])),
            "Mti(0\\xff00)"
        );
    }

    #[test]
    fn names_known_values_and_classes() {
        assert_eq!(Mti::AUTHORIZATION_REQUEST.name(), "authorization request");
        assert_eq!(Mti::NETWORK_MANAGEMENT_RESPONSE.to_string(), "0810");
        assert_eq!(Mti(*b"0200").name(), "financial message");
        assert_eq!(Mti(*b"0900").name(), "unknown message class");
        let m = Mti(*b"0123");
        assert_eq!(
            (m.version(), m.class(), m.function(), m.origin()),
            (b'0', b'1', b'2', b'3')
        );
    }
}
