//! In-process simulation of a contactless payment: a card application, the terminal kernel and
//! the issuer's cryptogram checks wired together with a seeded RNG, for property tests and
//! benchmarks. Dev-only: nothing in production depends on this crate.
#![forbid(unsafe_code)]

pub mod demo;
pub mod terminal;

use cards::{Expiry, Pan};
use emv_card::{Card, CardProfile, Counters, Scheme};
use emv_crypto::{
    ArpcMethod, ArpcResponse, CryptoError, Cvn, MasterKey, derive_icc_master_key,
    issuer_authentication_data, verify_ac,
};
use emv_kernel::{
    Exchange, IssuerResponse, Kernel, OnlineRequest, Outcome, Rng, TerminalConfig, Transaction,
};
use tlv::Tag;

/// A deterministic RNG (SplitMix64) so that a failing run can be replayed from its seed.
#[derive(Clone, Debug)]
pub struct SeededRng(pub u64);

impl SeededRng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The issuer's master key object for the demo key ([`demo::ISSUER_IMK_HEX`]).
pub fn demo_imk() -> MasterKey {
    // Invariant: the demo key is 32 hex digits, a valid double-length 3DES key.
    match demo::tdes_key(demo::ISSUER_IMK_HEX, "demo issuer key") {
        Ok(k) => k,
        Err(e) => unreachable!("{e}"),
    }
}

/// A card personalized for `scheme`/`cvn` with the key the issuer derives from `imk`.
pub fn card(
    imk: &MasterKey,
    scheme: Scheme,
    cvn: Cvn,
    pan: &Pan,
    psn: u8,
    counters: Counters,
) -> Result<Card, CryptoError> {
    let icc_mk = derive_icc_master_key(cvn, imk, pan.expose_digits(), psn)?;
    let expiry = Expiry::new(2030, 12).unwrap_or_else(|_| unreachable!("valid expiry"));
    let profile = match scheme {
        Scheme::Visa => CardProfile::visa(pan.clone(), psn, expiry, cvn, icc_mk),
        Scheme::Mastercard => CardProfile::mastercard(pan.clone(), psn, expiry, cvn, icc_mk),
    };
    Ok(Card::new(profile, counters))
}

/// Runs one tap up to the kernel's first outcome; returns it with the APDU exchanges.
pub fn tap(
    card: &mut Card,
    config: TerminalConfig,
    txn: Transaction,
    rng: &mut dyn Rng,
) -> (Kernel, Outcome, Vec<Exchange>) {
    let mut kernel = Kernel::new(config, txn, rng);
    let mut trace = Vec::with_capacity(6);
    let first = kernel.start();
    let mut transceive = |c: &[u8]| -> Result<Vec<u8>, core::convert::Infallible> {
        Ok(card.process(c).response.encode())
    };
    let Ok(outcome) = kernel.drive(first, &mut transceive, &mut trace);
    (kernel, outcome, trace)
}

/// The key an issuer checks cryptograms with.
#[derive(Debug)]
pub enum IssuerKey {
    /// A 3DES issuer master key: each card's key is derived from it (EMV Book 2 A1.4).
    Master(MasterKey),
    /// The card's own ICC master key (AES keys, for which EMV defines no derivation).
    Card(MasterKey),
}

impl IssuerKey {
    /// The ICC master key of the card `pan`/`psn` for version `cvn`.
    pub fn icc_key(&self, cvn: Cvn, pan: &str, psn: u8) -> Result<MasterKey, CryptoError> {
        match self {
            Self::Master(imk) => derive_icc_master_key(cvn, imk, pan, psn),
            Self::Card(k) => MasterKey::new(k.algorithm(), k.expose_secret()),
        }
    }
}

/// The issuer's cryptogram check and ARPC for an online request: returns whether the ARQC
/// verified and the response to hand back to the kernel.
pub fn issuer_response(
    key: &IssuerKey,
    request: &OnlineRequest,
) -> Result<(bool, IssuerResponse), CryptoError> {
    let data = &request.data;
    let lookup = |t: Tag| data.get(t);
    let iad = data.get(emv::tags::IAD).unwrap_or_default();
    let cvn = Cvn::from_iad(iad)?;
    let icc_mk = key.icc_key(
        cvn,
        request.card.pan.expose_digits(),
        request.card.psn.unwrap_or(0),
    )?;
    let mut arqc = [0u8; 8];
    if let Some(ac) = data.get(emv::tags::APPLICATION_CRYPTOGRAM) {
        arqc.copy_from_slice(ac.get(..8).unwrap_or(&[0; 8]));
    }
    let ok = verify_ac(cvn, &icc_mk, &lookup, &arqc).is_ok();
    let arc = if ok { *b"00" } else { *b"05" };
    let reply = match cvn.arpc_method() {
        ArpcMethod::Method1 => ArpcResponse::Arc(arc),
        ArpcMethod::Method2 => ArpcResponse::csu([0, if ok { 0x80 } else { 0 }, 0, 0]),
    };
    let data91 = issuer_authentication_data(cvn, &icc_mk, &lookup, &arqc, reply)?;
    Ok((
        ok,
        IssuerResponse {
            approved: ok,
            arc,
            issuer_authentication_data: Some(data91),
        },
    ))
}
