//! `CmdError`: an error *reply*. It becomes `-CODE message` and the connection carries on.
//! Texts must match Redis 7.0 byte for byte (the differential tests compare them).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CmdError {
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("syntax error")]
    Syntax,
    #[error("value is not an integer or out of range")]
    NotInteger,
    #[error("value is not a valid float")]
    NotFloat,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("no such key")]
    NoSuchKey,
    #[error("index out of range")]
    IndexOutOfRange,
    #[error("wrong number of arguments for '{0}' command")]
    WrongArity(String),
    /// `args` is Redis's preview: each argument quoted, as `'a' 'b' `.
    #[error("unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("unknown subcommand '{sub}'. Try {cmd} HELP.")]
    UnknownSubcommand { sub: String, cmd: String },
    #[error("invalid expire time in '{0}' command")]
    InvalidExpire(&'static str),
    #[error("command not allowed when used memory > 'maxmemory'.")]
    Oom,
    #[error("You can't write against a read only replica.")]
    ReadOnly,
    #[error("Not enough good replicas to write.")]
    NoReplicas,
    #[error("Target key name already exists.")]
    BusyKey,
    #[error("Authentication required.")]
    NoAuth,
    #[error("Redis is loading the dataset in memory")]
    Loading,
    #[error("Link with MASTER is down and replica-serve-stale-data is set to 'no'.")]
    MasterDown,
    #[error("Transaction discarded because of previous errors.")]
    ExecAbort,
    #[error("Errors writing to the AOF file: {0}")]
    AofWrite(String),
    #[error("Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.")]
    Misconf,
    #[error("{1}")]
    Coded(&'static str, Cow<'static, str>),
    /// A command-specific `ERR` message, text exactly as Redis words it.
    #[error("{0}")]
    Err(Cow<'static, str>),
}

impl CmdError {
    /// The error code that prefixes the reply line.
    pub fn code(&self) -> &'static str {
        match self {
            CmdError::WrongType => "WRONGTYPE",
            CmdError::Oom => "OOM",
            CmdError::ReadOnly => "READONLY",
            CmdError::NoReplicas => "NOREPLICAS",
            CmdError::BusyKey => "BUSYKEY",
            CmdError::NoAuth => "NOAUTH",
            CmdError::Loading => "LOADING",
            CmdError::MasterDown => "MASTERDOWN",
            CmdError::ExecAbort => "EXECABORT",
            CmdError::Misconf => "MISCONF",
            CmdError::Coded(code, _) => code,
            _ => "ERR",
        }
    }

    /// The full error line without the leading `-`.
    pub fn to_line(&self) -> String {
        format!("{} {}", self.code(), self)
    }

    pub fn msg(s: &'static str) -> CmdError {
        CmdError::Err(Cow::Borrowed(s))
    }

    pub fn msg_owned(s: String) -> CmdError {
        CmdError::Err(Cow::Owned(s))
    }

    pub fn unknown_command(argv: &[bytes::Bytes]) -> CmdError {
        let mut args = String::new();
        for a in argv.iter().skip(1) {
            if args.len() >= 128 {
                break;
            }
            let s = lossy(a);
            let s: String = s.chars().take(128 - args.len()).collect();
            args.push_str(&format!("'{s}' "));
        }
        CmdError::UnknownCommand {
            name: lossy(
                &argv.first().map(|b| &b[..]).unwrap_or(b"")
                    [..argv.first().map_or(0, |b| b.len().min(128))],
            ),
            args,
        }
    }

    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
        CmdError::UnknownSubcommand {
            sub: lossy(sub),
            cmd: cmd.to_ascii_uppercase(),
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn lines_match_redis() {
        assert_eq!(
            CmdError::WrongType.to_line(),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            CmdError::WrongArity("get".into()).to_line(),
            "ERR wrong number of arguments for 'get' command"
        );
        let argv = [
            Bytes::from_static(b"foo"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
        ];
        assert_eq!(
            CmdError::unknown_command(&argv).to_line(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            CmdError::unknown_subcommand(b"x", "object").to_line(),
            "ERR unknown subcommand 'x'. Try OBJECT HELP."
        );
    }
}
