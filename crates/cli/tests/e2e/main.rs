//! End-to-end tests: the real binary, real HTTP over loopback, a real SQLite
//! file and the real PostgreSQL server. One test binary (links are slow).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod admin;
mod bad_input;
mod cli;
mod demo;
mod durability;
mod operations;
mod outage;
mod private_pg;
mod ratelimit;
mod registration;
mod tokens;
