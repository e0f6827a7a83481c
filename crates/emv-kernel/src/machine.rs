//! Entry Point, Kernel 2 and Kernel 3 as one state machine.

use std::collections::VecDeque;

use apdu::{CommandApdu, ResponseApdu, StatusWord, ins};
use cards::{Expiry, Pan, Track2};
use emv::tags;
use tlv::{Dol, Tag, TagMap};

use crate::config::{KernelId, Rng, TerminalConfig, Transaction};
use crate::outcome::{
    ArpcCheck, AuthorizationData, CardData, Completion, Cvm, EndReason, IssuerResponse,
    OnlineRequest, Outcome, TryAnotherInterfaceReason,
};

/// A command for the card, with the name of the command for traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// `SELECT PPSE`, `GET PROCESSING OPTIONS`, ...
    pub name: &'static str,
    /// The encoded command APDU.
    pub apdu: Vec<u8>,
}

/// What the kernel wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this command to the card and pass the response to [`Kernel::handle`].
    Send(Command),
    /// The kernel has finished this phase.
    Done(Outcome),
}

/// Sends one command APDU to the card and returns its response APDU.
pub type Transceive<'a, E> = dyn FnMut(&[u8]) -> Result<Vec<u8>, E> + 'a;

/// One command and the card's response, for traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The command's name.
    pub name: &'static str,
    /// The command APDU.
    pub command: Vec<u8>,
    /// The response APDU (data and status word).
    pub response: Vec<u8>,
}

/// The tags sent to the issuer in DE 55, in this order, when present.
const AUTHORIZATION_TAGS: &[Tag] = &[
    tags::APPLICATION_CRYPTOGRAM,
    tags::CID,
    tags::IAD,
    tags::UNPREDICTABLE_NUMBER,
    tags::ATC,
    tags::TVR,
    tags::TRANSACTION_DATE,
    tags::TRANSACTION_TYPE,
    tags::AMOUNT_AUTHORISED,
    tags::TRANSACTION_CURRENCY_CODE,
    tags::AIP,
    tags::TERMINAL_COUNTRY_CODE,
    tags::AMOUNT_OTHER,
    tags::TERMINAL_CAPABILITIES,
    tags::CVM_RESULTS,
    tags::TERMINAL_TYPE,
    tags::DF_NAME,
    tags::PAN_SEQUENCE_NUMBER,
    tags::TTQ,
    tags::CTQ,
    tags::THIRD_PARTY_DATA,
    tags::POS_CARDHOLDER_INTERACTION_INFORMATION,
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    aid: Vec<u8>,
    kernel: KernelId,
    priority: u8,
}

#[derive(Clone, Debug)]
enum KernelState {
    Start,
    ExpectPpse,
    ExpectSelect {
        current: Candidate,
        rest: Vec<Candidate>,
    },
    ExpectGpo {
        current: Candidate,
        rest: Vec<Candidate>,
    },
    ExpectRecord {
        current: Candidate,
        pending: VecDeque<(u8, u8)>,
    },
    ExpectGenerateAc {
        current: Candidate,
        cvm: Cvm,
    },
    ExpectIssuerResponse,
    ExpectExternalAuthenticate {
        approved: bool,
        arc: [u8; 2],
    },
    Finished,
}

/// One transaction's kernel.
#[derive(Debug)]
pub struct Kernel {
    config: TerminalConfig,
    txn: Transaction,
    data: TagMap,
    state: KernelState,
}

fn end(reason: EndReason) -> Step {
    Step::Done(Outcome::EndApplication(reason))
}

fn malformed_reason(detail: String) -> EndReason {
    EndReason::MalformedResponse {
        command: "card data",
        detail,
    }
}

fn malformed(command: &'static str, detail: impl Into<String>) -> Step {
    end(EndReason::MalformedResponse {
        command,
        detail: detail.into(),
    })
}

