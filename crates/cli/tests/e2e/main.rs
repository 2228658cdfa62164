//! End-to-end tests: the real binary, real HTTP over loopback, a real SQLite
//! file and the real PostgreSQL server. One test binary (links are slow).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod harness;
mod nginx;
mod redirect_catcher;

mod admin;
mod admin_users;
mod assertions;
mod authcode;
mod bad_input;
mod behind_proxy;
mod browser_smoke;
mod cli;
mod connections;
mod demo;
mod durability;
mod gateway;
mod login;
mod operations;
mod outage;
mod pages;
mod private_pg;
mod ratelimit;
mod refresh;
mod registration;
mod tokens;
