//! EMV cryptography: key derivation, session keys, ARQC/ARPC for Visa CVN 10/18/22 and Mastercard M/Chip, MACs, KCVs, diagnosis
#![forbid(unsafe_code)]
