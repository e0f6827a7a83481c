//! Named constants for the tags the kernels, the card application and this crate handle by
//! name. The [`dictionary`](crate::dictionary) holds every tag's name, format and length.

use tlv::Tag;

/// `42` Issuer Identification Number (IIN).
pub const IIN: Tag = Tag(0x42);
/// `4F` Application Identifier (AID) - card.
pub const AID: Tag = Tag(0x4F);
/// `50` Application Label.
pub const APPLICATION_LABEL: Tag = Tag(0x50);
/// `56` Track 1 Data (Kernel 2).
pub const TRACK1_DATA: Tag = Tag(0x56);
/// `57` Track 2 Equivalent Data.
pub const TRACK2_EQUIVALENT_DATA: Tag = Tag(0x57);
/// `5A` Application Primary Account Number (PAN).
pub const PAN: Tag = Tag(0x5A);
/// `61` Application Template.
pub const APPLICATION_TEMPLATE: Tag = Tag(0x61);
/// `6F` File Control Information (FCI) Template.
pub const FCI_TEMPLATE: Tag = Tag(0x6F);
/// `70` READ RECORD Response Message Template.
pub const RECORD_TEMPLATE: Tag = Tag(0x70);
/// `71` Issuer Script Template 1.
pub const ISSUER_SCRIPT_TEMPLATE_1: Tag = Tag(0x71);
/// `72` Issuer Script Template 2.
pub const ISSUER_SCRIPT_TEMPLATE_2: Tag = Tag(0x72);
/// `77` Response Message Template Format 2.
pub const RESPONSE_TEMPLATE_2: Tag = Tag(0x77);
/// `80` Response Message Template Format 1.
pub const RESPONSE_TEMPLATE_1: Tag = Tag(0x80);
/// `82` Application Interchange Profile (AIP).
pub const AIP: Tag = Tag(0x82);
/// `83` Command Template.
pub const COMMAND_TEMPLATE: Tag = Tag(0x83);
/// `84` Dedicated File (DF) Name.
pub const DF_NAME: Tag = Tag(0x84);
/// `86` Issuer Script Command.
pub const ISSUER_SCRIPT_COMMAND: Tag = Tag(0x86);
/// `87` Application Priority Indicator.
pub const APPLICATION_PRIORITY_INDICATOR: Tag = Tag(0x87);
/// `88` Short File Identifier (SFI).
pub const SFI: Tag = Tag(0x88);
/// `89` Authorisation Code.
pub const AUTHORISATION_CODE: Tag = Tag(0x89);
/// `8A` Authorisation Response Code.
pub const AUTHORISATION_RESPONSE_CODE: Tag = Tag(0x8A);
/// `8C` Card Risk Management Data Object List 1 (CDOL1).
pub const CDOL1: Tag = Tag(0x8C);
/// `8D` Card Risk Management Data Object List 2 (CDOL2).
pub const CDOL2: Tag = Tag(0x8D);
/// `8E` Cardholder Verification Method (CVM) List.
pub const CVM_LIST: Tag = Tag(0x8E);
/// `8F` Certification Authority Public Key Index (card).
pub const CA_PUBLIC_KEY_INDEX: Tag = Tag(0x8F);
/// `90` Issuer Public Key Certificate.
pub const ISSUER_PUBLIC_KEY_CERTIFICATE: Tag = Tag(0x90);
/// `91` Issuer Authentication Data.
pub const ISSUER_AUTHENTICATION_DATA: Tag = Tag(0x91);
/// `92` Issuer Public Key Remainder.
pub const ISSUER_PUBLIC_KEY_REMAINDER: Tag = Tag(0x92);
/// `94` Application File Locator (AFL).
pub const AFL: Tag = Tag(0x94);
/// `95` Terminal Verification Results (TVR).
pub const TVR: Tag = Tag(0x95);
/// `97` Transaction Certificate Data Object List (TDOL).
pub const TDOL: Tag = Tag(0x97);
/// `99` Transaction PIN Data.
pub const TRANSACTION_PIN_DATA: Tag = Tag(0x99);
/// `9A` Transaction Date.
pub const TRANSACTION_DATE: Tag = Tag(0x9A);
/// `9B` Transaction Status Information (TSI).
pub const TSI: Tag = Tag(0x9B);
/// `9C` Transaction Type.
pub const TRANSACTION_TYPE: Tag = Tag(0x9C);
/// `A5` File Control Information (FCI) Proprietary Template.
pub const FCI_PROPRIETARY_TEMPLATE: Tag = Tag(0xA5);
/// `5F20` Cardholder Name.
pub const CARDHOLDER_NAME: Tag = Tag(0x5F20);
/// `5F24` Application Expiration Date.
pub const EXPIRATION_DATE: Tag = Tag(0x5F24);
/// `5F25` Application Effective Date.
pub const EFFECTIVE_DATE: Tag = Tag(0x5F25);
/// `5F28` Issuer Country Code.
pub const ISSUER_COUNTRY_CODE: Tag = Tag(0x5F28);
/// `5F2A` Transaction Currency Code.
pub const TRANSACTION_CURRENCY_CODE: Tag = Tag(0x5F2A);
/// `5F2D` Language Preference.
pub const LANGUAGE_PREFERENCE: Tag = Tag(0x5F2D);
/// `5F30` Service Code.
pub const SERVICE_CODE: Tag = Tag(0x5F30);
/// `5F34` Application PAN Sequence Number.
pub const PAN_SEQUENCE_NUMBER: Tag = Tag(0x5F34);
/// `5F36` Transaction Currency Exponent.
pub const TRANSACTION_CURRENCY_EXPONENT: Tag = Tag(0x5F36);
/// `9F02` Amount, Authorised (Numeric).
pub const AMOUNT_AUTHORISED: Tag = Tag(0x9F02);
/// `9F03` Amount, Other (Numeric).
pub const AMOUNT_OTHER: Tag = Tag(0x9F03);
/// `9F06` Application Identifier (AID) - terminal.
pub const TERMINAL_AID: Tag = Tag(0x9F06);
/// `9F07` Application Usage Control.
pub const APPLICATION_USAGE_CONTROL: Tag = Tag(0x9F07);
/// `9F08` Application Version Number (card).
pub const APPLICATION_VERSION_NUMBER: Tag = Tag(0x9F08);
/// `9F09` Application Version Number (terminal).
pub const TERMINAL_APPLICATION_VERSION_NUMBER: Tag = Tag(0x9F09);
/// `9F0D` Issuer Action Code - Default.
pub const IAC_DEFAULT: Tag = Tag(0x9F0D);
/// `9F0E` Issuer Action Code - Denial.
pub const IAC_DENIAL: Tag = Tag(0x9F0E);
/// `9F0F` Issuer Action Code - Online.
pub const IAC_ONLINE: Tag = Tag(0x9F0F);
/// `9F10` Issuer Application Data (IAD).
pub const IAD: Tag = Tag(0x9F10);
/// `9F12` Application Preferred Name.
pub const APPLICATION_PREFERRED_NAME: Tag = Tag(0x9F12);
/// `9F15` Merchant Category Code.
pub const MERCHANT_CATEGORY_CODE: Tag = Tag(0x9F15);
/// `9F16` Merchant Identifier.
pub const MERCHANT_IDENTIFIER: Tag = Tag(0x9F16);
/// `9F19` Token Requestor ID.
pub const TOKEN_REQUESTOR_ID: Tag = Tag(0x9F19);
/// `9F1A` Terminal Country Code.
pub const TERMINAL_COUNTRY_CODE: Tag = Tag(0x9F1A);
/// `9F1C` Terminal Identification.
pub const TERMINAL_IDENTIFICATION: Tag = Tag(0x9F1C);
/// `9F1D` Terminal Risk Management Data.
pub const TERMINAL_RISK_MANAGEMENT_DATA: Tag = Tag(0x9F1D);
/// `9F1F` Track 1 Discretionary Data.
pub const TRACK1_DISCRETIONARY_DATA: Tag = Tag(0x9F1F);
/// `9F20` Track 2 Discretionary Data.
pub const TRACK2_DISCRETIONARY_DATA: Tag = Tag(0x9F20);
/// `9F21` Transaction Time.
pub const TRANSACTION_TIME: Tag = Tag(0x9F21);
/// `9F24` Payment Account Reference (PAR).
pub const PAR: Tag = Tag(0x9F24);
/// `9F25` Last 4 Digits of PAN.
pub const PAN_LAST4: Tag = Tag(0x9F25);
/// `9F26` Application Cryptogram.
pub const APPLICATION_CRYPTOGRAM: Tag = Tag(0x9F26);
/// `9F27` Cryptogram Information Data (CID).
pub const CID: Tag = Tag(0x9F27);
/// `9F2A` Kernel Identifier.
pub const KERNEL_IDENTIFIER: Tag = Tag(0x9F2A);
/// `9F32` Issuer Public Key Exponent.
pub const ISSUER_PUBLIC_KEY_EXPONENT: Tag = Tag(0x9F32);
/// `9F33` Terminal Capabilities.
pub const TERMINAL_CAPABILITIES: Tag = Tag(0x9F33);
/// `9F34` Cardholder Verification Method (CVM) Results.
pub const CVM_RESULTS: Tag = Tag(0x9F34);
/// `9F35` Terminal Type.
pub const TERMINAL_TYPE: Tag = Tag(0x9F35);
/// `9F36` Application Transaction Counter (ATC).
pub const ATC: Tag = Tag(0x9F36);
/// `9F37` Unpredictable Number.
pub const UNPREDICTABLE_NUMBER: Tag = Tag(0x9F37);
/// `9F38` Processing Options Data Object List (PDOL).
pub const PDOL: Tag = Tag(0x9F38);
/// `9F39` Point-of-Service (POS) Entry Mode.
pub const POS_ENTRY_MODE: Tag = Tag(0x9F39);
/// `9F40` Additional Terminal Capabilities.
pub const ADDITIONAL_TERMINAL_CAPABILITIES: Tag = Tag(0x9F40);
/// `9F42` Application Currency Code.
pub const APPLICATION_CURRENCY_CODE: Tag = Tag(0x9F42);
/// `9F46` ICC Public Key Certificate.
pub const ICC_PUBLIC_KEY_CERTIFICATE: Tag = Tag(0x9F46);
/// `9F47` ICC Public Key Exponent.
pub const ICC_PUBLIC_KEY_EXPONENT: Tag = Tag(0x9F47);
/// `9F48` ICC Public Key Remainder.
pub const ICC_PUBLIC_KEY_REMAINDER: Tag = Tag(0x9F48);
/// `9F49` Dynamic Data Authentication Data Object List (DDOL).
pub const DDOL: Tag = Tag(0x9F49);
/// `9F4A` Static Data Authentication Tag List.
pub const SDA_TAG_LIST: Tag = Tag(0x9F4A);
/// `9F4B` Signed Dynamic Application Data.
pub const SIGNED_DYNAMIC_APPLICATION_DATA: Tag = Tag(0x9F4B);
/// `9F4C` ICC Dynamic Number.
pub const ICC_DYNAMIC_NUMBER: Tag = Tag(0x9F4C);
/// `9F4E` Merchant Name and Location.
pub const MERCHANT_NAME_AND_LOCATION: Tag = Tag(0x9F4E);
/// `9F4F` Log Format.
pub const LOG_FORMAT: Tag = Tag(0x9F4F);
/// `9F51` DRDOL (Kernel 2).
pub const DRDOL: Tag = Tag(0x9F51);
/// `9F5B` DSDOL (Kernel 2).
pub const DSDOL: Tag = Tag(0x9F5B);
/// `9F5D` Application Capabilities Information (Kernel 2) / AOSA (Kernel 3).
pub const APPLICATION_CAPABILITIES_INFORMATION: Tag = Tag(0x9F5D);
/// `9F66` Terminal Transaction Qualifiers (TTQ).
pub const TTQ: Tag = Tag(0x9F66);
/// `9F69` UDOL (Kernel 2) / Card Authentication Related Data (Kernel 3).
pub const UDOL: Tag = Tag(0x9F69);
/// `9F6B` Track 2 Data (Kernel 2).
pub const TRACK2_DATA: Tag = Tag(0x9F6B);
/// `9F6C` Card Transaction Qualifiers (CTQ, Kernel 3).
pub const CTQ: Tag = Tag(0x9F6C);
/// `9F6E` Third Party Data (Kernel 2) / Form Factor Indicator (Kernel 3).
pub const THIRD_PARTY_DATA: Tag = Tag(0x9F6E);
/// `9F7C` Merchant Custom Data (Kernel 2) / Customer Exclusive Data (Kernel 3).
pub const MERCHANT_CUSTOM_DATA: Tag = Tag(0x9F7C);
/// `BF0C` File Control Information (FCI) Issuer Discretionary Data.
pub const FCI_ISSUER_DISCRETIONARY_DATA: Tag = Tag(0xBF0C);
/// `DF4B` POS Cardholder Interaction Information (Kernel 2).
pub const POS_CARDHOLDER_INTERACTION_INFORMATION: Tag = Tag(0xDF4B);
/// `DF8106` Data Needed (Kernel 2).
pub const DATA_NEEDED: Tag = Tag(0xDF8106);
/// `DF8112` Tags To Read (Kernel 2).
pub const TAGS_TO_READ: Tag = Tag(0xDF8112);
/// `DF8115` Error Indication (Kernel 2).
pub const ERROR_INDICATION: Tag = Tag(0xDF8115);
/// `DF8116` User Interface Request Data (Kernel 2).
pub const UI_REQUEST_DATA: Tag = Tag(0xDF8116);
/// `DF811A` Default UDOL (Kernel 2).
pub const DEFAULT_UDOL: Tag = Tag(0xDF811A);
/// `DF8120` Terminal Action Code - Default (Kernel 2).
pub const TAC_DEFAULT: Tag = Tag(0xDF8120);
/// `DF8121` Terminal Action Code - Denial (Kernel 2).
pub const TAC_DENIAL: Tag = Tag(0xDF8121);
/// `DF8122` Terminal Action Code - Online (Kernel 2).
pub const TAC_ONLINE: Tag = Tag(0xDF8122);
/// `DF8123` Reader Contactless Floor Limit (Kernel 2).
pub const READER_CONTACTLESS_FLOOR_LIMIT: Tag = Tag(0xDF8123);
/// `DF8124` Reader Contactless Transaction Limit (No On-device CVM) (Kernel 2).
pub const READER_CONTACTLESS_TRANSACTION_LIMIT_NO_ODCVM: Tag = Tag(0xDF8124);
/// `DF8125` Reader Contactless Transaction Limit (On-device CVM) (Kernel 2).
pub const READER_CONTACTLESS_TRANSACTION_LIMIT_ODCVM: Tag = Tag(0xDF8125);
/// `DF8126` Reader CVM Required Limit (Kernel 2).
pub const READER_CVM_REQUIRED_LIMIT: Tag = Tag(0xDF8126);
/// `DF8129` Outcome Parameter Set (Kernel 2).
pub const OUTCOME_PARAMETER_SET: Tag = Tag(0xDF8129);
/// `FF8104` Data To Send (Kernel 2).
pub const DATA_TO_SEND: Tag = Tag(0xFF8104);
/// `FF8105` Data Record (Kernel 2).
pub const DATA_RECORD: Tag = Tag(0xFF8105);
/// `FF8106` Discretionary Data (Kernel 2).
pub const DISCRETIONARY_DATA: Tag = Tag(0xFF8106);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_tag_is_in_the_dictionary() {
        for t in [
            IIN,
            AID,
            APPLICATION_LABEL,
            TRACK1_DATA,
            TRACK2_EQUIVALENT_DATA,
            PAN,
            APPLICATION_TEMPLATE,
            FCI_TEMPLATE,
            RECORD_TEMPLATE,
            ISSUER_SCRIPT_TEMPLATE_1,
            ISSUER_SCRIPT_TEMPLATE_2,
            RESPONSE_TEMPLATE_2,
            RESPONSE_TEMPLATE_1,
            AIP,
            COMMAND_TEMPLATE,
            DF_NAME,
            ISSUER_SCRIPT_COMMAND,
            APPLICATION_PRIORITY_INDICATOR,
            SFI,
            AUTHORISATION_CODE,
            AUTHORISATION_RESPONSE_CODE,
            CDOL1,
            CDOL2,
            CVM_LIST,
            CA_PUBLIC_KEY_INDEX,
            ISSUER_PUBLIC_KEY_CERTIFICATE,
            ISSUER_AUTHENTICATION_DATA,
            ISSUER_PUBLIC_KEY_REMAINDER,
            AFL,
            TVR,
            TDOL,
            TRANSACTION_PIN_DATA,
            TRANSACTION_DATE,
            TSI,
            TRANSACTION_TYPE,
            FCI_PROPRIETARY_TEMPLATE,
            CARDHOLDER_NAME,
            EXPIRATION_DATE,
            EFFECTIVE_DATE,
            ISSUER_COUNTRY_CODE,
            TRANSACTION_CURRENCY_CODE,
            LANGUAGE_PREFERENCE,
            SERVICE_CODE,
            PAN_SEQUENCE_NUMBER,
            TRANSACTION_CURRENCY_EXPONENT,
            AMOUNT_AUTHORISED,
            AMOUNT_OTHER,
            TERMINAL_AID,
            APPLICATION_USAGE_CONTROL,
            APPLICATION_VERSION_NUMBER,
            TERMINAL_APPLICATION_VERSION_NUMBER,
            IAC_DEFAULT,
            IAC_DENIAL,
            IAC_ONLINE,
            IAD,
            APPLICATION_PREFERRED_NAME,
            MERCHANT_CATEGORY_CODE,
            MERCHANT_IDENTIFIER,
            TOKEN_REQUESTOR_ID,
            TERMINAL_COUNTRY_CODE,
            TERMINAL_IDENTIFICATION,
            TERMINAL_RISK_MANAGEMENT_DATA,
            TRACK1_DISCRETIONARY_DATA,
            TRACK2_DISCRETIONARY_DATA,
            TRANSACTION_TIME,
            PAR,
            PAN_LAST4,
            APPLICATION_CRYPTOGRAM,
            CID,
            KERNEL_IDENTIFIER,
            ISSUER_PUBLIC_KEY_EXPONENT,
            TERMINAL_CAPABILITIES,
            CVM_RESULTS,
            TERMINAL_TYPE,
            ATC,
            UNPREDICTABLE_NUMBER,
            PDOL,
            POS_ENTRY_MODE,
            ADDITIONAL_TERMINAL_CAPABILITIES,
            APPLICATION_CURRENCY_CODE,
            ICC_PUBLIC_KEY_CERTIFICATE,
            ICC_PUBLIC_KEY_EXPONENT,
            ICC_PUBLIC_KEY_REMAINDER,
            DDOL,
            SDA_TAG_LIST,
            SIGNED_DYNAMIC_APPLICATION_DATA,
            ICC_DYNAMIC_NUMBER,
            MERCHANT_NAME_AND_LOCATION,
            LOG_FORMAT,
            DRDOL,
            DSDOL,
            APPLICATION_CAPABILITIES_INFORMATION,
            TTQ,
            UDOL,
            TRACK2_DATA,
            CTQ,
            THIRD_PARTY_DATA,
            MERCHANT_CUSTOM_DATA,
            FCI_ISSUER_DISCRETIONARY_DATA,
            POS_CARDHOLDER_INTERACTION_INFORMATION,
            DATA_NEEDED,
            TAGS_TO_READ,
            ERROR_INDICATION,
            UI_REQUEST_DATA,
            DEFAULT_UDOL,
            TAC_DEFAULT,
            TAC_DENIAL,
            TAC_ONLINE,
            READER_CONTACTLESS_FLOOR_LIMIT,
            READER_CONTACTLESS_TRANSACTION_LIMIT_NO_ODCVM,
            READER_CONTACTLESS_TRANSACTION_LIMIT_ODCVM,
            READER_CVM_REQUIRED_LIMIT,
            OUTCOME_PARAMETER_SET,
            DATA_TO_SEND,
            DATA_RECORD,
            DISCRETIONARY_DATA,
        ] {
            assert!(crate::lookup(t).is_some(), "{t} is not in the dictionary");
        }
    }
}
