//! The command dispatcher and the transaction states.

use apdu::{CommandApdu, ResponseApdu, StatusWord, ins};
use emv_crypto::{ArpcResponse, generate_ac, verify_issuer_authentication_data};
use tlv::{Builder, Tag, TagMap};

use crate::PPSE;
use crate::iad::{self, AcType, CvrInput};
use crate::profile::{AppState, CardProfile, Scheme, mastercard_cdol1, visa_pdol};
use emv::tags;

/// Counters the card keeps across transactions. The owner persists them (see the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Application Transaction Counter: the value of the last transaction started.
    pub atc: u16,
    /// ATC of the last transaction that completed online with a verified ARPC (`9F13`).
    pub last_online_atc: u16,
    /// The last online transaction's ARPC did not verify.
    pub issuer_auth_failed_last: bool,
    /// An ARQC was produced but its issuer response never came back.
    pub online_pending: bool,
}

/// The result of processing one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The response APDU to return to the terminal.
    pub response: ResponseApdu,
    /// When `Some`, counters to store durably before the response is released.
    pub persist: Option<Counters>,
}

/// Where the card is in a transaction.
#[derive(Clone, Debug)]
enum CardState {
    /// Nothing selected (power-up, or after a failed SELECT).
    Idle,
    /// The PPSE is selected; the terminal must now SELECT an application.
    PpseSelected,
    /// The application is selected; GET PROCESSING OPTIONS comes next.
    ExpectGpo,
    /// Mastercard after GPO: records may be read, then GENERATE AC.
    ExpectGenerateAc(ExpectGenerateAc),
    /// A cryptogram was returned; records may still be read; after an ARQC the issuer's
    /// response may come back in EXTERNAL AUTHENTICATE.
    ExpectCompletion(ExpectCompletion),
}

#[derive(Clone, Debug)]
struct ExpectGenerateAc {
    tags: TagMap,
}

#[derive(Clone, Debug)]
struct ExpectCompletion {
    /// The ARQC awaiting the issuer's ARPC (None after an AAC or TC, or once processed).
    arqc: Option<[u8; 8]>,
    /// The data the cryptogram was computed over (ATC and UN for the ARPC session key).
    tags: TagMap,
}

/// A contactless payment application: personalization, counters and transaction state.
#[derive(Debug)]
pub struct Card {
    profile: CardProfile,
    counters: Counters,
    app_state: AppState,
    cdcvm_verified: bool,
    state: CardState,
}

/// A refused command: the status word and, when the refusal itself moves the transaction on,
/// the next state (otherwise the state is kept).
struct Reject {
    sw: StatusWord,
    next: Option<CardState>,
}

impl From<StatusWord> for Reject {
    fn from(sw: StatusWord) -> Self {
        Self { sw, next: None }
    }
}

type Answer = Result<(Vec<u8>, CardState), Reject>;

impl Card {
    /// A card with its personalization and the counters its owner stored.
    pub fn new(profile: CardProfile, counters: Counters) -> Self {
        Self {
            profile,
            counters,
            app_state: AppState::Active,
            cdcvm_verified: false,
            state: CardState::Idle,
        }
    }

    /// The personalization.
    pub fn profile(&self) -> &CardProfile {
        &self.profile
    }

    /// The current counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Sets the life-cycle state (suspend, resume, delete).
    pub fn set_app_state(&mut self, state: AppState) {
        self.app_state = state;
    }

    /// The life-cycle state.
    pub fn app_state(&self) -> AppState {
        self.app_state
    }

    /// Tells the card whether the holder has authenticated on the device (consumer-device CVM)
    /// for the payment about to happen. The device clears it when its payment window closes.
    pub fn set_cdcvm_verified(&mut self, verified: bool) {
        self.cdcvm_verified = verified;
    }

    /// Card power-off or field loss: the transaction in progress is abandoned.
    pub fn reset(&mut self) {
        self.state = CardState::Idle;
    }

    /// Processes one command APDU and returns the response (and counters to persist first).
    pub fn process(&mut self, command: &[u8]) -> Output {
        let before = self.counters;
        let response = match CommandApdu::decode(command) {
            Err(_) => ResponseApdu::status(StatusWord::WRONG_LENGTH),
            Ok(cmd) => self.dispatch(&cmd),
        };
        let persist = (self.counters != before).then_some(self.counters);
        Output { response, persist }
    }

