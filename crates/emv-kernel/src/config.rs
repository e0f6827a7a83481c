//! What the terminal knows before a card is presented: its configuration, the transaction, and
//! its source of unpredictable numbers.

use cards::{Amount, Date};

/// The contactless kernel a card's application is processed with (EMV Book B, Entry Point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelId {
    /// Kernel 2 (Mastercard): GPO, READ RECORD, GENERATE AC over CDOL1.
    K2,
    /// Kernel 3 (Visa qVSDC): the cryptogram arrives in the GPO response.
    K3,
}

impl KernelId {
    /// The kernel's number, as in Entry Point's Kernel Identifier.
    pub fn number(self) -> u8 {
        match self {
            Self::K2 => 2,
            Self::K3 => 3,
        }
    }

    /// The scheme that owns the kernel.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::K2 => "mastercard",
            Self::K3 => "visa",
        }
    }
}

/// An application the terminal accepts, and the kernel that processes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AidConfig {
    /// The AID (or AID prefix: a card AID that starts with it matches, EMV partial selection).
    pub aid: Vec<u8>,
    /// The kernel for this AID.
    pub kernel: KernelId,
}

/// Reader limits (Entry Point pre-processing, Kernel 2 and 3), in minor units of the
/// transaction currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Above this, contactless is refused for cards without on-device CVM ("insert or swipe").
    pub contactless_transaction_limit_minor: u64,
    /// Above this, contactless is refused even with on-device CVM (Kernel 2's higher limit).
    pub contactless_transaction_limit_cdcvm_minor: u64,
    /// Above this, a cardholder verification is required.
    pub cvm_required_limit_minor: u64,
    /// Above this, the transaction must go online.
    pub floor_limit_minor: u64,
}

impl Default for ReaderLimits {
    /// 50.00 CVM limit, 0.00 floor limit (always online), 1 000.00 / 10 000.00 contactless
    /// limits, as a European merchant might configure them.
    fn default() -> Self {
        Self {
            contactless_transaction_limit_minor: 100_000,
            contactless_transaction_limit_cdcvm_minor: 1_000_000,
            cvm_required_limit_minor: 5_000,
            floor_limit_minor: 0,
        }
    }
}

/// The terminal's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalConfig {
    /// Terminal country code (`9F1A`, ISO 3166 numeric).
    pub country_code: u16,
    /// Terminal type (`9F35`): `22` attended, online with offline capability, merchant.
    pub terminal_type: u8,
    /// Terminal capabilities (`9F33`).
    pub capabilities: [u8; 3],
    /// Base Terminal Transaction Qualifiers (`9F66`) for Kernel 3; per-transaction bits (CVM
    /// required, online cryptogram required) are added by the kernel.
    pub ttq: [u8; 4],
    /// Accepted applications.
    pub aids: Vec<AidConfig>,
    /// Reader limits.
    pub limits: ReaderLimits,
    /// False for an offline-only reader.
    pub online_capable: bool,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            country_code: 250,
            terminal_type: 0x22,
            // Manual key entry, magstripe, IC; plaintext/enciphered online PIN, signature,
            // no CVM; SDA/DDA/CDA.
            capabilities: [0xE0, 0x68, 0xC8],
            // qVSDC, EMV contact chip, online PIN, signature; consumer device CVM supported.
            ttq: [0x36, 0x00, 0x40, 0x00],
            aids: vec![
                AidConfig {
                    aid: vec![0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10],
                    kernel: KernelId::K2,
                },
                AidConfig {
                    aid: vec![0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10],
                    kernel: KernelId::K3,
                },
            ],
            limits: ReaderLimits::default(),
            online_capable: true,
        }
    }
}

/// Transaction type (`9C`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionType(pub u8);

impl TransactionType {
    /// Goods and services.
    pub const PURCHASE: Self = Self(0x00);
    /// Cash advance.
    pub const CASH: Self = Self(0x01);
    /// Purchase with cashback.
    pub const PURCHASE_WITH_CASHBACK: Self = Self(0x09);
    /// Refund.
    pub const REFUND: Self = Self(0x20);
}

/// One transaction to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Amount, authorised (`9F02`) and its currency (`5F2A`).
    pub amount: Amount,
    /// Amount, other (`9F03`): the cashback part, in the same currency.
    pub amount_other_minor: u64,
    /// Transaction date (`9A`), from the terminal's clock.
    pub date: Date,
    /// Transaction type (`9C`).
    pub kind: TransactionType,
}

/// The terminal's source of unpredictable numbers (`9F37`). Production uses the OS CSPRNG;
/// tests inject a seeded one.
pub trait Rng {
    /// Fills `dest` with unpredictable bytes.
    fn fill(&mut self, dest: &mut [u8]);
}
