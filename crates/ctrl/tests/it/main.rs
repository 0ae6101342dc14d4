//! The real `ctrl` binary, tested from outside: one test binary (one link)
//! with a module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is its failure

mod access;
mod agent;
mod alerts;
mod api;
mod browser;
mod common;
mod config;
mod deploy;
mod health;
mod hub;
mod import;
mod jobs;
mod knowledge;
mod lifecycle;
mod llm;
mod logs;
mod pid1;
mod postgres;
mod restart;
mod run_as;
mod start;
mod stop;
mod streams;
mod tls;
mod vnc;
