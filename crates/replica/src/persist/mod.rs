//! Durability: RDB files written in place (SAVE) or by a fork child (BGSAVE), `save` rules.
//! AOF and rewrites come next (see the AOF issue).

pub mod rdb_file;
pub mod save_rules;