impl Kernel {
    /// Prepares a transaction: terminal data, TTQ and a fresh unpredictable number.
    pub fn new(config: TerminalConfig, txn: Transaction, rng: &mut dyn Rng) -> Self {
        let mut un = [0u8; 4];
        rng.fill(&mut un);
        let mut data = TagMap::new();
        let amount = txn.amount;
        let limits = config.limits;
        let online_required = amount.minor() > limits.floor_limit_minor || amount.minor() == 0;
        let mut ttq = config.ttq;
        if amount.minor() > limits.cvm_required_limit_minor {
            ttq[1] |= 0x40; // CVM required.
        }
        if online_required && config.online_capable {
            ttq[1] |= 0x80; // Online cryptogram required.
        }
        if !config.online_capable {
            ttq[0] |= 0x08; // Offline-only reader.
        }
        let mut tvr = [0u8; 5];
        if amount.minor() > limits.floor_limit_minor {
            tvr[3] |= 0x80; // Transaction exceeds floor limit.
        }
        let country = cards::bcd::encode_n(u64::from(config.country_code), 2).unwrap_or_default();
        let other = cards::bcd::encode_n(txn.amount_other_minor, 6).unwrap_or_default();
        data.put(tags::AMOUNT_AUTHORISED, &amount.to_n12());
        data.put(tags::AMOUNT_OTHER, &other);
        data.put(tags::TERMINAL_COUNTRY_CODE, &country);
        data.put(tags::TVR, &tvr);
        data.put(tags::TRANSACTION_CURRENCY_CODE, &amount.currency().to_n3());
        data.put(tags::TRANSACTION_DATE, &txn.date.to_n6());
        data.put(tags::TRANSACTION_TYPE, &[txn.kind.0]);
        data.put(tags::UNPREDICTABLE_NUMBER, &un);
        data.put(tags::TERMINAL_TYPE, &[config.terminal_type]);
        data.put(tags::TERMINAL_CAPABILITIES, &config.capabilities);
        data.put(tags::TTQ, &ttq);
        Self {
            config,
            txn,
            data,
            state: KernelState::Start,
        }
    }

    /// The unpredictable number of this transaction.
    pub fn unpredictable_number(&self) -> [u8; 4] {
        let mut un = [0u8; 4];
        if let Some(v) = self.data.get(tags::UNPREDICTABLE_NUMBER) {
            un.copy_from_slice(v.get(..4).unwrap_or(&[0; 4]));
        }
        un
    }

    /// Starts the transaction: the first command (SELECT PPSE).
    pub fn start(&mut self) -> Step {
        if self.txn.amount.minor() > self.config.limits.contactless_transaction_limit_cdcvm_minor {
            self.state = KernelState::Finished;
            return Step::Done(Outcome::TryAnotherInterface(
                TryAnotherInterfaceReason::ContactlessLimitExceeded,
            ));
        }
        self.state = KernelState::ExpectPpse;
        Step::Send(select("SELECT PPSE", b"2PAY.SYS.DDF01"))
    }

    /// Processes the card's response to the last command.
    pub fn handle(&mut self, response: &[u8]) -> Step {
        let state = core::mem::replace(&mut self.state, KernelState::Finished);
        let Ok(rsp) = ResponseApdu::decode(response) else {
            return malformed("last command", "response shorter than its status word");
        };
        match state {
            KernelState::ExpectPpse => self.on_ppse(&rsp),
            KernelState::ExpectSelect { current, rest } => self.on_select(&rsp, current, rest),
            KernelState::ExpectGpo { current, rest } => self.on_gpo(&rsp, current, rest),
            KernelState::ExpectRecord { current, pending } => {
                self.on_record(&rsp, current, pending)
            }
            KernelState::ExpectGenerateAc { current, cvm } => {
                self.on_generate_ac(&rsp, current, cvm)
            }
            KernelState::ExpectExternalAuthenticate { approved, arc } => {
                let arpc = if rsp.sw == StatusWord::SUCCESS {
                    ArpcCheck::Accepted
                } else {
                    ArpcCheck::Rejected(rsp.sw)
                };
                Step::Done(Outcome::Completed(Completion {
                    approved,
                    arc,
                    arpc,
                }))
            }
            KernelState::Start | KernelState::ExpectIssuerResponse | KernelState::Finished => {
                self.state = state;
                malformed("none", "no command is outstanding")
            }
        }
    }

