//! Durability: RDB files written in place (SAVE) or by a fork child (BGSAVE), `save` rules,
//! and the append-only file: the directory and its manifest ([`aof`]), rewrites in a fork
//! child ([`rewrite`]) and loading at startup ([`boot`]).

pub mod aof;
pub mod boot;
pub mod rdb_file;
pub mod rewrite;
pub mod save_rules;
