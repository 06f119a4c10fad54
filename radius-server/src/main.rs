//! tessera-radiusd: a RADIUS server that demands a Tessera second factor.
#![forbid(unsafe_code)]

mod cache;
mod challenge;
mod clients;
mod codec;
mod handler;

fn main() {}
