//! zset commands.

use super::{Handler, Spec};

pub static COMMANDS: &[Spec<Handler>] = &[];
