//! Durable state of the hosts: SQLite (embedded default) and PostgreSQL.
#![forbid(unsafe_code)]
