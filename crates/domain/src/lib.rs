//! Payment domain rules: issuer decisions, token lifecycle and vault model, replay windows, stand-in; ports for storage and time
#![forbid(unsafe_code)]
