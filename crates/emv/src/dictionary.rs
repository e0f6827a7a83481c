//! The EMV tag dictionary as data: one [`TagInfo`] row per tag and context, sorted by tag.
//!
//! Sources, by [`Scope`]:
//!
//! * [`Scope::Emv`]: EMV 4.4 Book 3 Annex A (data elements dictionary), Book 1 (selection),
//!   Book 4 (terminal data), Contactless Book A (TTQ) and Book B (Entry Point), and the EMV
//!   Payment Tokenisation elements (9F19, 9F24, 9F25).
//! * [`Scope::Mastercard`]: Contactless Book C-2 (Kernel 2, Annex A) and M/Chip.
//! * [`Scope::Visa`]: Contactless Book C-3 (Kernel 3), VCPS and VIS.
//!
//! A tag the kernels define differently (`9F66`, `9F69`, `9F6C`, `9F6E`, `9F5D`, ...) has one row
//! per scope, adjacent in the table. [`lookup`] returns the tag's first row, the meaning a trace
//! without context uses; [`lookup_in`] picks the row for a known scope.
//!
//! Lengths are in bytes of the value. Where the specs say "var." without a bound, the row uses
//! 252 for card-held data (the record limit, Book 3 Annex A) and [`UNBOUNDED`] for templates
//! and kernel-internal lists. Lengths that depend on a key size use 248 (the largest EMV RSA
//! modulus, 1984 bits).

use tlv::{DolFormat, Tag};

/// Largest length used in the table for kernel-internal data with no length in the spec.
pub const UNBOUNDED: usize = 0xFFFF;

/// A data element's format (Book 3, 4.3 "Data Element Format Conventions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `a`: alphabetic.
    A,
    /// `an`: alphanumeric.
    An,
    /// `ans`: alphanumeric and special characters.
    Ans,
    /// `b`: binary.
    B,
    /// `cn`: compressed numeric (BCD, left-justified, padded with trailing `F`s).
    Cn,
    /// `n`: numeric (BCD, right-justified, padded with leading zeros).
    N,
    /// Templates, and elements whose format the payment system defines.
    Var,
}

impl Format {
    /// How the element is padded or truncated in a DOL (Book 3, 5.4).
    pub const fn dol_format(self) -> DolFormat {
        match self {
            Self::N => DolFormat::Numeric,
            Self::Cn => DolFormat::CompressedNumeric,
            Self::A | Self::An | Self::Ans | Self::B | Self::Var => DolFormat::Other,
        }
    }

    /// True for the text formats (`a`, `an`, `ans`).
    pub const fn is_text(self) -> bool {
        matches!(self, Self::A | Self::An | Self::Ans)
    }
}

/// Who provides the element (Book 3 Annex A, "Source").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The card (ICC).
    Icc,
    /// The terminal, reader or kernel.
    Terminal,
    /// The issuer (in the authorisation response).
    Issuer,
}

/// How much of the element may be shown in logs and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sensitivity {
    /// May be shown in full.
    Public,
    /// A PAN: at most the first 6 and last 4 digits show.
    Pan,
    /// Track data: the PAN inside shows masked, the rest not at all.
    Track,
    /// Never shown: cardholder name, discretionary track data, PIN data.
    Redact,
}

/// Which specification gives a row its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// EMV Books 1 to 4, Contactless Books A and B: every kernel agrees.
    Emv,
    /// Contactless Kernel 2 (Book C-2) and M/Chip.
    Mastercard,
    /// Contactless Kernel 3 (Book C-3), VCPS and VIS.
    Visa,
}

impl Scope {
    /// The scheme of an AID by its RID: `A000000004` is Mastercard, `A000000003` Visa.
    pub fn from_aid(aid: &[u8]) -> Option<Self> {
        match aid.get(..5)? {
            [0xA0, 0x00, 0x00, 0x00, 0x04] => Some(Self::Mastercard),
            [0xA0, 0x00, 0x00, 0x00, 0x03] => Some(Self::Visa),
            _ => None,
        }
    }
}

/// One row of the dictionary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagInfo {
    /// The tag.
    pub tag: Tag,
    /// The spec's name for the element.
    pub name: &'static str,
    /// The element's format.
    pub format: Format,
    /// Fewest value bytes.
    pub min_len: usize,
    /// Most value bytes.
    pub max_len: usize,
    /// Templates the element appears in (empty when it stands alone or is terminal data).
    pub templates: &'static [Tag],
    /// Who provides the element.
    pub source: Source,
    /// How much of the value traces may show.
    pub sensitivity: Sensitivity,
    /// Which specification this row follows.
    pub scope: Scope,
}

impl TagInfo {
    /// True when the tag is constructed (a template).
    pub const fn is_constructed(&self) -> bool {
        self.tag.is_constructed()
    }

    /// True when `len` value bytes are within the row's range.
    pub const fn accepts_len(&self, len: usize) -> bool {
        self.min_len <= len && len <= self.max_len
    }
}

/// Every row, sorted by tag; rows for the same tag are adjacent, the default meaning first.
pub fn all() -> &'static [TagInfo] {
    TABLE
}

/// Every row for `tag` (empty for an unknown tag; several when kernels disagree).
pub fn lookup_all(tag: Tag) -> &'static [TagInfo] {
    let start = TABLE.partition_point(|e| e.tag < tag);
    let end = TABLE.partition_point(|e| e.tag <= tag);
    TABLE.get(start..end).unwrap_or_default()
}

/// The default row for `tag`: the first of its rows.
pub fn lookup(tag: Tag) -> Option<&'static TagInfo> {
    lookup_all(tag).first()
}

