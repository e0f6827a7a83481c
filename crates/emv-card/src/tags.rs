//! The tags this application reads and writes, named by meaning.

use tlv::Tag;

/// `4F` Application Identifier (ADF name).
pub const AID: Tag = Tag(0x4F);
/// `50` Application Label.
pub const APPLICATION_LABEL: Tag = Tag(0x50);
/// `57` Track 2 Equivalent Data.
pub const TRACK2: Tag = Tag(0x57);
/// `5A` Application PAN.
pub const PAN: Tag = Tag(0x5A);
/// `5F20` Cardholder Name.
pub const CARDHOLDER_NAME: Tag = Tag(0x5F20);
/// `5F24` Application Expiration Date.
pub const EXPIRY: Tag = Tag(0x5F24);
/// `5F28` Issuer Country Code.
pub const ISSUER_COUNTRY_CODE: Tag = Tag(0x5F28);
/// `5F2A` Transaction Currency Code.
pub const TRANSACTION_CURRENCY_CODE: Tag = Tag(0x5F2A);
/// `5F2D` Language Preference.
pub const LANGUAGE_PREFERENCE: Tag = Tag(0x5F2D);
/// `5F34` PAN Sequence Number.
pub const PSN: Tag = Tag(0x5F34);
/// `61` Application Template.
pub const APPLICATION_TEMPLATE: Tag = Tag(0x61);
/// `6F` FCI Template.
pub const FCI_TEMPLATE: Tag = Tag(0x6F);
/// `70` READ RECORD Response Message Template.
pub const RECORD_TEMPLATE: Tag = Tag(0x70);
/// `77` Response Message Template Format 2.
pub const RESPONSE_TEMPLATE_2: Tag = Tag(0x77);
/// `80` Response Message Template Format 1.
pub const RESPONSE_TEMPLATE_1: Tag = Tag(0x80);
/// `82` Application Interchange Profile.
pub const AIP: Tag = Tag(0x82);
/// `83` Command Template (GPO data).
pub const COMMAND_TEMPLATE: Tag = Tag(0x83);
/// `84` Dedicated File (DF) Name.
pub const DF_NAME: Tag = Tag(0x84);
/// `87` Application Priority Indicator.
pub const PRIORITY: Tag = Tag(0x87);
/// `8A` Authorisation Response Code.
pub const AUTHORISATION_RESPONSE_CODE: Tag = Tag(0x8A);
/// `8C` CDOL1.
pub const CDOL1: Tag = Tag(0x8C);
/// `8E` CVM List.
pub const CVM_LIST: Tag = Tag(0x8E);
/// `91` Issuer Authentication Data.
pub const ISSUER_AUTHENTICATION_DATA: Tag = Tag(0x91);
/// `94` Application File Locator.
pub const AFL: Tag = Tag(0x94);
/// `95` Terminal Verification Results.
pub const TVR: Tag = Tag(0x95);
/// `9A` Transaction Date.
pub const TRANSACTION_DATE: Tag = Tag(0x9A);
/// `9C` Transaction Type.
pub const TRANSACTION_TYPE: Tag = Tag(0x9C);
/// `9F02` Amount, Authorised.
pub const AMOUNT_AUTHORISED: Tag = Tag(0x9F02);
/// `9F03` Amount, Other.
pub const AMOUNT_OTHER: Tag = Tag(0x9F03);
/// `9F07` Application Usage Control.
pub const APPLICATION_USAGE_CONTROL: Tag = Tag(0x9F07);
/// `9F0D` Issuer Action Code - Default.
pub const IAC_DEFAULT: Tag = Tag(0x9F0D);
/// `9F0E` Issuer Action Code - Denial.
pub const IAC_DENIAL: Tag = Tag(0x9F0E);
/// `9F0F` Issuer Action Code - Online.
pub const IAC_ONLINE: Tag = Tag(0x9F0F);
/// `9F10` Issuer Application Data.
pub const IAD: Tag = Tag(0x9F10);
/// `9F13` Last Online ATC Register.
pub const LAST_ONLINE_ATC: Tag = Tag(0x9F13);
/// `9F1A` Terminal Country Code.
pub const TERMINAL_COUNTRY_CODE: Tag = Tag(0x9F1A);
/// `9F26` Application Cryptogram.
pub const APPLICATION_CRYPTOGRAM: Tag = Tag(0x9F26);
/// `9F27` Cryptogram Information Data.
pub const CID: Tag = Tag(0x9F27);
/// `9F33` Terminal Capabilities.
pub const TERMINAL_CAPABILITIES: Tag = Tag(0x9F33);
/// `9F34` CVM Results.
pub const CVM_RESULTS: Tag = Tag(0x9F34);
/// `9F35` Terminal Type.
pub const TERMINAL_TYPE: Tag = Tag(0x9F35);
/// `9F36` Application Transaction Counter.
pub const ATC: Tag = Tag(0x9F36);
/// `9F37` Unpredictable Number.
pub const UNPREDICTABLE_NUMBER: Tag = Tag(0x9F37);
/// `9F38` PDOL.
pub const PDOL: Tag = Tag(0x9F38);
/// `9F42` Application Currency Code.
pub const APPLICATION_CURRENCY_CODE: Tag = Tag(0x9F42);
/// `9F66` Terminal Transaction Qualifiers.
pub const TTQ: Tag = Tag(0x9F66);
/// `9F6C` Card Transaction Qualifiers.
pub const CTQ: Tag = Tag(0x9F6C);
/// `9F6E` Form Factor Indicator (Visa).
pub const FORM_FACTOR_INDICATOR: Tag = Tag(0x9F6E);
/// `A5` FCI Proprietary Template.
pub const FCI_PROPRIETARY: Tag = Tag(0xA5);
/// `BF0C` FCI Issuer Discretionary Data.
pub const FCI_ISSUER_DISCRETIONARY: Tag = Tag(0xBF0C);
/// `DF4B` POS Cardholder Interaction Information (Kernel 2).
pub const POS_CARDHOLDER_INTERACTION: Tag = Tag(0xDF4B);
