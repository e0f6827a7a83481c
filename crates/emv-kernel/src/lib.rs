//! EMV contactless terminal kernel (Entry Point, Kernel 2 and 3 paths): a sans-I/O state machine
#![forbid(unsafe_code)]