    fn dispatch(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        let state = core::mem::replace(&mut self.state, CardState::Idle);
        let result: Answer = match (cmd.cla, cmd.ins) {
            (0x00, ins::SELECT) => self.select(cmd),
            (0x80, ins::GET_PROCESSING_OPTIONS) => self.gpo(cmd, state.clone()),
            (0x00, ins::READ_RECORD) => self.read_record(cmd, state.clone()),
            (0x80, ins::GENERATE_AC) => self.generate_ac(cmd, state.clone()),
            (0x00, ins::EXTERNAL_AUTHENTICATE) => self.external_authenticate(cmd, state.clone()),
            (0x80, ins::GET_DATA) => self
                .get_data(cmd)
                .map(|data| (data, state.clone()))
                .map_err(Reject::from),
            (0x00 | 0x80, _) => Err(StatusWord::INS_NOT_SUPPORTED.into()),
            _ => Err(StatusWord::CLA_NOT_SUPPORTED.into()),
        };
        match result {
            Ok((data, next)) => {
                self.state = next;
                match cmd.le {
                    Some(ne) if ne < 256 && data.len() > usize::try_from(ne).unwrap_or(0) => {
                        // Wrong Le: tell the exact length (the response fits one byte here).
                        let exact = u8::try_from(data.len()).unwrap_or(0);
                        ResponseApdu::status(StatusWord::wrong_le(exact))
                    }
                    _ => ResponseApdu::ok(data),
                }
            }
            Err(Reject { sw, next }) => {
                // A failed SELECT leaves nothing selected; any other error keeps the state, as a
                // card does (the terminal may retry or move on), unless the refusal moved it on.
                self.state = match next {
                    Some(next) => next,
                    None if cmd.ins == ins::SELECT => CardState::Idle,
                    None => state,
                };
                ResponseApdu::status(sw)
            }
        }
    }

    fn select(&mut self, cmd: &CommandApdu) -> Answer {
        if cmd.p1 != 0x04 || !matches!(cmd.p2, 0x00 | 0x02) {
            return Err(StatusWord::INCORRECT_P1_P2.into());
        }
        if cmd.data.is_empty() || cmd.data.len() > 16 {
            return Err(StatusWord::FILE_NOT_FOUND.into());
        }
        if cmd.data == PPSE {
            return Ok((self.ppse_fci(), CardState::PpseSelected));
        }
        // Partial name selection: the name given may be a prefix of the AID (Book 1, 12.3.3).
        if !self.profile.aid.starts_with(&cmd.data) || cmd.p2 == 0x02 {
            return Err(StatusWord::FILE_NOT_FOUND.into());
        }
        match self.app_state {
            AppState::Deleted => Err(StatusWord::FILE_NOT_FOUND.into()),
            AppState::Suspended => Err(StatusWord::FUNCTION_NOT_SUPPORTED.into()),
            AppState::Active => Ok((self.adf_fci(), CardState::ExpectGpo)),
        }
    }

    fn ppse_fci(&self) -> Vec<u8> {
        let mut b = Builder::new();
        b.template(tags::FCI_TEMPLATE, |b| {
            b.put(tags::DF_NAME, PPSE);
            b.template(tags::FCI_PROPRIETARY_TEMPLATE, |b| {
                b.template(tags::FCI_ISSUER_DISCRETIONARY_DATA, |b| {
                    if self.app_state == AppState::Active {
                        b.template(tags::APPLICATION_TEMPLATE, |b| {
                            b.put(tags::AID, &self.profile.aid);
                            b.put(tags::APPLICATION_LABEL, self.profile.label.as_bytes());
                            b.put(
                                tags::APPLICATION_PRIORITY_INDICATOR,
                                &[self.profile.priority],
                            );
                        });
                    }
                });
            });
        });
        b.finish()
    }