    /// Completion: processes the issuer's answer to an [`Outcome::OnlineRequest`]; sends the
    /// ARPC to the card when the issuer returned one.
    pub fn complete(&mut self, issuer: IssuerResponse) -> Step {
        let state = core::mem::replace(&mut self.state, KernelState::Finished);
        if !matches!(state, KernelState::ExpectIssuerResponse) {
            self.state = state;
            return malformed("completion", "no online request is awaiting its response");
        }
        self.data
            .put(tags::AUTHORISATION_RESPONSE_CODE, &issuer.arc);
        match issuer.issuer_authentication_data {
            Some(iad) if !iad.is_empty() => {
                self.state = KernelState::ExpectExternalAuthenticate {
                    approved: issuer.approved,
                    arc: issuer.arc,
                };
                let apdu = CommandApdu::new(0x00, ins::EXTERNAL_AUTHENTICATE, 0, 0).with_data(iad);
                Step::Send(command("EXTERNAL AUTHENTICATE", &apdu))
            }
            _ => Step::Done(Outcome::Completed(Completion {
                approved: issuer.approved,
                arc: issuer.arc,
                arpc: ArpcCheck::NotSent,
            })),
        }
    }

    /// Runs `step` to its outcome, exchanging each command through `transceive` (an in-process
    /// card, a PC/SC reader, ...) and recording every exchange in `trace`.
    pub fn drive<E>(
        &mut self,
        mut step: Step,
        transceive: &mut Transceive<'_, E>,
        trace: &mut Vec<Exchange>,
    ) -> Result<Outcome, E> {
        loop {
            match step {
                Step::Done(outcome) => return Ok(outcome),
                Step::Send(cmd) => {
                    let response = transceive(&cmd.apdu)?;
                    step = self.handle(&response);
                    trace.push(Exchange {
                        name: cmd.name,
                        command: cmd.apdu,
                        response,
                    });
                }
            }
        }
    }

    fn on_ppse(&mut self, rsp: &ResponseApdu) -> Step {
        if rsp.sw != StatusWord::SUCCESS {
            return Step::Done(Outcome::TryAnotherInterface(
                TryAnotherInterfaceReason::CardRequested,
            ));
        }
        let mut candidates = Vec::new();
        let mut bad = None;
        let mut entry: (Option<Vec<u8>>, u8) = (None, 0);
        let finish = |entry: &mut (Option<Vec<u8>>, u8), out: &mut Vec<Candidate>| {
            if let Some(aid) = entry.0.take() {
                let found = self.config.aids.iter().find(|c| aid.starts_with(&c.aid));
                if let Some(conf) = found {
                    out.push(Candidate {
                        aid,
                        kernel: conf.kernel,
                        priority: entry.1,
                    });
                }
            }
            entry.1 = 0;
        };
        // Walk the FCI: every 61 template under BF0C is one directory entry.
        match tlv::decode_tree(&rsp.data) {
            Err(e) => bad = Some(e.to_string()),
            Ok(tree) => {
                let Some(bf0c) = tree
                    .iter()
                    .find_map(|n| find_node(n, tags::FCI_ISSUER_DISCRETIONARY_DATA))
                else {
                    return malformed("SELECT PPSE", "FCI has no BF0C directory");
                };
                for app in bf0c
                    .children
                    .iter()
                    .filter(|n| n.tlv.tag == tags::APPLICATION_TEMPLATE)
                {
                    for el in &app.children {
                        match el.tlv.tag {
                            tags::AID => entry.0 = Some(el.tlv.value.to_vec()),
                            tags::APPLICATION_PRIORITY_INDICATOR => {
                                entry.1 = el.tlv.value.first().map_or(0, |p| p & 0x0F)
                            }
                            _ => {}
                        }
                    }
                    finish(&mut entry, &mut candidates);
                }
            }
        }
        if let Some(detail) = bad {
            return malformed("SELECT PPSE", detail);
        }
        // Priority 1 is highest; 0 (none given) sorts last. The sort is stable, so equal
        // priorities keep the card's order.
        candidates.sort_by_key(|c| if c.priority == 0 { 16 } else { c.priority });
        self.next_candidate(candidates)
    }

