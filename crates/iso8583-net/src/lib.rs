//! ISO 8583 over TCP: 2-byte length framing, request/response matching, timeouts, network management, graceful shutdown
#![forbid(unsafe_code)]
