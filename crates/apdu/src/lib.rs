//! ISO 7816-4 command and response APDUs, cases 1-4, short and extended; status words
#![forbid(unsafe_code)]