/// The row for `tag` in `scope`; else the tag's EMV row; else its first row.
pub fn lookup_in(tag: Tag, scope: Scope) -> Option<&'static TagInfo> {
    let rows = lookup_all(tag);
    rows.iter()
        .find(|e| e.scope == scope)
        .or_else(|| rows.iter().find(|e| e.scope == Scope::Emv))
        .or_else(|| rows.first())
}

/// How `tag` is padded or truncated in a DOL: from its default row; [`DolFormat::Other`] when
/// the tag is unknown.
pub fn dol_format(tag: Tag) -> DolFormat {
    lookup(tag).map_or(DolFormat::Other, |e| e.format.dol_format())
}

/// The table itself, in its own module so the variant imports stay local.
mod data {
    use tlv::Tag;

    use super::Format::*;
    use super::Scope::*;
    use super::Sensitivity::*;
    use super::Source::*;
    use super::{Format, Scope, Sensitivity, Source, TagInfo};

    #[allow(clippy::too_many_arguments)]
    const fn e(
        tag: u32,
        format: Format,
        min_len: usize,
        max_len: usize,
        source: Source,
        sensitivity: Sensitivity,
        templates: &'static [Tag],
        scope: Scope,
        name: &'static str,
    ) -> TagInfo {
        TagInfo {
            tag: Tag(tag),
            name,
            format,
            min_len,
            max_len,
            templates,
            source,
            sensitivity,
            scope,
        }
    }

    /// Stands alone, or terminal/kernel data.
    const NO: &[Tag] = &[];
    /// Inside the Application Template (61).
    const T61: &[Tag] = &[Tag(0x61)];
    /// Inside the FCI Template (6F).
    const T6F: &[Tag] = &[Tag(0x6F)];
    /// Inside a record (70).
    const T70: &[Tag] = &[Tag(0x70)];
    /// Inside the Response Message Template Format 2 (77).
    const T77: &[Tag] = &[Tag(0x77)];
    /// Inside the FCI Proprietary Template (A5).
    const TA5: &[Tag] = &[Tag(0xA5)];
    /// Inside the Application Template (61) or the FCI Proprietary Template (A5).
    const T61_A5: &[Tag] = &[Tag(0x61), Tag(0xA5)];
    /// Inside a record (70) or a format-2 response (77).
    const REC: &[Tag] = &[Tag(0x70), Tag(0x77)];
    /// Inside a response: format 2 (77) or format 1 (80).
    const RSP: &[Tag] = &[Tag(0x77), Tag(0x80)];
    /// Inside FCI Issuer Discretionary Data (BF0C) or the Directory Discretionary Template (73).
    const IDD: &[Tag] = &[Tag(0xBF0C), Tag(0x73)];
    /// Inside an Issuer Script Template (71 or 72).
    const SCR: &[Tag] = &[Tag(0x71), Tag(0x72)];
    /// Kernel 2 data exchanged through Data Exchange templates (FF8104, FF8105).
    const DEK: &[Tag] = &[Tag(0xFF8104), Tag(0xFF8105)];

    const U: usize = super::UNBOUNDED;