    fn next_candidate(&mut self, mut candidates: Vec<Candidate>) -> Step {
        if candidates.is_empty() {
            return end(EndReason::NoSupportedApplication);
        }
        let current = candidates.remove(0);
        let cmd = select("SELECT AID", &current.aid);
        self.state = KernelState::ExpectSelect {
            current,
            rest: candidates,
        };
        Step::Send(cmd)
    }

    fn on_select(&mut self, rsp: &ResponseApdu, current: Candidate, rest: Vec<Candidate>) -> Step {
        if rsp.sw != StatusWord::SUCCESS {
            // Blocked or absent application: try the next candidate.
            return self.next_candidate(rest);
        }
        let tree = match tlv::decode_tree(&rsp.data) {
            Ok(t) => t,
            Err(e) => return malformed("SELECT AID", e.to_string()),
        };
        let mut pdol = Vec::new();
        for node in &tree {
            visit(node, &mut |tag, value| match tag {
                tags::DF_NAME | tags::APPLICATION_LABEL => self.data.put(tag, value),
                tags::PDOL => pdol = value.to_vec(),
                _ => {}
            });
        }
        if !self.data.contains(tags::DF_NAME) {
            self.data.put(tags::DF_NAME, &current.aid);
        }
        if current.kernel == KernelId::K3
            && self.txn.amount.minor() > self.config.limits.contactless_transaction_limit_minor
        {
            return Step::Done(Outcome::TryAnotherInterface(
                TryAnotherInterfaceReason::ContactlessLimitExceeded,
            ));
        }
        let pdol = match Dol::parse(&pdol) {
            Ok(d) => d,
            Err(e) => return malformed("SELECT AID", format!("PDOL: {e}")),
        };
        let pdol_data = pdol.build(|t| self.data.get(t), emv::dol_format);
        let mut body = Vec::with_capacity(pdol_data.len() + 3);
        body.extend_from_slice(&tlv::encode(tags::COMMAND_TEMPLATE, &pdol_data));
        let apdu = CommandApdu::new(0x80, ins::GET_PROCESSING_OPTIONS, 0, 0)
            .with_data(body)
            .with_le(256);
        self.state = KernelState::ExpectGpo { current, rest };
        Step::Send(command("GET PROCESSING OPTIONS", &apdu))
    }

