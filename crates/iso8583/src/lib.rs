//! ISO 8583 messages: field specifications as data (ASCII and binary-bitmap 1987 dialects), MTI, bitmap, pack and unpack, response codes
#![forbid(unsafe_code)]