    #[rustfmt::skip]
    pub(super) static TABLE: &[TagInfo] = &[
        // tag       fmt  min  max  source    masking tmpl.   scope       name
        e(0x42,      N,   3,   4,   Icc,      Public, IDD,    Emv,        "Issuer Identification Number (IIN)"),
        e(0x4F,      B,   5,   16,  Icc,      Public, T61,    Emv,        "Application Identifier (AID) - card"),
        e(0x50,      Ans, 1,   16,  Icc,      Public, T61_A5, Emv,        "Application Label"),
        e(0x56,      Ans, 1,   76,  Icc,      Track,  T70,    Mastercard, "Track 1 Data"),
        e(0x57,      B,   1,   19,  Icc,      Track,  REC,    Emv,        "Track 2 Equivalent Data"),
        e(0x5A,      Cn,  1,   10,  Icc,      Pan,    REC,    Emv,        "Application Primary Account Number (PAN)"),
        e(0x61,      Var, 0,   252, Icc,      Public, T70,    Emv,        "Application Template"),
        e(0x6F,      Var, 0,   252, Icc,      Public, NO,     Emv,        "File Control Information (FCI) Template"),
        e(0x70,      Var, 0,   252, Icc,      Public, NO,     Emv,        "READ RECORD Response Message Template"),
        e(0x71,      Var, 0,   U,   Issuer,   Public, NO,     Emv,        "Issuer Script Template 1"),
        e(0x72,      Var, 0,   U,   Issuer,   Public, NO,     Emv,        "Issuer Script Template 2"),
        e(0x73,      Var, 0,   252, Icc,      Public, T61,    Emv,        "Directory Discretionary Template"),
        e(0x77,      Var, 0,   U,   Icc,      Public, NO,     Emv,        "Response Message Template Format 2"),
        e(0x80,      Var, 0,   U,   Icc,      Public, NO,     Emv,        "Response Message Template Format 1"),
        e(0x81,      B,   4,   4,   Terminal, Public, NO,     Emv,        "Amount, Authorised (Binary)"),
        e(0x82,      B,   2,   2,   Icc,      Public, RSP,    Emv,        "Application Interchange Profile (AIP)"),
        e(0x83,      B,   0,   U,   Terminal, Public, NO,     Emv,        "Command Template"),
        e(0x84,      B,   5,   16,  Icc,      Public, T6F,    Emv,        "Dedicated File (DF) Name"),
        e(0x86,      B,   0,   261, Issuer,   Public, SCR,    Emv,        "Issuer Script Command"),
        e(0x87,      B,   1,   1,   Icc,      Public, T61_A5, Emv,        "Application Priority Indicator"),
        e(0x88,      B,   1,   1,   Icc,      Public, TA5,    Emv,        "Short File Identifier (SFI)"),
        e(0x89,      An,  6,   6,   Issuer,   Public, NO,     Emv,        "Authorisation Code"),
        e(0x8A,      An,  2,   2,   Issuer,   Public, NO,     Emv,        "Authorisation Response Code"),
        e(0x8C,      B,   0,   252, Icc,      Public, REC,    Emv,        "Card Risk Management Data Object List 1 (CDOL1)"),
        e(0x8D,      B,   0,   252, Icc,      Public, REC,    Emv,        "Card Risk Management Data Object List 2 (CDOL2)"),
        e(0x8E,      B,   10,  252, Icc,      Public, REC,    Emv,        "Cardholder Verification Method (CVM) List"),
        e(0x8F,      B,   1,   1,   Icc,      Public, REC,    Emv,        "Certification Authority Public Key Index (card)"),
        e(0x90,      B,   1,   248, Icc,      Public, REC,    Emv,        "Issuer Public Key Certificate"),
        e(0x91,      B,   8,   16,  Issuer,   Public, NO,     Emv,        "Issuer Authentication Data"),
        e(0x92,      B,   0,   248, Icc,      Public, REC,    Emv,        "Issuer Public Key Remainder"),
        e(0x93,      B,   1,   248, Icc,      Public, REC,    Emv,        "Signed Static Application Data"),
        e(0x94,      B,   0,   252, Icc,      Public, RSP,    Emv,        "Application File Locator (AFL)"),
        e(0x95,      B,   5,   5,   Terminal, Public, NO,     Emv,        "Terminal Verification Results (TVR)"),
        e(0x97,      B,   0,   252, Icc,      Public, REC,    Emv,        "Transaction Certificate Data Object List (TDOL)"),
        e(0x98,      B,   20,  20,  Terminal, Public, NO,     Emv,        "Transaction Certificate (TC) Hash Value"),
        e(0x99,      B,   0,   U,   Terminal, Redact, NO,     Emv,        "Transaction Personal Identification Number (PIN) Data"),
        e(0x9A,      N,   3,   3,   Terminal, Public, NO,     Emv,        "Transaction Date"),
        e(0x9B,      B,   2,   2,   Terminal, Public, NO,     Emv,        "Transaction Status Information (TSI)"),
        e(0x9C,      N,   1,   1,   Terminal, Public, NO,     Emv,        "Transaction Type"),
        e(0x9D,      B,   5,   16,  Icc,      Public, T61,    Emv,        "Directory Definition File (DDF) Name"),
        e(0xA5,      Var, 0,   252, Icc,      Public, T6F,    Emv,        "File Control Information (FCI) Proprietary Template"),
        e(0x5F20,    Ans, 2,   26,  Icc,      Redact, REC,    Emv,        "Cardholder Name"),
        e(0x5F24,    N,   3,   3,   Icc,      Public, REC,    Emv,        "Application Expiration Date"),
        e(0x5F25,    N,   3,   3,   Icc,      Public, REC,    Emv,        "Application Effective Date"),
        e(0x5F28,    N,   2,   2,   Icc,      Public, REC,    Emv,        "Issuer Country Code"),
        e(0x5F2A,    N,   2,   2,   Terminal, Public, NO,     Emv,        "Transaction Currency Code"),
        e(0x5F2D,    An,  2,   8,   Icc,      Public, TA5,    Emv,        "Language Preference"),
        e(0x5F30,    N,   2,   2,   Icc,      Public, REC,    Emv,        "Service Code"),
        e(0x5F34,    N,   1,   1,   Icc,      Public, REC,    Emv,        "Application PAN Sequence Number"),
        e(0x5F36,    N,   1,   1,   Terminal, Public, NO,     Emv,        "Transaction Currency Exponent"),
        e(0x5F50,    Ans, 0,   252, Icc,      Public, IDD,    Emv,        "Issuer URL"),
        e(0x5F53,    Var, 0,   34,  Icc,      Redact, IDD,    Emv,        "International Bank Account Number (IBAN)"),
        e(0x5F54,    Var, 8,   11,  Icc,      Public, IDD,    Emv,        "Bank Identifier Code (BIC)"),
        e(0x5F55,    A,   2,   2,   Icc,      Public, IDD,    Emv,        "Issuer Country Code (alpha2 format)"),
        e(0x5F56,    A,   3,   3,   Icc,      Public, IDD,    Emv,        "Issuer Country Code (alpha3 format)"),
        e(0x5F57,    N,   1,   1,   Terminal, Public, NO,     Emv,        "Account Type"),
        e(0x9F01,    N,   6,   6,   Terminal, Public, NO,     Emv,        "Acquirer Identifier"),
        e(0x9F02,    N,   6,   6,   Terminal, Public, NO,     Emv,        "Amount, Authorised (Numeric)"),
        e(0x9F03,    N,   6,   6,   Terminal, Public, NO,     Emv,        "Amount, Other (Numeric)"),
        e(0x9F04,    B,   4,   4,   Terminal, Public, NO,     Emv,        "Amount, Other (Binary)"),
        e(0x9F05,    B,   1,   32,  Icc,      Public, REC,    Emv,        "Application Discretionary Data"),
        e(0x9F06,    B,   5,   16,  Terminal, Public, NO,     Emv,        "Application Identifier (AID) - terminal"),
        e(0x9F07,    B,   2,   2,   Icc,      Public, REC,    Emv,        "Application Usage Control"),
        e(0x9F08,    B,   2,   2,   Icc,      Public, REC,    Emv,        "Application Version Number (card)"),
        e(0x9F09,    B,   2,   2,   Terminal, Public, NO,     Emv,        "Application Version Number (terminal)"),
        e(0x9F0A,    B,   0,   252, Icc,      Public, IDD,    Emv,        "Application Selection Registered Proprietary Data"),
        e(0x9F0B,    Ans, 27,  45,  Icc,      Redact, REC,    Emv,        "Cardholder Name Extended"),
        e(0x9F0D,    B,   5,   5,   Icc,      Public, REC,    Emv,        "Issuer Action Code - Default"),
        e(0x9F0E,    B,   5,   5,   Icc,      Public, REC,    Emv,        "Issuer Action Code - Denial"),
        e(0x9F0F,    B,   5,   5,   Icc,      Public, REC,    Emv,        "Issuer Action Code - Online"),
        e(0x9F10,    B,   0,   32,  Icc,      Public, RSP,    Emv,        "Issuer Application Data (IAD)"),
        e(0x9F11,    N,   1,   1,   Icc,      Public, TA5,    Emv,        "Issuer Code Table Index"),
        e(0x9F12,    Ans, 1,   16,  Icc,      Public, T61_A5, Emv,        "Application Preferred Name"),
        e(0x9F13,    B,   2,   2,   Icc,      Public, NO,     Emv,        "Last Online Application Transaction Counter (ATC) Register"),
        e(0x9F14,    B,   1,   1,   Icc,      Public, REC,    Emv,        "Lower Consecutive Offline Limit"),
        e(0x9F15,    N,   2,   2,   Terminal, Public, NO,     Emv,        "Merchant Category Code"),
        e(0x9F16,    Ans, 15,  15,  Terminal, Public, NO,     Emv,        "Merchant Identifier"),
        e(0x9F17,    B,   1,   1,   Icc,      Public, NO,     Emv,        "Personal Identification Number (PIN) Try Counter"),
        e(0x9F18,    B,   4,   4,   Issuer,   Public, SCR,    Emv,        "Issuer Script Identifier"),
        e(0x9F19,    N,   6,   6,   Icc,      Public, REC,    Emv,        "Token Requestor ID"),
        e(0x9F1A,    N,   2,   2,   Terminal, Public, NO,     Emv,        "Terminal Country Code"),
        e(0x9F1B,    B,   4,   4,   Terminal, Public, NO,     Emv,        "Terminal Floor Limit"),
        e(0x9F1C,    An,  8,   8,   Terminal, Public, NO,     Emv,        "Terminal Identification"),
        e(0x9F1D,    B,   1,   8,   Terminal, Public, NO,     Emv,        "Terminal Risk Management Data"),
        e(0x9F1E,    An,  8,   8,   Terminal, Public, NO,     Emv,        "Interface Device (IFD) Serial Number"),
        e(0x9F1F,    Ans, 0,   252, Icc,      Redact, REC,    Emv,        "Track 1 Discretionary Data"),
        e(0x9F20,    Cn,  0,   252, Icc,      Redact, REC,    Emv,        "Track 2 Discretionary Data"),
        e(0x9F21,    N,   3,   3,   Terminal, Public, NO,     Emv,        "Transaction Time"),
        e(0x9F22,    B,   1,   1,   Terminal, Public, NO,     Emv,        "Certification Authority Public Key Index (terminal)"),
        e(0x9F23,    B,   1,   1,   Icc,      Public, REC,    Emv,        "Upper Consecutive Offline Limit"),
        e(0x9F24,    An,  29,  29,  Icc,      Public, REC,    Emv,        "Payment Account Reference (PAR)"),
        e(0x9F25,    N,   2,   2,   Icc,      Public, REC,    Emv,        "Last 4 Digits of PAN"),
        e(0x9F26,    B,   8,   8,   Icc,      Public, RSP,    Emv,        "Application Cryptogram"),
        e(0x9F27,    B,   1,   1,   Icc,      Public, RSP,    Emv,        "Cryptogram Information Data (CID)"),
        e(0x9F29,    B,   0,   252, Icc,      Public, T61_A5, Emv,        "Extended Selection"),
        e(0x9F2A,    B,   1,   8,   Icc,      Public, T61_A5, Emv,        "Kernel Identifier"),
        e(0x9F2D,    B,   1,   248, Icc,      Public, REC,    Emv,        "ICC PIN Encipherment Public Key Certificate"),
        e(0x9F2E,    B,   1,   3,   Icc,      Public, REC,    Emv,        "ICC PIN Encipherment Public Key Exponent"),
        e(0x9F2F,    B,   0,   248, Icc,      Public, REC,    Emv,        "ICC PIN Encipherment Public Key Remainder"),
        e(0x9F32,    B,   1,   3,   Icc,      Public, REC,    Emv,        "Issuer Public Key Exponent"),
        e(0x9F33,    B,   3,   3,   Terminal, Public, NO,     Emv,        "Terminal Capabilities"),
        e(0x9F34,    B,   3,   3,   Terminal, Public, NO,     Emv,        "Cardholder Verification Method (CVM) Results"),
        e(0x9F35,    N,   1,   1,   Terminal, Public, NO,     Emv,        "Terminal Type"),
        e(0x9F36,    B,   2,   2,   Icc,      Public, RSP,    Emv,        "Application Transaction Counter (ATC)"),
        e(0x9F37,    B,   4,   4,   Terminal, Public, NO,     Emv,        "Unpredictable Number"),
        e(0x9F38,    B,   0,   252, Icc,      Public, TA5,    Emv,        "Processing Options Data Object List (PDOL)"),
        e(0x9F39,    N,   1,   1,   Terminal, Public, NO,     Emv,        "Point-of-Service (POS) Entry Mode"),
        e(0x9F3A,    B,   4,   4,   Terminal, Public, NO,     Emv,        "Amount, Reference Currency"),
        e(0x9F3B,    N,   2,   8,   Icc,      Public, REC,    Emv,        "Application Reference Currency"),
        e(0x9F3C,    N,   2,   2,   Terminal, Public, NO,     Emv,        "Transaction Reference Currency Code"),
        e(0x9F3D,    N,   1,   1,   Terminal, Public, NO,     Emv,        "Transaction Reference Currency Exponent"),
        e(0x9F40,    B,   5,   5,   Terminal, Public, NO,     Emv,        "Additional Terminal Capabilities"),
        e(0x9F41,    N,   2,   4,   Terminal, Public, NO,     Emv,        "Transaction Sequence Counter"),
        e(0x9F42,    N,   2,   2,   Icc,      Public, REC,    Emv,        "Application Currency Code"),
        e(0x9F43,    N,   1,   4,   Icc,      Public, REC,    Emv,        "Application Reference Currency Exponent"),
        e(0x9F44,    N,   1,   1,   Icc,      Public, REC,    Emv,        "Application Currency Exponent"),
        e(0x9F45,    B,   2,   2,   Icc,      Public, NO,     Emv,        "Data Authentication Code"),
        e(0x9F46,    B,   1,   248, Icc,      Public, REC,    Emv,        "ICC Public Key Certificate"),
        e(0x9F47,    B,   1,   3,   Icc,      Public, REC,    Emv,        "ICC Public Key Exponent"),
        e(0x9F48,    B,   0,   248, Icc,      Public, REC,    Emv,        "ICC Public Key Remainder"),
        e(0x9F49,    B,   0,   252, Icc,      Public, REC,    Emv,        "Dynamic Data Authentication Data Object List (DDOL)"),
        e(0x9F4A,    B,   0,   252, Icc,      Public, REC,    Emv,        "Static Data Authentication Tag List"),
        e(0x9F4B,    B,   1,   248, Icc,      Public, T77,    Emv,        "Signed Dynamic Application Data"),
        e(0x9F4C,    B,   2,   8,   Icc,      Public, NO,     Emv,        "ICC Dynamic Number"),
        e(0x9F4D,    B,   2,   2,   Icc,      Public, IDD,    Emv,        "Log Entry"),
        e(0x9F4E,    Ans, 0,   U,   Terminal, Public, NO,     Emv,        "Merchant Name and Location"),
        e(0x9F4F,    B,   0,   252, Icc,      Public, NO,     Emv,        "Log Format"),
        e(0x9F50,    N,   6,   6,   Icc,      Public, REC,    Mastercard, "Offline Accumulator Balance"),
        e(0x9F51,    B,   0,   252, Icc,      Public, T70,    Mastercard, "DRDOL"),
        e(0x9F51,    N,   2,   2,   Icc,      Public, NO,     Visa,       "Application Currency Code (VIS)"),
        e(0x9F52,    B,   2,   2,   Icc,      Public, NO,     Mastercard, "Application Default Action (ADA)"),
        e(0x9F52,    B,   2,   4,   Icc,      Public, NO,     Visa,       "Application Default Action (ADA)"),
        e(0x9F53,    An,  1,   1,   Terminal, Public, NO,     Mastercard, "Transaction Category Code"),
        e(0x9F53,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Consecutive Transaction Limit (International)"),
        e(0x9F54,    B,   0,   160, Icc,      Public, REC,    Mastercard, "DS ODS Card"),
        e(0x9F54,    N,   6,   6,   Icc,      Public, NO,     Visa,       "Cumulative Total Transaction Amount Limit"),
        e(0x9F55,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Geographic Indicator"),
        e(0x9F56,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Issuer Authentication Indicator"),
        e(0x9F57,    N,   2,   2,   Icc,      Public, NO,     Visa,       "Issuer Country Code (VIS)"),
        e(0x9F58,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Lower Consecutive Offline Limit (VIS)"),
        e(0x9F59,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Upper Consecutive Offline Limit (VIS)"),
        e(0x9F5A,    B,   1,   16,  Icc,      Public, RSP,    Visa,       "Application Program Identifier (Program ID)"),
        e(0x9F5B,    B,   0,   252, Icc,      Public, T70,    Mastercard, "DSDOL"),
        e(0x9F5B,    B,   0,   U,   Terminal, Public, NO,     Visa,       "Issuer Script Results"),
        e(0x9F5C,    B,   8,   8,   Terminal, Public, NO,     Mastercard, "DS Requested Operator ID"),
        e(0x9F5C,    N,   6,   6,   Icc,      Public, NO,     Visa,       "Cumulative Total Transaction Amount Upper Limit"),
        e(0x9F5D,    B,   3,   3,   Icc,      Public, TA5,    Mastercard, "Application Capabilities Information"),
        e(0x9F5D,    N,   6,   6,   Icc,      Public, RSP,    Visa,       "Available Offline Spending Amount (AOSA)"),
        e(0x9F5E,    B,   8,   11,  Icc,      Public, T70,    Mastercard, "DS ID"),
        e(0x9F5E,    B,   1,   1,   Icc,      Public, NO,     Visa,       "Consecutive Transaction International Upper Limit"),
        e(0x9F5F,    B,   1,   1,   Icc,      Public, TA5,    Mastercard, "DS Slot Availability"),
        e(0x9F60,    B,   2,   2,   Icc,      Public, T77,    Mastercard, "CVC3 (Track1)"),
        e(0x9F61,    B,   2,   2,   Icc,      Public, T77,    Mastercard, "CVC3 (Track2)"),
        e(0x9F62,    B,   6,   6,   Icc,      Public, T70,    Mastercard, "PCVC3 (Track1)"),
        e(0x9F63,    B,   6,   6,   Icc,      Public, T70,    Mastercard, "PUNATC (Track1)"),
        e(0x9F64,    B,   1,   1,   Icc,      Public, T70,    Mastercard, "NATC (Track1)"),
        e(0x9F65,    B,   2,   2,   Icc,      Public, T70,    Mastercard, "PCVC3 (Track2)"),
        e(0x9F66,    B,   4,   4,   Terminal, Public, NO,     Emv,        "Terminal Transaction Qualifiers (TTQ)"),
        e(0x9F66,    B,   2,   2,   Icc,      Public, T70,    Mastercard, "PUNATC (Track2)"),
        e(0x9F67,    B,   1,   1,   Icc,      Public, T70,    Mastercard, "NATC (Track2)"),
        e(0x9F68,    B,   4,   4,   Icc,      Public, REC,    Visa,       "Card Additional Processes"),
        e(0x9F69,    B,   5,   16,  Icc,      Public, REC,    Visa,       "Card Authentication Related Data"),
        e(0x9F69,    B,   0,   252, Icc,      Public, T70,    Mastercard, "UDOL"),
        e(0x9F6A,    N,   4,   4,   Terminal, Public, NO,     Mastercard, "Unpredictable Number (Numeric)"),
        e(0x9F6B,    B,   1,   19,  Icc,      Track,  T70,    Mastercard, "Track 2 Data"),
        e(0x9F6C,    B,   2,   2,   Icc,      Public, RSP,    Visa,       "Card Transaction Qualifiers (CTQ)"),
        e(0x9F6C,    B,   2,   2,   Icc,      Public, T70,    Mastercard, "Mag-stripe Application Version Number (Card)"),
        e(0x9F6D,    B,   2,   2,   Terminal, Public, NO,     Mastercard, "Mag-stripe Application Version Number (Reader)"),
        e(0x9F6E,    B,   4,   4,   Icc,      Public, RSP,    Visa,       "Form Factor Indicator (FFI)"),
        e(0x9F6E,    B,   5,   32,  Icc,      Public, REC,    Mastercard, "Third Party Data"),
        e(0x9F6F,    B,   1,   1,   Icc,      Public, REC,    Mastercard, "DS Slot Management Control"),
        e(0x9F70,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Protected Data Envelope 1"),
        e(0x9F71,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Protected Data Envelope 2"),
        e(0x9F72,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Protected Data Envelope 3"),
        e(0x9F73,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Protected Data Envelope 4"),
        e(0x9F74,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Protected Data Envelope 5"),
        e(0x9F75,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Unprotected Data Envelope 1"),
        e(0x9F76,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Unprotected Data Envelope 2"),
        e(0x9F77,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Unprotected Data Envelope 3"),
        e(0x9F78,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Unprotected Data Envelope 4"),
        e(0x9F79,    B,   0,   192, Icc,      Public, DEK,    Mastercard, "Unprotected Data Envelope 5"),
        e(0x9F7C,    B,   20,  20,  Terminal, Public, NO,     Mastercard, "Merchant Custom Data"),
        e(0x9F7C,    B,   0,   32,  Icc,      Public, RSP,    Visa,       "Customer Exclusive Data (CED)"),
        e(0x9F7D,    B,   8,   16,  Icc,      Public, REC,    Mastercard, "DS Summary 1"),
        e(0x9F7E,    B,   1,   1,   Terminal, Public, NO,     Mastercard, "Mobile Support Indicator"),
        e(0x9F7F,    B,   4,   4,   Terminal, Public, NO,     Mastercard, "DS Unpredictable Number"),
        e(0xBF0C,    Var, 0,   222, Icc,      Public, TA5,    Emv,        "File Control Information (FCI) Issuer Discretionary Data"),
        e(0xDF4B,    B,   3,   3,   Icc,      Public, T77,    Mastercard, "POS Cardholder Interaction Information"),
        e(0xDF60,    B,   8,   8,   Icc,      Public, T77,    Mastercard, "DS Input (Card)"),
        e(0xDF61,    B,   8,   8,   Icc,      Public, T77,    Mastercard, "DS Digest H"),
        e(0xDF62,    B,   1,   1,   Icc,      Public, T77,    Mastercard, "DS ODS Info"),
        e(0xDF63,    B,   0,   160, Icc,      Public, T77,    Mastercard, "DS ODS Term"),
        e(0xDF8101,  B,   8,   16,  Icc,      Public, T77,    Mastercard, "DS Summary 2"),
        e(0xDF8102,  B,   8,   16,  Icc,      Public, T77,    Mastercard, "DS Summary 3"),
        e(0xDF8104,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Balance Read Before Gen AC"),
        e(0xDF8105,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Balance Read After Gen AC"),
        e(0xDF8106,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "Data Needed"),
        e(0xDF8107,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "CDOL1 Related Data"),
        e(0xDF8108,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "DS AC Type"),
        e(0xDF8109,  B,   8,   8,   Terminal, Public, NO,     Mastercard, "DS Input (Term)"),
        e(0xDF810A,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "DS ODS Info For Reader"),
        e(0xDF810B,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "DS Summary Status"),
        e(0xDF810C,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Kernel ID"),
        e(0xDF810D,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "DSVN Term"),
        e(0xDF810E,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Post-Gen AC Put Data Status"),
        e(0xDF810F,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Pre-Gen AC Put Data Status"),
        e(0xDF8110,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Proceed To First Write Flag"),
        e(0xDF8111,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "PDOL Related Data"),
        e(0xDF8112,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "Tags To Read"),
        e(0xDF8113,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "DRDOL Related Data"),
        e(0xDF8114,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Reference Control Parameter"),
        e(0xDF8115,  B,   6,   6,   Terminal, Public, NO,     Mastercard, "Error Indication"),
        e(0xDF8116,  B,   22,  22,  Terminal, Public, NO,     Mastercard, "User Interface Request Data"),
        e(0xDF8117,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Card Data Input Capability"),
        e(0xDF8118,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "CVM Capability - CVM Required"),
        e(0xDF8119,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "CVM Capability - No CVM Required"),
        e(0xDF811A,  B,   3,   3,   Terminal, Public, NO,     Mastercard, "Default UDOL"),
        e(0xDF811B,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Kernel Configuration"),
        e(0xDF811C,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Max Lifetime of Torn Transaction Log Record"),
        e(0xDF811D,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Max Number of Torn Transaction Log Records"),
        e(0xDF811E,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Mag-stripe CVM Capability - CVM Required"),
        e(0xDF811F,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Security Capability"),
        e(0xDF8120,  B,   5,   5,   Terminal, Public, NO,     Mastercard, "Terminal Action Code - Default"),
        e(0xDF8121,  B,   5,   5,   Terminal, Public, NO,     Mastercard, "Terminal Action Code - Denial"),
        e(0xDF8122,  B,   5,   5,   Terminal, Public, NO,     Mastercard, "Terminal Action Code - Online"),
        e(0xDF8123,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Reader Contactless Floor Limit"),
        e(0xDF8124,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Reader Contactless Transaction Limit (No On-device CVM)"),
        e(0xDF8125,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Reader Contactless Transaction Limit (On-device CVM)"),
        e(0xDF8126,  N,   6,   6,   Terminal, Public, NO,     Mastercard, "Reader CVM Required Limit"),
        e(0xDF8127,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Time Out Value"),
        e(0xDF8128,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "IDS Status"),
        e(0xDF8129,  B,   8,   8,   Terminal, Public, NO,     Mastercard, "Outcome Parameter Set"),
        e(0xDF812A,  Ans, 0,   56,  Terminal, Redact, NO,     Mastercard, "DD Card (Track1)"),
        e(0xDF812B,  B,   0,   8,   Terminal, Redact, NO,     Mastercard, "DD Card (Track2)"),
        e(0xDF812C,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Mag-stripe CVM Capability - No CVM Required"),
        e(0xDF812D,  N,   3,   3,   Terminal, Public, NO,     Mastercard, "Message Hold Time"),
        e(0xDF8130,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Hold Time Value"),
        e(0xDF8131,  B,   0,   U,   Terminal, Public, NO,     Mastercard, "Phone Message Table"),
        e(0xDF8132,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Minimum Relay Resistance Grace Period"),
        e(0xDF8133,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Maximum Relay Resistance Grace Period"),
        e(0xDF8134,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Terminal Expected Transmission Time For Relay Resistance C-APDU"),
        e(0xDF8135,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Terminal Expected Transmission Time For Relay Resistance R-APDU"),
        e(0xDF8136,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Relay Resistance Accuracy Threshold"),
        e(0xDF8137,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "Relay Resistance Transmission Time Mismatch Threshold"),
        e(0xDF8301,  B,   4,   4,   Terminal, Public, NO,     Mastercard, "Terminal Relay Resistance Entropy"),
        e(0xDF8302,  B,   4,   4,   Icc,      Public, NO,     Mastercard, "Device Relay Resistance Entropy"),
        e(0xDF8303,  B,   2,   2,   Icc,      Public, NO,     Mastercard, "Min Time For Processing Relay Resistance APDU"),
        e(0xDF8304,  B,   2,   2,   Icc,      Public, NO,     Mastercard, "Max Time For Processing Relay Resistance APDU"),
        e(0xDF8305,  B,   2,   2,   Icc,      Public, NO,     Mastercard, "Device Estimated Transmission Time For Relay Resistance R-APDU"),
        e(0xDF8306,  B,   2,   2,   Terminal, Public, NO,     Mastercard, "Measured Relay Resistance Processing Time"),
        e(0xDF8307,  B,   1,   1,   Terminal, Public, NO,     Mastercard, "RRP Counter"),
        e(0xFF8101,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Torn Record"),
        e(0xFF8102,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Tags To Write Before Gen AC"),
        e(0xFF8103,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Tags To Write After Gen AC"),
        e(0xFF8104,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Data To Send"),
        e(0xFF8105,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Data Record"),
        e(0xFF8106,  Var, 0,   U,   Terminal, Public, NO,     Mastercard, "Discretionary Data"),
    ];
}

use data::TABLE;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn table_is_sorted_and_tag_scope_pairs_are_unique() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].tag <= pair[1].tag,
                "{} is listed before {}",
                pair[0].tag,
                pair[1].tag
            );
        }
        let mut seen = HashSet::new();
        for e in TABLE {
            assert!(
                seen.insert((e.tag, e.scope)),
                "{} {:?} is listed twice",
                e.tag,
                e.scope
            );
        }
    }

    #[test]
    fn rows_are_well_formed() {
        for e in TABLE {
            assert!(!e.name.is_empty(), "{} has no name", e.tag);
            assert!(e.min_len <= e.max_len, "{} has min > max", e.tag);
            assert!(
                Tag::from_bytes(&e.tag.to_bytes()) == Some(e.tag),
                "{} is not a BER tag",
                e.tag
            );
            if e.is_constructed() {
                assert_eq!(
                    e.format,
                    Format::Var,
                    "template {} must have format Var",
                    e.tag
                );
            }
            for t in e.templates {
                assert!(
                    lookup(*t).is_some(),
                    "{}'s template {t} is not in the table",
                    e.tag
                );
                assert!(
                    t.is_constructed() || t.0 == 0x80,
                    "{}'s template {t} is primitive",
                    e.tag
                );
            }
            if e.sensitivity != Sensitivity::Public {
                assert!(
                    [
                        0x56, 0x57, 0x5A, 0x5F20, 0x5F53, 0x99, 0x9F0B, 0x9F1F, 0x9F20, 0x9F6B
                    ]
                    .contains(&e.tag.0)
                        || e.tag.0 == 0xDF812A
                        || e.tag.0 == 0xDF812B,
                    "{} is unexpectedly sensitive",
                    e.tag
                );
            }
        }
    }

    #[test]
    fn required_tags_are_present() {
        let one_byte = [
            0x42, 0x4F, 0x50, 0x56, 0x57, 0x5A, 0x61, 0x6F, 0x70, 0x71, 0x72, 0x73, 0x77, 0x80,
            0x81, 0x82, 0x83, 0x84, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x8D, 0x8E, 0x8F, 0x90,
            0x91, 0x92, 0x93, 0x94, 0x95, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0xA5,
        ];
        let two_byte = [
            0x5F20, 0x5F24, 0x5F25, 0x5F28, 0x5F2A, 0x5F2D, 0x5F30, 0x5F34, 0x5F36, 0xBF0C,
        ];
        let nine_f = [
            0x01, 0x02, 0x03, 0x06, 0x07, 0x08, 0x09, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
            0x14, 0x15, 0x16, 0x17, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23,
            0x24, 0x26, 0x27, 0x2D, 0x2E, 0x2F, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3A, 0x3B, 0x3C, 0x3D, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
            0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
            0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x70, 0x71, 0x74, 0x7C, 0x7D, 0x7E,
        ];
        let kernel2 =
            (0xDF8101..=0xDF8131u32).filter(|t| ![0xDF8103, 0xDF812E, 0xDF812F].contains(t));
        let all = one_byte
            .into_iter()
            .chain(two_byte)
            .chain(nine_f.into_iter().map(|t| 0x9F00 | t))
            .chain(kernel2);
        for t in all {
            assert!(lookup(Tag(t)).is_some(), "{} is missing", Tag(t));
        }
    }

    #[test]
    fn lookup_samples() {
        let pan = lookup(Tag(0x5A)).unwrap();
        assert_eq!(pan.name, "Application Primary Account Number (PAN)");
        assert_eq!((pan.format, pan.min_len, pan.max_len), (Format::Cn, 1, 10));
        assert_eq!(pan.sensitivity, Sensitivity::Pan);
        assert_eq!(pan.templates, &[Tag(0x70), Tag(0x77)]);

        let amount = lookup(Tag(0x9F02)).unwrap();
        assert_eq!(
            (amount.format, amount.source),
            (Format::N, Source::Terminal)
        );
        assert_eq!(
            lookup(Tag(0xDF8124)).unwrap().name,
            "Reader Contactless Transaction Limit (No On-device CVM)"
        );
        assert_eq!(lookup(Tag(0xDF8129)).unwrap().max_len, 8);
        assert_eq!(
            lookup(Tag(0x9F66)).unwrap().name,
            "Terminal Transaction Qualifiers (TTQ)"
        );
        assert_eq!(
            lookup(Tag(0x9F6C)).unwrap().name,
            "Card Transaction Qualifiers (CTQ)"
        );
        assert_eq!(lookup(Tag(0xBF0C)).unwrap().format, Format::Var);
        assert!(lookup(Tag(0x9F7B)).is_none());
        assert!(lookup(Tag(0xDF8199)).is_none());
        assert!(lookup(Tag(0)).is_none());
    }

    #[test]
    fn scoped_lookup_picks_the_kernels_meaning() {
        assert_eq!(lookup_all(Tag(0x9F6C)).len(), 2);
        assert_eq!(
            lookup_in(Tag(0x9F6C), Scope::Mastercard).unwrap().name,
            "Mag-stripe Application Version Number (Card)"
        );
        assert_eq!(
            lookup_in(Tag(0x9F6E), Scope::Mastercard).unwrap().name,
            "Third Party Data"
        );
        assert_eq!(
            lookup_in(Tag(0x9F6E), Scope::Visa).unwrap().name,
            "Form Factor Indicator (FFI)"
        );
        // No Visa row: falls back to the EMV row.
        assert_eq!(
            lookup_in(Tag(0x9F02), Scope::Visa).unwrap().scope,
            Scope::Emv
        );
        // No EMV row either: the first row.
        assert_eq!(
            lookup_in(Tag(0xDF8129), Scope::Visa).unwrap().scope,
            Scope::Mastercard
        );
        assert!(lookup_in(Tag(0x9F7B), Scope::Visa).is_none());
    }

    #[test]
    fn dol_formats_follow_the_element_format() {
        assert_eq!(dol_format(Tag(0x9F02)), DolFormat::Numeric);
        assert_eq!(dol_format(Tag(0x5A)), DolFormat::CompressedNumeric);
        assert_eq!(dol_format(Tag(0x9F37)), DolFormat::Other);
        assert_eq!(dol_format(Tag(0x9F4E)), DolFormat::Other);
        assert_eq!(dol_format(Tag(0xDF8123)), DolFormat::Numeric);
        assert_eq!(dol_format(Tag(0x9F7B)), DolFormat::Other);
    }

    #[test]
    fn scope_from_aid() {
        assert_eq!(
            Scope::from_aid(&[0xA0, 0, 0, 0, 0x04, 0x10, 0x10]),
            Some(Scope::Mastercard)
        );
        assert_eq!(
            Scope::from_aid(&[0xA0, 0, 0, 0, 0x03, 0x10, 0x10]),
            Some(Scope::Visa)
        );
        assert_eq!(Scope::from_aid(&[0xA0, 0, 0, 0, 0x25]), None);
        assert_eq!(Scope::from_aid(&[0xA0]), None);
    }
}
