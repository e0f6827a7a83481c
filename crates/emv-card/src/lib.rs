//! EMV contactless card application: a sans-I/O state machine answering APDUs
#![forbid(unsafe_code)]