    fn adf_fci(&self) -> Vec<u8> {
        let mut b = Builder::new();
        b.template(tags::FCI_TEMPLATE, |b| {
            b.put(tags::DF_NAME, &self.profile.aid);
            b.template(tags::FCI_PROPRIETARY_TEMPLATE, |b| {
                b.put(tags::APPLICATION_LABEL, self.profile.label.as_bytes());
                b.put(
                    tags::APPLICATION_PRIORITY_INDICATOR,
                    &[self.profile.priority],
                );
                if self.profile.scheme == Scheme::Visa {
                    b.put(tags::PDOL, &visa_pdol().encode());
                }
                b.put(tags::LANGUAGE_PREFERENCE, b"enfrde");
            });
        });
        b.finish()
    }

    fn gpo(&mut self, cmd: &CommandApdu, state: CardState) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2.into());
        }
        if !matches!(state, CardState::ExpectGpo) {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.into());
        }
        let pdol = match self.profile.scheme {
            Scheme::Visa => visa_pdol(),
            Scheme::Mastercard => tlv::Dol::default(),
        };
        // Data is the command template 83 holding exactly the PDOL-related data.
        let pdol_data = match tlv::Reader::new(&cmd.data).collect::<Result<Vec<_>, _>>() {
            Ok(objs) => match objs.as_slice() {
                [o] if o.tag == tags::COMMAND_TEMPLATE && o.value.len() == pdol.data_len() => {
                    o.value
                }
                _ => return Err(StatusWord::WRONG_LENGTH.into()),
            },
            Err(_) => return Err(StatusWord::WRONG_LENGTH.into()),
        };
        let mut txn = TagMap::new();
        let values = pdol
            .split(pdol_data)
            .map_err(|_| StatusWord::WRONG_LENGTH)?;
        for (tag, v) in values {
            txn.put(tag, v);
        }
        match self.profile.scheme {
            Scheme::Visa => self.visa_qvsdc(txn),
            Scheme::Mastercard => {
                let mut b = Builder::new();
                b.template(tags::RESPONSE_TEMPLATE_2, |b| {
                    b.put(tags::AIP, &self.profile.aip());
                    b.put(tags::AFL, &self.profile.afl());
                });
                Ok((
                    b.finish(),
                    CardState::ExpectGenerateAc(ExpectGenerateAc { tags: txn }),
                ))
            }
        }
    }

    /// Visa qVSDC: CVM decision, cryptogram decision and the cryptogram, all in GPO.
    fn visa_qvsdc(&mut self, mut txn: TagMap) -> Answer {
        let ttq = txn.get(tags::TTQ).map(<[u8]>::to_vec).unwrap_or_default();
        let ttq_bit = |byte: usize, mask: u8| ttq.get(byte).is_some_and(|b| b & mask != 0);
        if !ttq_bit(0, 0x20) {
            // The reader does not support qVSDC: this application has no MSD path.
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.into());
        }
        let cvm_required = ttq_bit(1, 0x40);
        let reader_cdcvm = ttq_bit(2, 0x40);
        let mut ctq = [0u8; 2];
        let cdcvm = self.profile.cdcvm_supported && self.cdcvm_verified && reader_cdcvm;
        if cdcvm {
            ctq[1] |= 0x80; // Consumer Device CVM performed.
        } else if cvm_required {
            if self.profile.cdcvm_supported && reader_cdcvm {
                // The holder must authenticate on the phone first: "see phone" (VCPS: 6986).
                return Err(StatusWord::COMMAND_NOT_ALLOWED.into());
            } else if ttq_bit(0, 0x04) {
                ctq[0] |= 0x80; // Online PIN required.
            } else if ttq_bit(0, 0x02) {
                ctq[0] |= 0x40; // Signature required.
            } else {
                return Err(StatusWord::COMMAND_NOT_ALLOWED.into());
            }
        }
        let offline_only_reader = ttq_bit(0, 0x08);
        let ac_type = if offline_only_reader && self.profile.online_only {
            AcType::Aac
        } else {
            AcType::Arqc
        };
        let (cryptogram, iad) = self.cryptogram(&mut txn, ac_type, cdcvm)?;
        let track2 = self.profile.track2().encode();
        let mut b = Builder::new();
        b.template(tags::RESPONSE_TEMPLATE_2, |b| {
            b.put(tags::AIP, &self.profile.aip());
            b.put(tags::AFL, &self.profile.afl());
            b.put(tags::TRACK2_EQUIVALENT_DATA, track2.expose());
            b.put(tags::PAN_SEQUENCE_NUMBER, &[self.profile.psn]);
            b.put(tags::ATC, &self.counters.atc.to_be_bytes());
            b.put(tags::IAD, &iad);
            b.put(tags::APPLICATION_CRYPTOGRAM, &cryptogram);
            b.put(tags::CID, &[ac_type.cid()]);
            b.put(tags::CTQ, &ctq);
            b.put(tags::THIRD_PARTY_DATA, &[0x23, 0x80, 0x00, 0x00]);
        });
        let arqc = (ac_type == AcType::Arqc).then_some(cryptogram);
        Ok((
            b.finish(),
            CardState::ExpectCompletion(ExpectCompletion { arqc, tags: txn }),
        ))
    }

    /// Increments the ATC, builds the IAD and computes the cryptogram over `txn`.
    fn cryptogram(
        &mut self,
        txn: &mut TagMap,
        ac_type: AcType,
        cdcvm: bool,
    ) -> Result<([u8; 8], Vec<u8>), StatusWord> {
        if self.counters.atc >= self.profile.atc_max {
            // ATC exhausted: the application refuses to transact (Book 3, 8.1).
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED);
        }
        self.counters.atc += 1;
        let cvr = CvrInput {
            ac: ac_type,
            cdcvm,
            issuer_auth_failed_last: self.counters.issuer_auth_failed_last,
            last_online_incomplete: self.counters.online_pending,
        };
        let iad = iad::build(self.profile.cvn, self.profile.dki, cvr)?;
        txn.put(tags::AIP, &self.profile.aip());
        txn.put(tags::ATC, &self.counters.atc.to_be_bytes());
        txn.put(tags::IAD, &iad);
        let lookup = |t: Tag| txn.get(t);
        let ac = generate_ac(self.profile.cvn, &self.profile.icc_master_key, &lookup)
            .map_err(|_| StatusWord::WRONG_LENGTH)?;
        if ac_type == AcType::Arqc {
            self.counters.online_pending = true;
        }
        Ok((ac, iad))
    }

    fn read_record(&mut self, cmd: &CommandApdu, state: CardState) -> Answer {
        if cmd.p2 & 0x07 != 0x04 || cmd.p1 == 0 {
            return Err(StatusWord::INCORRECT_P1_P2.into());
        }
        if !matches!(
            state,
            CardState::ExpectGenerateAc(_) | CardState::ExpectCompletion(_)
        ) {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.into());
        }
        let sfi = cmd.p2 >> 3;
        let record = self
            .profile
            .records()
            .into_iter()
            .find(|r| r.sfi == sfi && r.number == cmd.p1)
            .ok_or(StatusWord::RECORD_NOT_FOUND)?;
        Ok((record.body.expose().clone(), state))
    }

    fn generate_ac(&mut self, cmd: &CommandApdu, state: CardState) -> Answer {
        let requested = match cmd.p1 & 0xC0 {
            0x00 => AcType::Aac,
            0x40 => AcType::Tc,
            0x80 => AcType::Arqc,
            _ => return Err(StatusWord::INCORRECT_P1_P2.into()),
        };
        if cmd.p2 != 0 || cmd.p1 & 0x2F != 0 {
            return Err(StatusWord::INCORRECT_P1_P2.into());
        }
        let CardState::ExpectGenerateAc(ExpectGenerateAc { mut tags }) = state else {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.into());
        };
        let cdol1 = mastercard_cdol1();
        if cmd.data.len() != cdol1.data_len() {
            return Err(StatusWord::WRONG_LENGTH.into());
        }
        for (tag, v) in cdol1
            .split(&cmd.data)
            .map_err(|_| StatusWord::WRONG_LENGTH)?
        {
            tags.put(tag, v);
        }
        // Kernel 2 asks for on-device CVM with CVM Results 01 00 02 ("confirmation code
        // verified") when the amount is above its CVM required limit.
        let odcvm_requested = tags.get(tags::CVM_RESULTS) == Some(&[0x01, 0x00, 0x02][..]);
        let cdcvm = self.profile.cdcvm_supported && self.cdcvm_verified;
        // DF4B POS Cardholder Interaction Information: byte 1 version, byte 2 b5 "OD-CVM
        // verification successful", byte 2 b2-b1 and byte 3 b4-b1 ask the holder to act on the
        // phone (Kernel 2 tests them with the mask 00 03 0F).
        let mut pcii = [0x00u8, 0x00, 0x00];
        let ac_type = if odcvm_requested && !cdcvm {
            // Decline this attempt and ask the holder to authenticate on the phone ("see phone").
            pcii[1] |= 0x01;
            AcType::Aac
        } else {
            if cdcvm {
                pcii[1] |= 0x10; // OD-CVM verification successful.
            }
            match requested {
                AcType::Aac => AcType::Aac,
                AcType::Tc if !self.profile.online_only => AcType::Tc,
                AcType::Tc | AcType::Arqc => AcType::Arqc,
            }
        };
        let (cryptogram, iad) = self.cryptogram(&mut tags, ac_type, cdcvm)?;
        let mut b = Builder::new();
        b.template(tags::RESPONSE_TEMPLATE_2, |b| {
            b.put(tags::CID, &[ac_type.cid()]);
            b.put(tags::ATC, &self.counters.atc.to_be_bytes());
            b.put(tags::APPLICATION_CRYPTOGRAM, &cryptogram);
            b.put(tags::IAD, &iad);
            b.put(tags::POS_CARDHOLDER_INTERACTION_INFORMATION, &pcii);
        });
        let arqc = (ac_type == AcType::Arqc).then_some(cryptogram);
        Ok((
            b.finish(),
            CardState::ExpectCompletion(ExpectCompletion { arqc, tags }),
        ))
    }

    fn external_authenticate(&mut self, cmd: &CommandApdu, state: CardState) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1_P2.into());
        }
        let CardState::ExpectCompletion(ExpectCompletion {
            arqc: Some(arqc),
            tags,
        }) = state
        else {
            return Err(StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.into());
        };
        if !(8..=16).contains(&cmd.data.len()) {
            return Err(StatusWord::WRONG_LENGTH.into());
        }
        let lookup = |t: Tag| tags.get(t);
        let verified = verify_issuer_authentication_data(
            self.profile.cvn,
            &self.profile.icc_master_key,
            &lookup,
            &arqc,
            &cmd.data,
        );
        self.counters.online_pending = false;
        // Only one EXTERNAL AUTHENTICATE per transaction.
        let done = CardState::ExpectCompletion(ExpectCompletion { arqc: None, tags });
        match verified {
            Ok(response) => {
                self.counters.issuer_auth_failed_last = false;
                if approved(&response) {
                    self.counters.last_online_atc = self.counters.atc;
                }
                Ok((Vec::new(), done))
            }
            Err(_) => {
                self.counters.issuer_auth_failed_last = true;
                Err(Reject {
                    sw: StatusWord::from_bytes(0x63, 0x00),
                    next: Some(done),
                })
            }
        }
    }

    fn get_data(&self, cmd: &CommandApdu) -> Result<Vec<u8>, StatusWord> {
        let tag = Tag(u32::from(u16::from_be_bytes([cmd.p1, cmd.p2])));
        let value = match tag {
            tags::ATC => self.counters.atc.to_be_bytes(),
            LAST_ONLINE_ATC => self.counters.last_online_atc.to_be_bytes(),
            _ => return Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
        };
        Ok(tlv::encode(tag, &value))
    }
}

/// `9F13` Last Online ATC Register.
const LAST_ONLINE_ATC: Tag = Tag(0x9F13);

/// True when the issuer's response approves: ARC `00`/`10`/`11` (method 1), or a Card Status
/// Update with "issuer approves online transaction" (method 2, byte 2 b8).
fn approved(response: &ArpcResponse) -> bool {
    match response {
        ArpcResponse::Arc(arc) => matches!(arc, b"00" | b"10" | b"11"),
        ArpcResponse::Csu { csu, .. } => csu[1] & 0x80 != 0,
    }
}
