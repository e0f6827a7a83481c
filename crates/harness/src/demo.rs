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

/// Demo issuer ID&V key (`issuer::idv`: the CVV and one-time-password hash keys derive from it).
pub const ISSUER_IDV_KEY_HEX: &str =
    "C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";

/// DEMO ONLY: the token service's P-256 encryption key (the scalar `d`, 32 bytes). Token
/// requestors encrypt funding accounts (JWE, ECDH-ES+A256KW) to its public half.
pub const TSP_ENCRYPTION_KEY_HEX: &str =
    "1E5F0A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7";
/// Key id of [`TSP_ENCRYPTION_KEY_HEX`].
pub const TSP_ENCRYPTION_KEY_ID: &str = "tsp-demo-enc-1";
/// DEMO ONLY: the token service's P-256 signing key (the scalar `d`, 32 bytes) for ES256
/// token-updated notifications.
pub const TSP_SIGNING_KEY_HEX: &str =
    "2B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFE";
/// Key id (`kid`) of [`TSP_SIGNING_KEY_HEX`], set in every notification's JWS header.
pub const TSP_SIGNING_KEY_ID: &str = "tsp-demo-sig-1";
/// DEMO ONLY: the token service's payment account reference key (PAR = HMAC of the FPAN).
pub const TSP_PAR_KEY_HEX: &str =
    "5041525041525041525041525041525041525041525041525041525041525041";
/// The demo token requestor (the wallet backend), as registered at the token service.
pub const TOKEN_REQUESTOR_ID: &str = "50110030273";
/// DEMO ONLY: the demo token requestor's API key (32 bytes, hex): it signs requests with
/// HMAC-SHA-256 (see `tsp::auth`).
pub const TOKEN_REQUESTOR_API_KEY_HEX: &str =
    "7472617069746b65792d64656d6f2d6f6e6c792d6e6f742d666f722d70726f64";

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
    /// The card's CVV (demo rule: the issuer enrolls exactly this value; it stores only its
    /// keyed hash, see `issuer::idv`).
    pub cvv: &'static str,
    /// The issuer's ID&V profile of the card (see [`seed_idv`]).
    pub idv: DemoIdv,
}

/// A demo card's ID&V profile at the issuer: what `issuer::idv` decides tokenizations with.
pub struct DemoIdv {
    /// Product name shown in the wallet.
    pub product_name: &'static str,
    /// Tokenized without a step-up (green) when true; otherwise a first tokenization on a
    /// device asks for a step-up (yellow).
    pub low_risk: bool,
    /// Phone number for SMS codes (fictitious).
    pub phone: Option<&'static str>,
    /// E-mail address for codes (reserved example domain).
    pub email: Option<&'static str>,
    /// The cardholder can approve in the issuer's app.
    pub issuer_app: bool,
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
        cvv: "123",
        idv: DemoIdv {
            product_name: "Tapwallet Visa Credit",
            low_risk: true,
            phone: Some("+33 612 34 56 78"),
            email: Some("camille.martin@example.com"),
            issuer_app: true,
        },
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
        cvv: "456",
        idv: DemoIdv {
            product_name: "Tapwallet Mastercard Debit",
            low_risk: false,
            phone: Some("+33 698 76 54 32"),
            email: Some("alex.durand@example.com"),
            issuer_app: true,
        },
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
        cvv: "789",
        idv: DemoIdv {
            product_name: "Tapwallet Visa Debit",
            low_risk: false,
            phone: Some("+33 611 22 33 44"),
            email: None,
            issuer_app: false,
        },
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
        cvv: "321",
        idv: DemoIdv {
            product_name: "Tapwallet Visa Credit",
            low_risk: false,
            phone: None,
            email: Some("sam.bernard@example.com"),
            issuer_app: false,
        },
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
        cvv: "654",
        idv: DemoIdv {
            product_name: "Tapwallet Visa Credit",
            low_risk: true,
            phone: None,
            email: None,
            issuer_app: true,
        },
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
                credential: "se".into(),
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

/// Enrolls every demo card for ID&V at the issuer (CVV hash, product, contact points, risk),
/// replacing earlier enrollments; returns how many. Run after [`seed`], which creates the cards.
pub async fn seed_idv(idv: &issuer::idv::Idv) -> Result<usize, SeedError> {
    for card in DEMO_CARDS {
        let fpan = Pan::parse(card.fpan)?;
        idv.enroll(
            &fpan,
            &issuer::idv::IdvProfile {
                cvv: secret::Secret::new(card.cvv.to_owned()),
                product_name: card.idv.product_name.to_owned(),
                low_risk: card.idv.low_risk,
                phone: card.idv.phone.map(str::to_owned),
                email: card.idv.email.map(str::to_owned),
                issuer_app: card.idv.issuer_app,
            },
        )
        .await?;
    }
    Ok(DEMO_CARDS.len())
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

/// The `index`-th bench card number under `prefix` (8 digits): 16 digits, Luhn-valid.
pub fn bench_pan(prefix: &str, index: usize) -> Result<Pan, SeedError> {
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
                        credential: "se".into(),
                    })
                    .await?;
                0
            }
        };
        out.push(BenchCard { dpan, atc });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_cards_enroll_for_idv_and_demo_keys_parse() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let clock: issuer::Clock = std::sync::Arc::new(|| 1_795_435_200);
        let issuer = issuer::Issuer::new(
            store.clone(),
            issuer::IssuerConfig {
                keys: issuer::IssuerKeys::single(tdes_key(ISSUER_IMK_HEX, "imk").unwrap()),
                pan_hash_key: key32(ISSUER_HASH_KEY_HEX, "hash").unwrap(),
                velocity: domain::VelocityLimits::default(),
            },
            std::sync::Arc::clone(&clock),
        );
        let vault = VaultKeys::new(
            key32(VAULT_KEY_HEX, "vault").unwrap().expose(),
            key32(VAULT_HASH_KEY_HEX, "vault hash").unwrap().expose(),
        )
        .unwrap();
        assert!(seed(&store, &issuer, &vault).await.unwrap());
        let idv = issuer::idv::Idv::new(
            store.clone(),
            issuer::idv::IdvConfig {
                pan_hash_key: key32(ISSUER_HASH_KEY_HEX, "hash").unwrap(),
                idv_key: key32(ISSUER_IDV_KEY_HEX, "idv").unwrap(),
                rules: issuer::idv::IdvRules::default(),
            },
            clock,
        );
        // Enrolling twice replaces the profiles.
        for _ in 0..2 {
            assert_eq!(seed_idv(&idv).await.unwrap(), DEMO_CARDS.len());
        }
        for card in DEMO_CARDS {
            let hash = issuer.pan_hash(&Pan::parse(card.fpan).unwrap());
            assert_eq!(idv.pan_hash(&Pan::parse(card.fpan).unwrap()), hash);
            let profile = store.idv_profile(&hash).await.unwrap().unwrap();
            assert_eq!(profile.low_risk, card.idv.low_risk, "{}", card.purpose);
            assert_eq!(profile.product_name, card.idv.product_name);
            assert!((3..=4).contains(&card.cvv.len()));
        }
        for hex in [
            ISSUER_IDV_KEY_HEX,
            TSP_ENCRYPTION_KEY_HEX,
            TSP_SIGNING_KEY_HEX,
            TSP_PAR_KEY_HEX,
            TOKEN_REQUESTOR_API_KEY_HEX,
        ] {
            assert!(key32(hex, "demo key").is_ok());
        }
    }
}
