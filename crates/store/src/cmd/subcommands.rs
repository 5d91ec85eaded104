//! Container commands (`CONFIG SET`, `CLIENT ID`, ...) and the subcommands ferrokv implements,
//! under the full names Redis 7.0 gives them (`config|set`): arity errors name them and
//! `INFO commandstats` counts them one by one. The handlers (here for OBJECT, in the server
//! crate for the others) dispatch on the subcommand themselves; this table is only what
//! those names and errors need, so a subcommand is listed once.

use bytes::Bytes;

use super::CmdError;

/// (container, its subcommands' full names).
const CONTAINERS: &[(&str, &[&str])] = &[
    (
        "client",
        &[
            "client|help",
            "client|id",
            "client|getname",
            "client|setname",
            "client|info",
            "client|list",
            "client|kill",
            "client|pause",
            "client|unpause",
            "client|no-evict",
            "client|reply",
            "client|unblock",
            "client|tracking",
            "client|trackinginfo",
            "client|caching",
            "client|getredir",
        ],
    ),
    (
        "command",
        &[
            "command|count",
            "command|list",
            "command|info",
            "command|docs",
            "command|getkeys",
            "command|getkeysandflags",
            "command|help",
        ],
    ),
    (
        "config",
        &[
            "config|get",
            "config|set",
            "config|resetstat",
            "config|rewrite",
            "config|help",
        ],
    ),
    (
        "latency",
        &[
            "latency|latest",
            "latency|history",
            "latency|reset",
            "latency|histogram",
            "latency|help",
        ],
    ),
    (
        "memory",
        &[
            "memory|usage",
            "memory|stats",
            "memory|doctor",
            "memory|malloc-stats",
            "memory|purge",
            "memory|help",
        ],
    ),
    (
        "object",
        &[
            "object|help",
            "object|encoding",
            "object|refcount",
            "object|idletime",
            "object|freq",
        ],
    ),
    (
        "pubsub",
        &[
            "pubsub|help",
            "pubsub|channels",
            "pubsub|numsub",
            "pubsub|numpat",
            "pubsub|shardchannels",
            "pubsub|shardnumsub",
        ],
    ),
    (
        "slowlog",
        &[
            "slowlog|get",
            "slowlog|len",
            "slowlog|reset",
            "slowlog|help",
        ],
    ),
];

/// Whether `name` (lower case) is a container command (COMMAND INFO shows no flags for it:
/// they belong to its subcommands).
pub fn is_container(name: &str) -> bool {
    subcommands_of(name).is_some()
}

/// The full names of `container`'s subcommands (none when it is not a container).
pub fn names(container: &str) -> &'static [&'static str] {
    subcommands_of(container).unwrap_or_default()
}

/// The subcommands of `container` (a command name in lower case), if it is a container.
fn subcommands_of(container: &str) -> Option<&'static [&'static str]> {
    CONTAINERS
        .iter()
        .find(|(c, _)| *c == container)
        .map(|(_, subs)| *subs)
}

/// What `argv` (`<container> <sub> ...`) names, as `INFO commandstats` counts it:
/// `Some("config|set")`; `Some(container)` when there is no subcommand argument or
/// `container` has no subcommands; `None` for a subcommand that does not exist (Redis does
/// not count those at all).
pub fn stat_name(container: &'static str, argv: &[Bytes]) -> Option<&'static str> {
    let (Some(subs), Some(sub)) = (subcommands_of(container), argv.get(1)) else {
        return Some(container);
    };
    subs.iter()
        .copied()
        .find(|full| full.as_bytes()[container.len() + 1..].eq_ignore_ascii_case(sub))
}

/// The error of a container whose handler matched no subcommand form: the arity error of
/// a subcommand that exists (`wrong number of arguments for 'config|set' command`), else
/// `unknown subcommand 'X'. Try CONFIG HELP.`
pub fn subcommand_error(argv: &[Bytes], container: &'static str) -> CmdError {
    match stat_name(container, argv) {
        Some(full) if full != container => CmdError::WrongArity(full.to_string()),
        _ => CmdError::unknown_subcommand(argv.get(1).map_or(&[][..], |s| &s[..]), container),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn full_names_for_stats_and_errors() {
        assert_eq!(
            stat_name("config", &argv(&["CONFIG", "SeT", "a", "b"])),
            Some("config|set")
        );
        assert_eq!(stat_name("config", &argv(&["config"])), Some("config"));
        assert_eq!(stat_name("config", &argv(&["config", "nope"])), None);
        assert_eq!(stat_name("get", &argv(&["get", "k"])), Some("get"));
        assert_eq!(
            subcommand_error(&argv(&["config", "GET"]), "config").to_line(),
            "ERR wrong number of arguments for 'config|get' command"
        );
        assert_eq!(
            subcommand_error(&argv(&["object", "Nope"]), "object").to_line(),
            "ERR unknown subcommand 'Nope'. Try OBJECT HELP."
        );
    }

    #[test]
    fn every_full_name_starts_with_its_container() {
        for (container, subs) in CONTAINERS {
            for full in *subs {
                assert!(full.starts_with(&format!("{container}|")), "{full}");
            }
        }
    }
}