    fn on_gpo(&mut self, rsp: &ResponseApdu, current: Candidate, rest: Vec<Candidate>) -> Step {
        match rsp.sw {
            StatusWord::SUCCESS => {}
            // Kernel 3: the device wants its holder to authenticate first.
            StatusWord::COMMAND_NOT_ALLOWED => return Step::Done(Outcome::SeePhone),
            // Book B: conditions of use not satisfied in GPO -> select the next application.
            StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED if !rest.is_empty() => {
                return self.next_candidate(rest);
            }
            StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED => {
                return Step::Done(Outcome::TryAnotherInterface(
                    TryAnotherInterfaceReason::CardRequested,
                ));
            }
            sw => {
                return end(EndReason::CardError {
                    command: "GET PROCESSING OPTIONS",
                    sw,
                });
            }
        }
        match tlv::Reader::new(&rsp.data).next() {
            Some(Ok(t)) if t.tag == tags::RESPONSE_TEMPLATE_1 => {
                // Format 1: AIP (2 bytes) then AFL.
                let (aip, afl) = t.value.split_at(t.value.len().min(2));
                if aip.len() != 2 {
                    return malformed("GET PROCESSING OPTIONS", "format 1 without AIP");
                }
                self.data.put(tags::AIP, aip);
                self.data.put(tags::AFL, afl);
            }
            Some(Ok(t)) if t.tag == tags::RESPONSE_TEMPLATE_2 => {
                if let Err(reason) = self.store_template(t.value, "GET PROCESSING OPTIONS") {
                    return end(reason);
                }
            }
            Some(Err(e)) => return malformed("GET PROCESSING OPTIONS", e.to_string()),
            _ => return malformed("GET PROCESSING OPTIONS", "no response template 77 or 80"),
        }
        if !self.data.contains(tags::AIP) {
            return end(EndReason::MissingData(tags::AIP));
        }
        let afl = self.data.get(tags::AFL).unwrap_or_default();
        let afl = match emv::Afl::from_bytes(afl) {
            Ok(afl) => afl,
            Err(e) => return malformed("GET PROCESSING OPTIONS", format!("AFL: {e}")),
        };
        let pending: VecDeque<(u8, u8)> = afl
            .entries()
            .iter()
            .flat_map(|e| (e.first_record()..=e.last_record()).map(move |r| (e.sfi(), r)))
            .collect();
        self.read_next(current, pending)
    }

    fn read_next(&mut self, current: Candidate, mut pending: VecDeque<(u8, u8)>) -> Step {
        match pending.pop_front() {
            Some((sfi, record)) => {
                let apdu = CommandApdu::new(0x00, ins::READ_RECORD, record, (sfi << 3) | 0x04)
                    .with_le(256);
                self.state = KernelState::ExpectRecord { current, pending };
                Step::Send(command("READ RECORD", &apdu))
            }
            None => match current.kernel {
                KernelId::K3 => self.k3_outcome(current),
                KernelId::K2 => self.k2_generate_ac(current),
            },
        }
    }

    fn on_record(
        &mut self,
        rsp: &ResponseApdu,
        current: Candidate,
        pending: VecDeque<(u8, u8)>,
    ) -> Step {
        if rsp.sw != StatusWord::SUCCESS {
            return end(EndReason::CardError {
                command: "READ RECORD",
                sw: rsp.sw,
            });
        }
        match tlv::Reader::new(&rsp.data).next() {
            Some(Ok(t)) if t.tag == tags::RECORD_TEMPLATE => {
                if let Err(reason) = self.store_template(t.value, "READ RECORD") {
                    return end(reason);
                }
            }
            Some(Err(e)) => return malformed("READ RECORD", e.to_string()),
            _ => return malformed("READ RECORD", "no record template 70"),
        }
        self.read_next(current, pending)
    }

    /// Stores the primitive objects of a card template; a card data element may not appear
    /// twice (Book 3, 10.2).
    fn store_template(&mut self, value: &[u8], command: &'static str) -> Result<(), EndReason> {
        let mut duplicate = None;
        let res = tlv::for_each_primitive(value, &mut |t| {
            if self.data.contains(t.tag) && !is_terminal_tag(t.tag) {
                duplicate.get_or_insert(t.tag);
            }
            self.data.put(t.tag, t.value);
        });
        if let Err(e) = res {
            return Err(EndReason::MalformedResponse {
                command,
                detail: e.to_string(),
            });
        }
        match duplicate {
            Some(tag) => Err(EndReason::MalformedResponse {
                command,
                detail: format!("data element {tag} returned twice"),
            }),
            None => Ok(()),
        }
    }

