//! The switchboard command: dev, admin, bench
