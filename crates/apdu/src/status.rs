//! Status words (ISO/IEC 7816-4, 5.1.3; EMV Book 3, 6.3.5 and Book 1, 11.3.5).

use core::fmt;

/// SW1 SW2 as one big-endian `u16`. Unknown values are kept as they are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(pub u16);

macro_rules! status_words {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl StatusWord {
            $($(#[$doc])* pub const $name: StatusWord = StatusWord($value);)*

            /// The meaning of a status word with a fixed value, when known.
            fn fixed_name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

status_words! {
    /// Normal processing.
    SUCCESS = 0x9000, "success";
    /// State of non-volatile memory unchanged; selected file invalidated.
    SELECTED_FILE_INVALIDATED = 0x6283, "selected file deactivated";
    /// Wrong length (Lc or Le).
    WRONG_LENGTH = 0x6700, "wrong length";
    /// Functions in CLA not supported.
    CLA_FUNCTION_NOT_SUPPORTED = 0x6800, "functions in CLA not supported";
    /// Command not allowed: security status not satisfied.
    SECURITY_STATUS_NOT_SATISFIED = 0x6982, "security status not satisfied";
    /// Authentication method blocked.
    AUTHENTICATION_METHOD_BLOCKED = 0x6983, "authentication method blocked";
    /// Reference data not usable (invalidated).
    REFERENCE_DATA_NOT_USABLE = 0x6984, "reference data not usable";
    /// Conditions of use not satisfied.
    CONDITIONS_OF_USE_NOT_SATISFIED = 0x6985, "conditions of use not satisfied";
    /// Command not allowed (no current EF).
    COMMAND_NOT_ALLOWED = 0x6986, "command not allowed";
    /// Incorrect parameters in the command data field.
    INCORRECT_DATA = 0x6A80, "incorrect parameters in the data field";
    /// Function not supported (also: application blocked on SELECT).
    FUNCTION_NOT_SUPPORTED = 0x6A81, "function not supported";
    /// File or application not found.
    FILE_NOT_FOUND = 0x6A82, "file or application not found";
    /// Record not found.
    RECORD_NOT_FOUND = 0x6A83, "record not found";
    /// Incorrect parameters P1-P2.
    INCORRECT_P1_P2 = 0x6A86, "incorrect parameters P1-P2";
    /// Nc inconsistent with P1-P2.
    LC_INCONSISTENT_WITH_P1_P2 = 0x6A87, "Lc inconsistent with P1-P2";
    /// Referenced data not found.
    REFERENCED_DATA_NOT_FOUND = 0x6A88, "referenced data not found";
    /// Wrong parameters P1-P2.
    WRONG_P1_P2 = 0x6B00, "wrong parameters P1-P2";
    /// Instruction code not supported or invalid.
    INS_NOT_SUPPORTED = 0x6D00, "instruction not supported";
    /// Class not supported.
    CLA_NOT_SUPPORTED = 0x6E00, "class not supported";
    /// No precise diagnosis.
    NO_PRECISE_DIAGNOSIS = 0x6F00, "no precise diagnosis";
}

impl StatusWord {
    /// From SW1 and SW2.
    pub const fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// `61XX`: XX more response bytes are available (GET RESPONSE).
    pub const fn bytes_available(xx: u8) -> Self {
        Self::from_bytes(0x61, xx)
    }

    /// `6CXX`: wrong Le; XX is the exact length.
    pub const fn wrong_le(xx: u8) -> Self {
        Self::from_bytes(0x6C, xx)
    }

    /// `63CX`: verification failed, X retries left.
    pub const fn retries_left(x: u8) -> Self {
        Self::from_bytes(0x63, 0xC0 | (x & 0x0F))
    }

    /// SW1.
    pub const fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// SW2.
    pub const fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// The two bytes.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// True for `9000` and for `61XX` (processing completed, more data).
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000 || self.sw1() == 0x61
    }

    /// A readable meaning: the known fixed values, the `61XX`/`6CXX`/`63CX` families, or the
    /// ISO 7816-4 class of an unknown value.
    pub fn name(self) -> &'static str {
        if let Some(name) = self.fixed_name() {
            return name;
        }
        match self.sw1() {
            0x61 => "more response data available",
            0x6C => "wrong Le (SW2 gives the exact length)",
            0x63 if self.sw2() & 0xF0 == 0xC0 => "verification failed (SW2 low nibble: tries left)",
            0x62 | 0x63 => "warning",
            0x64..=0x66 => "execution error",
            0x67..=0x6F => "checking error",
            0x90..=0x9F => "proprietary",
            _ => "unknown status",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.name())
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}