    /// Kernel 3 after GPO and records: the card's decision is already made.
    fn k3_outcome(&mut self, current: Candidate) -> Step {
        for tag in [tags::APPLICATION_CRYPTOGRAM, tags::ATC, tags::IAD] {
            if !self.data.contains(tag) {
                return end(EndReason::MissingData(tag));
            }
        }
        let ctq = self
            .data
            .get(tags::CTQ)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let ctq_bit = |byte: usize, mask: u8| ctq.get(byte).is_some_and(|b| b & mask != 0);
        let cvm_required = self
            .data
            .get(tags::TTQ)
            .and_then(|t| t.get(1))
            .is_some_and(|b| b & 0x40 != 0);
        let cvm = if ctq_bit(1, 0x80) {
            Cvm::ConsumerDevice
        } else if !cvm_required {
            Cvm::NoCvm
        } else if ctq_bit(0, 0x80) {
            Cvm::OnlinePin
        } else {
            Cvm::Signature
        };
        // qVSDC: no CID means ARQC.
        let cid = self
            .data
            .get(tags::CID)
            .and_then(|c| c.first().copied())
            .unwrap_or(0x80);
        self.decide(current, cid, cvm)
    }

    /// Kernel 2 after records: CVM selection, terminal action analysis, GENERATE AC.
    fn k2_generate_ac(&mut self, current: Candidate) -> Step {
        let Some(cdol1) = self.data.get(tags::CDOL1).map(<[u8]>::to_vec) else {
            return end(EndReason::MissingData(tags::CDOL1));
        };
        let aip = self.data.get(tags::AIP).unwrap_or_default();
        let odcvm = aip.first().is_some_and(|b| b & 0x02 != 0);
        let amount = self.txn.amount.minor();
        let limits = self.config.limits;
        let cl_limit = if odcvm {
            limits.contactless_transaction_limit_cdcvm_minor
        } else {
            limits.contactless_transaction_limit_minor
        };
        if amount > cl_limit {
            return Step::Done(Outcome::TryAnotherInterface(
                TryAnotherInterfaceReason::ContactlessLimitExceeded,
            ));
        }
        let mut tvr = [0u8; 5];
        if let Some(t) = self.data.get(tags::TVR) {
            tvr.copy_from_slice(t.get(..5).unwrap_or(&[0; 5]));
        }
        tvr[0] |= 0x80; // Offline data authentication was not performed.
        let expired = self
            .data
            .get(tags::EXPIRATION_DATE)
            .and_then(|e| Expiry::from_n6(e).ok())
            .is_some_and(|e| e.is_expired_on(self.txn.date));
        if expired {
            tvr[1] |= 0x40; // Expired application.
        }
        let (cvm, cvm_results) = if amount <= limits.cvm_required_limit_minor {
            (Cvm::NoCvm, [0x3F, 0x00, 0x00])
        } else if odcvm {
            // "Confirmation code verified": the card checks the holder authenticated on it.
            (Cvm::ConsumerDevice, [0x01, 0x00, 0x02])
        } else {
            self.cvm_list(&mut tvr)
        };
        self.data.put(tags::TVR, &tvr);
        self.data.put(tags::CVM_RESULTS, &cvm_results);
        // Terminal action analysis against the issuer action code - denial.
        let denial = self.data.get(tags::IAC_DENIAL).unwrap_or(&[0; 5]);
        let deny = tvr.iter().zip(denial).any(|(t, d)| t & d != 0);
        let p1 = if deny {
            0x00
        } else if self.config.online_capable {
            0x80
        } else {
            0x40
        };
        let cdol1 = match Dol::parse(&cdol1) {
            Ok(d) => d,
            Err(e) => return malformed("READ RECORD", format!("CDOL1: {e}")),
        };
        let data = cdol1.build(|t| self.data.get(t), emv::dol_format);
        let apdu = CommandApdu::new(0x80, ins::GENERATE_AC, p1, 0x00)
            .with_data(data)
            .with_le(256);
        self.state = KernelState::ExpectGenerateAc { current, cvm };
        Step::Send(command("GENERATE AC", &apdu))
    }

