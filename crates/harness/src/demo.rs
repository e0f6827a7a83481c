//! The demo world `tapwallet up` creates on first run: one issuer with funding cards, the
//! network's tokens for them, one merchant with one terminal, and the demo keys.
//!
//! Every card number is a published test number (Visa, Mastercard and processor test ranges);
//! every key is a documented demo key. Production deployments pass their own keys by flag or
//! environment variable (see `tapwallet up --help`).

use cards::{Expiry, Pan};
use domain::{BinKind, BinRange, BinTable, ChannelSet};
use emv_crypto::{KeyAlgorithm, MasterKey};
use network::vault::VaultKeys;
use store::{IssuerCardRow, MerchantRow, NewAccount, Store, TerminalRow, TokenRow};

/// The documented demo issuer master key (the classic public test key).
pub const ISSUER_IMK_HEX: &str = "0123456789ABCDEFFEDCBA9876543210";
/// The documented demo token-service master key (token-level card keys).
pub const TOKEN_IMK_HEX: &str = "89ABCDEF0123456776543210FEDCBA98";
/// Demo vault encryption key (AES-256).
pub const VAULT_KEY_HEX: &str = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
/// Demo vault lookup-hash key.
pub const VAULT_HASH_KEY_HEX: &str =
    "1F1E1D1C1B1A191817161514131211100F0E0D0C0B0A09080706050403020100";
/// Demo issuer card-index hash key.
pub const ISSUER_HASH_KEY_HEX: &str =
    "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF";

/// The demo terminal and merchant.
pub const TERMINAL_ID: &str = "TWPOS001";
pub const MERCHANT_ID: &str = "TW0000000000001";

/// One demo funding card and its token.
pub struct DemoCard {
    /// What the demo is for, shown by `tapwallet up`.
    pub purpose: &'static str,
    pub fpan: &'static str,
    pub fpan_expiry: (u16, u8),
    pub account: &'static str,
    pub limit_or_balance_minor: i64,
    pub card_status: &'static str,
    pub dpan: &'static str,
    pub token_status: &'static str,
    pub channels: ChannelSet,
}

/// The demo cards. DPANs sit in the network's token ranges, FPANs in account ranges.
pub const DEMO_CARDS: &[DemoCard] = &[
    DemoCard {
        purpose: "Visa, credit 5 000.00 EUR: approves",
        fpan: "4111111111111111",
        fpan_expiry: (2030, 12),
        account: "credit",
        limit_or_balance_minor: 500_000,
        card_status: "active",
        dpan: "4761739001010010",
        token_status: "active",
        channels: ChannelSet::ALL,
    },
    DemoCard {
        purpose: "Mastercard, debit 1 000.00 EUR: approves",
        fpan: "5555555555554444",
        fpan_expiry: (2030, 12),
        account: "debit",
        limit_or_balance_minor: 100_000,
        card_status: "active",
        dpan: "5413330089010012",
        token_status: "active",
        channels: ChannelSet::ALL,
    },
    DemoCard {
        purpose: "Visa, debit 10.00 EUR: declines 51 above 10.00",
        fpan: "4012888888881881",
        fpan_expiry: (2030, 12),
        account: "debit",
        limit_or_balance_minor: 1_000,
        card_status: "active",
        dpan: "4761739001010028",
        token_status: "active",
        channels: ChannelSet::ALL,
    },
    DemoCard {
        purpose: "Visa, token suspended: declines 62",
        fpan: "4222222222222",
        fpan_expiry: (2030, 12),
        account: "credit",
        limit_or_balance_minor: 500_000,
        card_status: "active",
        dpan: "4761739001010036",
        token_status: "suspended",
        channels: ChannelSet::ALL,
    },
    DemoCard {
        purpose: "Visa, token for e-commerce only: declines 57 at a terminal",
        fpan: "4242424242424242",
        fpan_expiry: (2030, 12),
        account: "credit",
        limit_or_balance_minor: 500_000,
        card_status: "active",
        dpan: "4761739001010044",
        token_status: "active",
        channels: ChannelSet(4),
    },
];

