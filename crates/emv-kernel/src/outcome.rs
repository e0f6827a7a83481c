//! What a kernel run ends with (EMV Book A/B outcomes), as data.

use core::fmt;

use apdu::StatusWord;
use cards::{Expiry, Pan, Track2};
use tlv::{Builder, Tag};

use crate::KernelId;

/// The data elements that travel to the issuer (ISO 8583 DE 55), in the order they are sent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthorizationData {
    elements: Vec<(Tag, Vec<u8>)>,
}

impl AuthorizationData {
    /// From elements (tags must be primitive and distinct).
    pub fn from_elements(elements: Vec<(Tag, Vec<u8>)>) -> Self {
        Self { elements }
    }

    /// The value of one element.
    pub fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.elements
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// Every element, in order.
    pub fn elements(&self) -> &[(Tag, Vec<u8>)] {
        &self.elements
    }

    /// The BER-TLV encoding (the content of DE 55).
    pub fn to_tlv(&self) -> Vec<u8> {
        let mut b = Builder::new();
        for (tag, value) in &self.elements {
            b.put(*tag, value);
        }
        b.finish()
    }
}

impl fmt::Debug for AuthorizationData {
    /// Tags and lengths only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.elements
                    .iter()
                    .map(|(t, v)| format!("{t}({})", v.len())),
            )
            .finish()
    }
}

/// Card data the acquirer needs besides DE 55 (DE 2, 14, 23, 35).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardData {
    /// The PAN (`5A`, or from Track 2).
    pub pan: Pan,
    /// Expiry (`5F24`, or from Track 2).
    pub expiry: Option<Expiry>,
    /// PAN sequence number (`5F34`).
    pub psn: Option<u8>,
    /// Track 2 equivalent data (`57`), when the card gave it.
    pub track2: Option<Track2>,
    /// The application selected (`84`/`4F`).
    pub aid: Vec<u8>,
    /// Application label (`50`), for the receipt.
    pub label: Option<String>,
}

/// The cardholder verification the kernel settled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cvm {
    /// The holder authenticated on the device (passcode, biometrics).
    ConsumerDevice,
    /// No CVM required (amount within the CVM limit).
    NoCvm,
    /// Online PIN to be entered on the terminal.
    OnlinePin,
    /// Signature on the receipt.
    Signature,
}

/// An authorization request to send online.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnlineRequest {
    /// Kernel that processed the card.
    pub kernel: KernelId,
    /// Card data for DE 2/14/23/35.
    pub card: CardData,
    /// The authorization data set (DE 55).
    pub data: AuthorizationData,
    /// Cardholder verification performed or required.
    pub cvm: Cvm,
}

/// Why the kernel could not complete with this card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// No application on the card that this terminal accepts.
    NoSupportedApplication,
    /// The card answered a command with an error status.
    CardError {
        /// The command.
        command: &'static str,
        /// The status word.
        sw: StatusWord,
    },
    /// A card response could not be parsed.
    MalformedResponse {
        /// The command answered.
        command: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A mandatory data element is missing.
    MissingData(Tag),
    /// The card returned a cryptogram type the terminal did not allow (e.g. TC online-only).
    UnexpectedCryptogram,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSupportedApplication => f.write_str("no supported application on the card"),
            Self::CardError { command, sw } => write!(f, "card refused {command}: {sw}"),
            Self::MalformedResponse { command, detail } => {
                write!(f, "malformed response to {command}: {detail}")
            }
            Self::MissingData(tag) => write!(f, "card did not provide mandatory data {tag}"),
            Self::UnexpectedCryptogram => {
                f.write_str("card returned an unexpected cryptogram type")
            }
        }
    }
}

/// Why contactless cannot be used for this transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryAnotherInterfaceReason {
    /// The amount exceeds the reader's contactless transaction limit.
    ContactlessLimitExceeded,
    /// The card has no application for contactless here, or asked to switch interface.
    CardRequested,
}

impl fmt::Display for TryAnotherInterfaceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ContactlessLimitExceeded => {
                "the amount exceeds this reader's contactless limit: insert or swipe the card"
            }
            Self::CardRequested => "the card asked for another interface: insert or swipe it",
        })
    }
}

/// How the issuer answered (from the acquirer's 0110).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerResponse {
    /// True when the response code approves.
    pub approved: bool,
    /// Authorisation Response Code (`8A`, DE 39 as two ASCII characters).
    pub arc: [u8; 2],
    /// Issuer Authentication Data (`91`) from DE 55, when present.
    pub issuer_authentication_data: Option<Vec<u8>>,
}

/// The card's verdict on the issuer's ARPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpcCheck {
    /// The issuer sent no ARPC.
    NotSent,
    /// The card verified the ARPC (EXTERNAL AUTHENTICATE `9000`).
    Accepted,
    /// The card rejected it (`6300`, or another error).
    Rejected(StatusWord),
}

/// The end of a transaction after the issuer answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The issuer approved.
    pub approved: bool,
    /// The ARC the issuer sent.
    pub arc: [u8; 2],
    /// What the card made of the ARPC.
    pub arpc: ArpcCheck,
}

/// How a kernel run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go online: send this request, then call `Kernel::complete` with the answer.
    OnlineRequest(OnlineRequest),
    /// The card approved offline (TC).
    ApprovedOffline(OnlineRequest),
    /// The card declined (AAC).
    Declined(AuthorizationData),
    /// The holder must authenticate on the phone, then present it again.
    SeePhone,
    /// Use the chip contact or magstripe interface instead.
    TryAnotherInterface(TryAnotherInterfaceReason),
    /// The transaction cannot go on with this card.
    EndApplication(EndReason),
    /// The issuer's answer was processed.
    Completed(Completion),
}

impl Outcome {
    /// A short, stable name for machines (`online_request`, `see_phone`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::OnlineRequest(_) => "online_request",
            Self::ApprovedOffline(_) => "approved_offline",
            Self::Declined(_) => "declined",
            Self::SeePhone => "see_phone",
            Self::TryAnotherInterface(_) => "try_another_interface",
            Self::EndApplication(_) => "end_application",
            Self::Completed(c) if c.approved => "approved",
            Self::Completed(_) => "declined_online",
        }
    }
}