    /// CVM list processing for cards without on-device CVM, above the CVM limit: the first
    /// rule whose method this terminal supports and whose condition holds.
    fn cvm_list(&self, tvr: &mut [u8; 5]) -> (Cvm, [u8; 3]) {
        let list = self.data.get(tags::CVM_LIST).unwrap_or_default();
        let amount = self.txn.amount.minor();
        let x = list.get(0..4).map_or(0, |b| {
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        });
        let y = list.get(4..8).map_or(0, |b| {
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        });
        for rule in list.get(8..).unwrap_or_default().chunks_exact(2) {
            let (method, condition) = (rule[0] & 0x3F, rule[1]);
            let applies = match condition {
                0x00 => true,       // always
                0x03 => true,       // if terminal supports the CVM
                0x06 => amount < x, // under X
                0x07 => amount > x, // over X
                0x08 => amount < y, // under Y
                0x09 => amount > y, // over Y
                _ => false,
            };
            if !applies {
                continue;
            }
            match method {
                0x02 => return (Cvm::OnlinePin, [rule[0], condition, 0x00]),
                0x1E => return (Cvm::Signature, [rule[0], condition, 0x00]),
                0x1F => return (Cvm::NoCvm, [rule[0], condition, 0x02]),
                0x00 => break, // Fail CVM processing.
                _ => {}
            }
        }
        tvr[2] |= 0x80; // Cardholder verification was not successful.
        (Cvm::Signature, [0x3F, 0x00, 0x01])
    }

    fn on_generate_ac(&mut self, rsp: &ResponseApdu, current: Candidate, cvm: Cvm) -> Step {
        if rsp.sw != StatusWord::SUCCESS {
            return end(EndReason::CardError {
                command: "GENERATE AC",
                sw: rsp.sw,
            });
        }
        match tlv::Reader::new(&rsp.data).next() {
            Some(Ok(t)) if t.tag == tags::RESPONSE_TEMPLATE_1 => {
                // Format 1: CID (1), ATC (2), AC (8), IAD (optional, up to 32).
                let v = t.value;
                if v.len() < 11 {
                    return malformed("GENERATE AC", "format 1 shorter than CID, ATC and AC");
                }
                let (cid, rest) = v.split_at(1);
                let (atc, rest) = rest.split_at(2);
                let (ac, iad) = rest.split_at(8);
                self.data.put(tags::CID, cid);
                self.data.put(tags::ATC, atc);
                self.data.put(tags::APPLICATION_CRYPTOGRAM, ac);
                if !iad.is_empty() {
                    self.data.put(tags::IAD, iad);
                }
            }
            Some(Ok(t)) if t.tag == tags::RESPONSE_TEMPLATE_2 => {
                if let Err(e) =
                    tlv::for_each_primitive(t.value, &mut |o| self.data.put(o.tag, o.value))
                {
                    return malformed("GENERATE AC", e.to_string());
                }
            }
            Some(Err(e)) => return malformed("GENERATE AC", e.to_string()),
            _ => return malformed("GENERATE AC", "no response template 77 or 80"),
        }
        for tag in [tags::CID, tags::ATC, tags::APPLICATION_CRYPTOGRAM] {
            if !self.data.contains(tag) {
                return end(EndReason::MissingData(tag));
            }
        }
        // POS Cardholder Interaction Information: byte 2 b2-b1 or byte 3 b4-b1 ask the
        // holder to act on the phone (Kernel 2: mask 00 03 0F).
        let pcii = self
            .data
            .get(tags::POS_CARDHOLDER_INTERACTION_INFORMATION)
            .unwrap_or_default();
        let see_phone = pcii.get(1).is_some_and(|b| b & 0x03 != 0)
            || pcii.get(2).is_some_and(|b| b & 0x0F != 0);
        if see_phone {
            return Step::Done(Outcome::SeePhone);
        }
        let cid = self
            .data
            .get(tags::CID)
            .and_then(|c| c.first().copied())
            .unwrap_or(0);
        self.decide(current, cid, cvm)
    }

