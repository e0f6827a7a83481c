//! EMV data: the tag dictionary as data; typed AIP, AFL, CVM list, TVR, CVR, CTQ, TTQ, IAD
#![forbid(unsafe_code)]