/// The network's BIN table: Visa and Mastercard token ranges (narrower, so they win), then the
/// account ranges around them.
pub fn bin_table() -> BinTable {
    let r = |low, high, kind, owner: &str| BinRange {
        low,
        high,
        kind,
        owner: owner.to_owned(),
    };
    BinTable::new(vec![
        r(47_617_390, 47_617_399, BinKind::Token, "tapwallet-tsp"),
        r(54_133_300, 54_133_399, BinKind::Token, "tapwallet-tsp"),
        r(
            40_000_000,
            49_999_999,
            BinKind::Account,
            "tapwallet-demo-bank",
        ),
        r(
            51_000_000,
            55_999_999,
            BinKind::Account,
            "tapwallet-demo-bank",
        ),
    ])
}

/// A 3DES master key from hex; the error says what to fix.
pub fn tdes_key(hex_key: &str, what: &str) -> Result<MasterKey, String> {
    let bytes = secret::Secret::new(hex_decode(hex_key).ok_or(format!("{what} must be hex"))?);
    MasterKey::new(KeyAlgorithm::Tdes2, bytes.expose())
        .map_err(|e| format!("{what}: {e} (a double-length 3DES key is 32 hex digits)"))
}

/// 32 bytes from hex; the error says what to fix.
pub fn key32(hex_key: &str, what: &str) -> Result<secret::Secret<[u8; 32]>, String> {
    let bytes = secret::Secret::new(hex_decode(hex_key).ok_or(format!("{what} must be hex"))?);
    let arr: [u8; 32] = bytes
        .expose()
        .as_slice()
        .try_into()
        .map_err(|_| format!("{what} must be 32 bytes (64 hex digits)"))?;
    Ok(secret::Secret::new(arr))
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Errors while seeding.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the demo world unless the store was already seeded.
pub async fn seed(
    store: &Store,
    issuer: &issuer::Issuer,
    vault: &VaultKeys,
) -> Result<bool, SeedError> {
    if store.seeded().await? {
        return Ok(false);
    }
    for (i, card) in DEMO_CARDS.iter().enumerate() {
        let fpan = Pan::parse(card.fpan)?;
        let dpan = Pan::parse(card.dpan)?;
        let expiry = Expiry::new(card.fpan_expiry.0, card.fpan_expiry.1)?;
        let (limit, balance) = match card.account {
            "credit" => (card.limit_or_balance_minor, 0),
            _ => (0, card.limit_or_balance_minor),
        };
        let account = store
            .create_account(&NewAccount {
                kind: card.account.to_owned(),
                limit_minor: limit,
                balance_minor: balance,
                holds_minor: 0,
                currency_numeric: 978,
                open: true,
            })
            .await?;
        store
            .create_card(&IssuerCardRow {
                pan_hash: issuer.pan_hash(&fpan),
                last4: fpan.last4().to_owned(),
                expiry_yymm: expiry.yymm(),
                psn: 0x01,
                status: card.card_status.to_owned(),
                account_id: account,
            })
            .await?;
        let hash = vault.pan_hash(&dpan);
        store
            .insert_token(&TokenRow {
                dpan_hash: hash,
                dpan_last4: dpan.last4().to_owned(),
                fpan_envelope: vault.seal(&fpan, expiry, &hash)?,
                token_expiry_yymm: "3012".to_owned(),
                status: card.token_status.to_owned(),
                token_requestor_id: "50110030273".to_owned(),
                channels: i32::from(card.channels.0),
                device_id: None,
                psn: 0x01,
                tur: format!("DWSPMC0000000000000000000000000{i:02}"),
                par: format!("V0010013021234567890123456{i:03}"),
                atc_window: domain::AtcWindow::new().to_bytes().to_vec(),
                standin_count: 0,
                created_at_unix: 0,
            })
            .await?;
    }
    store
        .insert_merchant(&MerchantRow {
            merchant_id: MERCHANT_ID.to_owned(),
            name_location: "TAPWALLET CAFE         PARIS        FR".to_owned(),
            mcc: "5814".to_owned(),
        })
        .await?;
    store
        .insert_terminal(&TerminalRow {
            terminal_id: TERMINAL_ID.to_owned(),
            merchant_id: MERCHANT_ID.to_owned(),
        })
        .await?;
    store.mark_seeded().await?;
    Ok(true)
}

/// A funding card and token that [`seed_bench_cards`] made (or found) for `tapwallet bench`.
pub struct BenchCard {
    /// The token the in-process card carries (Visa token range, PSN 01, expiry 12/30).
    pub dpan: Pan,
    /// The highest ATC the network has accepted for this token (0 when none): the card's counter
    /// must start here, since the network declines replays.
    pub atc: u16,
}

/// The most bench cards [`seed_bench_cards`] numbers (seven digits of index).
pub const BENCH_CARDS_MAX: usize = 10_000_000;

fn bench_pan(prefix: &str, index: usize) -> Result<Pan, SeedError> {
    let partial = format!("{prefix}{index:07}");
    let check = cards::luhn_check_digit(&partial).ok_or("bench card number is not digits")?;
    Ok(Pan::parse(&format!("{partial}{check}"))?)
}

/// Seeds `count` bench cards: each a credit account with `limit_minor` at the demo issuer, an
/// active card, and an active token for it in the vault (all channels, PSN 01, expiry 12/30),
/// keyed like the demo world. Idempotent: what already exists is kept, and each token's
/// counter is read back so that a run on a used database starts above it.
///
/// The numbers are synthetic, not published test numbers: DPANs `47617399nnnnnnnC` (inside the
/// network's Visa token range, apart from the demo tokens) and FPANs `49999990nnnnnnnC` (the
/// account range), with `nnnnnnn` the index and `C` the Luhn digit.
pub async fn seed_bench_cards(
    store: &Store,
    issuer: &issuer::Issuer,
    vault: &VaultKeys,
    count: usize,
    limit_minor: i64,
) -> Result<Vec<BenchCard>, SeedError> {
    if count > BENCH_CARDS_MAX {
        return Err(format!("at most {BENCH_CARDS_MAX} bench cards").into());
    }
    let expiry = Expiry::new(2030, 12)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let fpan = bench_pan("49999990", i)?;
        let dpan = bench_pan("47617399", i)?;
        let pan_hash = issuer.pan_hash(&fpan);
        if store.card(&pan_hash).await?.is_none() {
            let account = store
                .create_account(&NewAccount {
                    kind: "credit".to_owned(),
                    limit_minor,
                    balance_minor: 0,
                    holds_minor: 0,
                    currency_numeric: 978,
                    open: true,
                })
                .await?;
            store
                .create_card(&IssuerCardRow {
                    pan_hash,
                    last4: fpan.last4().to_owned(),
                    expiry_yymm: expiry.yymm(),
                    psn: 0x01,
                    status: "active".to_owned(),
                    account_id: account,
                })
                .await?;
        }
        let hash = vault.pan_hash(&dpan);
        let atc = match store.token(&hash).await? {
            Some(row) => domain::AtcWindow::from_bytes(&row.atc_window)
                .and_then(|w| w.highest())
                .unwrap_or(0),
            None => {
                store
                    .insert_token(&TokenRow {
                        dpan_hash: hash,
                        dpan_last4: dpan.last4().to_owned(),
                        fpan_envelope: vault.seal(&fpan, expiry, &hash)?,
                        token_expiry_yymm: "3012".to_owned(),
                        status: "active".to_owned(),
                        token_requestor_id: "50110030273".to_owned(),
                        channels: i32::from(ChannelSet::ALL.0),
                        device_id: None,
                        psn: 0x01,
                        tur: format!("DWSPMCB{i:026}"),
                        par: format!("V001B{i:024}"),
                        atc_window: domain::AtcWindow::new().to_bytes().to_vec(),
                        standin_count: 0,
                        created_at_unix: 0,
                    })
                    .await?;
                0
            }
        };
        out.push(BenchCard { dpan, atc });
    }
    Ok(out)
}