    /// Turns the card's cryptogram type into the outcome.
    fn decide(&mut self, current: Candidate, cid: u8, cvm: Cvm) -> Step {
        let card = match self.card_data(&current) {
            Ok(c) => c,
            Err(reason) => return end(reason),
        };
        let data = self.authorization_data();
        let request = OnlineRequest {
            kernel: current.kernel,
            card,
            data,
            cvm,
        };
        match cid & 0xC0 {
            0x80 => {
                self.state = KernelState::ExpectIssuerResponse;
                Step::Done(Outcome::OnlineRequest(request))
            }
            0x40 if !self.config.online_capable
                || self.txn.amount.minor() <= self.config.limits.floor_limit_minor =>
            {
                Step::Done(Outcome::ApprovedOffline(request))
            }
            0x40 => end(EndReason::UnexpectedCryptogram),
            0x00 => Step::Done(Outcome::Declined(request.data)),
            _ => end(EndReason::UnexpectedCryptogram),
        }
    }

    fn card_data(&self, current: &Candidate) -> Result<CardData, EndReason> {
        let track2 = match self
            .data
            .get(tags::TRACK2_EQUIVALENT_DATA)
            .map(Track2::decode)
        {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return Err(malformed_reason(format!("track 2: {e}"))),
            None => None,
        };
        let pan = match (self.data.get(tags::PAN), &track2) {
            (Some(bcd), _) => match Pan::from_bcd(bcd) {
                Ok(p) => p,
                Err(e) => return Err(malformed_reason(format!("PAN: {e}"))),
            },
            (None, Some(t2)) => t2.pan.clone(),
            (None, None) => return Err(EndReason::MissingData(tags::PAN)),
        };
        let expiry = match self.data.get(tags::EXPIRATION_DATE).map(Expiry::from_n6) {
            Some(Ok(e)) => Some(e),
            Some(Err(_)) => return Err(malformed_reason("expiry date 5F24 is not a date".into())),
            None => track2.as_ref().map(|t| t.expiry),
        };
        let psn = self
            .data
            .get(tags::PAN_SEQUENCE_NUMBER)
            .and_then(|p| p.first().copied());
        let label = self
            .data
            .get(tags::APPLICATION_LABEL)
            .and_then(|l| core::str::from_utf8(l).ok())
            .map(str::to_owned);
        let aid = self
            .data
            .get(tags::DF_NAME)
            .map_or_else(|| current.aid.clone(), <[u8]>::to_vec);
        Ok(CardData {
            pan,
            expiry,
            psn,
            track2,
            aid,
            label,
        })
    }

    fn authorization_data(&self) -> AuthorizationData {
        AuthorizationData::from_elements(
            AUTHORIZATION_TAGS
                .iter()
                .filter_map(|&t| self.data.get(t).map(|v| (t, v.to_vec())))
                .collect(),
        )
    }
}

/// Tags the terminal owns; a card echoing them is not a duplicate.
fn is_terminal_tag(tag: Tag) -> bool {
    matches!(tag, tags::DF_NAME | tags::APPLICATION_LABEL)
}

fn select(name: &'static str, df_name: &[u8]) -> Command {
    let apdu = CommandApdu::new(0x00, ins::SELECT, 0x04, 0x00)
        .with_data(df_name.to_vec())
        .with_le(256);
    command(name, &apdu)
}

fn command(name: &'static str, apdu: &CommandApdu) -> Command {
    // Invariant: every command this kernel builds has Nc <= 255 and Ne = 256, which encode.
    Command {
        name,
        apdu: apdu.encode().unwrap_or_default(),
    }
}

fn find_node<'a, 'b>(node: &'b tlv::Node<'a>, tag: Tag) -> Option<&'b tlv::Node<'a>> {
    if node.tlv.tag == tag {
        return Some(node);
    }
    node.children.iter().find_map(|c| find_node(c, tag))
}

fn visit(node: &tlv::Node<'_>, f: &mut dyn FnMut(Tag, &[u8])) {
    if node.children.is_empty() {
        f(node.tlv.tag, node.tlv.value);
    }
    for c in &node.children {
        visit(c, f);
    }
}
