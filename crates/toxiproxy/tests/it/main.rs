//! Integration tests: the `ferrokv-toxiproxy` binary (and the in-process server) against
//! local upstream servers. One test target, one harness.

mod api;
mod harness;
mod links;
