//! Connection commands: PING ECHO QUIT HELLO AUTH SELECT RESET CLIENT.

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use ferrokv_store::cmd::{
    parse_i64, CmdError, KeySpec, Spec, ALLOW_BUSY, FAST, LOADING, NOSCRIPT, NO_AUTH, STALE,
};

use crate::client::{ClientId, ReplyMode};
use crate::commands::NodeHandler;
use crate::node::{unix_ms, Node};

pub static COMMANDS: &[Spec<NodeHandler>] = &[
    Spec {
        name: "ping",
        arity: -1,
        flags: FAST,
        keys: KeySpec::None,
        run: ping,
    },
    Spec {
        name: "echo",
        arity: 2,
        flags: LOADING | STALE | FAST,
        keys: KeySpec::None,
        run: echo,
    },
    Spec {
        name: "quit",
        arity: -1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: KeySpec::None,
        run: quit,
    },
    Spec {
        name: "hello",
        arity: -1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: KeySpec::None,
        run: hello,
    },
    Spec {
        name: "auth",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: KeySpec::None,
        run: auth,
    },
    Spec {
        name: "select",
        arity: 2,
        flags: LOADING | STALE | FAST,
        keys: KeySpec::None,
        run: select,
    },
    Spec {
        name: "reset",
        arity: 1,
        flags: NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        keys: KeySpec::None,
        run: reset,
    },
    Spec {
        name: "client",
        arity: -2,
        flags: NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: client,
    },
];

fn client_mut(node: &mut Node, id: ClientId) -> &mut crate::client::Client {
    node.clients
        .get_mut(&id)
        .expect("the calling client is registered")
}

fn ping(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    if argv.len() > 2 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    let c = client_mut(node, id);
    if c.in_pubsub_context() {
        let msg = argv.get(1).cloned().unwrap_or_default();
        return Ok(Frame::Array(vec![
            Frame::bulk(Bytes::from_static(b"pong")),
            Frame::Bulk(msg),
        ]));
    }
    Ok(match argv.get(1) {
        Some(m) => Frame::Bulk(m.clone()),
        None => Frame::simple("PONG"),
    })
}

fn echo(_: &mut Node, _: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    Ok(Frame::Bulk(argv[1].clone()))
}

fn quit(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    client_mut(node, id).close_after_reply = true;
    Ok(Frame::OK)
}

/// Checks a username/password pair against `requirepass` (only the `default` user exists).
fn check_password(node: &Node, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    if user.is_some_and(|u| u != b"default") {
        return Err(CmdError::Coded(
            "WRONGPASS",
            "invalid username-password pair or user is disabled.".into(),
        ));
    }
    if node.cfg.requirepass.is_empty() && user.is_none() {
        return Err(CmdError::msg(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    if !node.cfg.requirepass.is_empty() && node.cfg.requirepass.as_bytes() != pass {
        return Err(CmdError::Coded(
            "WRONGPASS",
            "invalid username-password pair or user is disabled.".into(),
        ));
    }
    Ok(())
}

fn auth(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let (user, pass) = match argv.len() {
        2 => (None, &argv[1]),
        3 => (Some(&argv[1][..]), &argv[2]),
        _ => return Err(CmdError::Syntax),
    };
    check_password(node, user, pass)?;
    client_mut(node, id).authenticated = true;
    Ok(Frame::OK)
}

fn hello(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let mut proto = None;
    let mut i = 1;
    if let Some(v) = argv.get(1) {
        let ver = parse_i64(v)
            .ok_or_else(|| CmdError::msg("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&ver) {
            return Err(CmdError::Coded(
                "NOPROTO",
                "unsupported protocol version".into(),
            ));
        }
        proto = Some(if ver == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        });
        i = 2;
    }
    let mut setname = None;
    while i < argv.len() {
        let opt = argv[i].to_ascii_uppercase();
        let more = argv.len() - i - 1;
        if opt == b"AUTH" && more >= 2 {
            check_password(node, Some(&argv[i + 1]), &argv[i + 2])?;
            client_mut(node, id).authenticated = true;
            i += 3;
        } else if opt == b"SETNAME" && more >= 1 {
            validate_name(&argv[i + 1])?;
            setname = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::msg_owned(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    let c = client_mut(node, id);
    if !c.authenticated {
        return Err(CmdError::Coded(
            "NOAUTH",
            "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        ));
    }
    if let Some(n) = setname {
        c.name = (!n.is_empty()).then_some(n);
    }
    if let Some(p) = proto {
        c.protocol = p;
    }
    let proto_num = if c.protocol == Protocol::Resp3 { 3 } else { 2 };
    let role = if node.is_replica() {
        "replica"
    } else {
        "master"
    };
    Ok(Frame::Map(vec![
        (Frame::bulk("server"), Frame::bulk("redis")),
        (
            Frame::bulk("version"),
            Frame::bulk(crate::info::REDIS_VERSION),
        ),
        (Frame::bulk("proto"), Frame::Integer(proto_num)),
        (Frame::bulk("id"), Frame::Integer(id as i64)),
        (Frame::bulk("mode"), Frame::bulk("standalone")),
        (Frame::bulk("role"), Frame::bulk(role)),
        (Frame::bulk("modules"), Frame::Array(vec![])),
    ]))
}

fn select(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let db = parse_i64(&argv[1]).ok_or(CmdError::NotInteger)?;
    if db < 0 || db as usize >= node.ks.dbs.len() {
        return Err(CmdError::msg("DB index is out of range"));
    }
    client_mut(node, id).db = db as usize;
    Ok(Frame::OK)
}

fn reset(node: &mut Node, id: ClientId, _: &[Bytes]) -> Result<Frame, CmdError> {
    crate::monitor::stop(node, id);
    crate::tracking::disable(node, id);
    node.unwatch_all(id);
    node.pubsub.remove_client(id);
    let requirepass = node.cfg.requirepass.is_empty();
    let c = client_mut(node, id);
    c.multi = None;
    c.db = 0;
    c.protocol = Protocol::Resp2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.channels.clear();
    c.patterns.clear();
    c.authenticated = requirepass;
    Ok(Frame::simple("RESET"))
}

fn validate_name(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Print this help.",
];

fn client_type_matches(c: &crate::client::Client, ty: &[u8]) -> Option<bool> {
    Some(match ty.to_ascii_lowercase().as_slice() {
        b"normal" => !c.flags.master && !c.flags.replica && c.subscriptions() == 0,
        b"master" => c.flags.master,
        b"replica" | b"slave" => c.flags.replica,
        b"pubsub" => c.subscriptions() > 0,
        _ => return None,
    })
}

fn client(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    let n = argv.len();
    let now = unix_ms();
    match (sub.as_slice(), n) {
        (b"help", 2) => Ok(Frame::Array(
            CLIENT_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        )),
        (b"id", 2) => Ok(Frame::Integer(id as i64)),
        (b"getname", 2) => Ok(client_mut(node, id)
            .name
            .clone()
            .map_or(Frame::Null, Frame::Bulk)),
        (b"setname", 3) => {
            validate_name(&argv[2])?;
            let c = client_mut(node, id);
            c.name = (!argv[2].is_empty()).then(|| argv[2].clone());
            Ok(Frame::OK)
        }
        (b"info", 2) => {
            let line = client_mut(node, id).list_line(now);
            Ok(Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(line + "\n"),
            })
        }
        (b"list", _) => {
            let mut ty: Option<&Bytes> = None;
            let mut ids: Option<Vec<u64>> = None;
            let mut i = 2;
            while i < n {
                let opt = argv[i].to_ascii_lowercase();
                if opt == b"type" && i + 1 < n {
                    ty = Some(&argv[i + 1]);
                    i += 2;
                } else if opt == b"id" && i + 1 < n {
                    let mut v = Vec::new();
                    i += 1;
                    while i < n {
                        let x = parse_i64(&argv[i])
                            .filter(|x| *x > 0)
                            .ok_or_else(|| CmdError::msg("Invalid client ID"))?;
                        v.push(x as u64);
                        i += 1;
                    }
                    ids = Some(v);
                } else {
                    return Err(CmdError::Syntax);
                }
            }
            let mut out = String::new();
            for c in node.clients.values() {
                if let Some(t) = ty {
                    match client_type_matches(c, t) {
                        None => {
                            return Err(CmdError::msg_owned(format!(
                                "Unknown client type '{}'",
                                String::from_utf8_lossy(t)
                            )))
                        }
                        Some(false) => continue,
                        Some(true) => {}
                    }
                }
                if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
                    continue;
                }
                out.push_str(&c.list_line(now));
                out.push('\n');
            }
            Ok(Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(out),
            })
        }
        (b"kill", _) => client_kill(node, id, argv),
        (b"pause", 3 | 4) => {
            let ms = parse_i64(&argv[2])
                .ok_or_else(|| CmdError::msg("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::msg("timeout is negative"));
            }
            let write_only = match argv.get(3).map(|a| a.to_ascii_lowercase()) {
                None => false,
                Some(m) if m == b"write" => true,
                Some(m) if m == b"all" => false,
                Some(_) => return Err(CmdError::msg("CLIENT PAUSE mode must be WRITE or ALL")),
            };
            node.pause = Some((now + ms, write_only));
            Ok(Frame::OK)
        }
        (b"unpause", 2) => {
            node.pause = None;
            Ok(Frame::OK)
        }
        (b"no-evict", 3) => {
            let on = match argv[2].to_ascii_lowercase().as_slice() {
                b"on" => true,
                b"off" => false,
                _ => return Err(CmdError::Syntax),
            };
            client_mut(node, id).no_evict = on;
            Ok(Frame::OK)
        }
        (b"reply", 3) => {
            let mode = match argv[2].to_ascii_lowercase().as_slice() {
                b"on" => ReplyMode::On,
                b"off" => ReplyMode::Off,
                b"skip" => ReplyMode::Skip,
                _ => return Err(CmdError::Syntax),
            };
            // OFF and SKIP also silence this very reply: SKIP becomes "skip the next one"
            // once this command is done (see `Node::apply_reply_mode`).
            client_mut(node, id).reply_mode = if mode == ReplyMode::Skip {
                ReplyMode::SkipNext
            } else {
                mode
            };
            Ok(Frame::OK)
        }
        (b"unblock", 3 | 4) => {
            let target = parse_i64(&argv[2]).ok_or(CmdError::NotInteger)? as u64;
            let error = match argv.get(3).map(|a| a.to_ascii_lowercase()) {
                None => false,
                Some(m) if m == b"timeout" => false,
                Some(m) if m == b"error" => true,
                Some(_) => {
                    return Err(CmdError::msg(
                        "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            Ok(Frame::Integer(node.unblock_by_request(target, error) as i64))
        }
        (b"tracking", 3..) => crate::tracking::client_tracking(node, id, argv),
        (b"caching", 3..) => crate::tracking::client_caching(node, id, &argv[2]),
        (b"getredir", 2) => Ok(Frame::Integer(crate::tracking::redirect_of(node, id))),
        (b"trackinginfo", 2) => Ok(crate::tracking::tracking_info(node, id)),
        _ => Err(crate::commands::subcommand_error(argv, "client")),
    }
}

fn client_kill(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port -> +OK or error.
        let addr = String::from_utf8_lossy(&argv[2]).into_owned();
        let target = node
            .clients
            .values()
            .find(|c| c.addr.to_string() == addr)
            .map(|c| c.id);
        return match target {
            Some(t) => {
                kill_one(node, id, t);
                Ok(Frame::OK)
            }
            None => Err(CmdError::msg("No such client")),
        };
    }
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut filter_id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut ty: Option<Bytes> = None;
    let mut user = None;
    let mut skipme = true;
    for pair in argv[2..].chunks(2) {
        let (k, v) = (pair[0].to_ascii_lowercase(), &pair[1]);
        match k.as_slice() {
            b"id" => {
                filter_id = Some(
                    parse_i64(v)
                        .filter(|x| *x > 0)
                        .ok_or_else(|| CmdError::msg("client-id should be greater than 0"))?
                        as u64,
                )
            }
            b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
            b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
            b"type" => {
                if !matches!(
                    v.to_ascii_lowercase().as_slice(),
                    b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
                ) {
                    return Err(CmdError::msg_owned(format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(v)
                    )));
                }
                ty = Some(v.clone())
            }
            b"user" => user = Some(v.clone()),
            b"skipme" => {
                skipme = match v.to_ascii_lowercase().as_slice() {
                    b"yes" => true,
                    b"no" => false,
                    _ => return Err(CmdError::Syntax),
                }
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let targets: Vec<ClientId> = node
        .clients
        .values()
        .filter(|c| filter_id.is_none_or(|f| c.id == f))
        .filter(|c| addr.as_ref().is_none_or(|a| c.addr.to_string() == *a))
        .filter(|c| laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a))
        .filter(|c| {
            ty.as_ref()
                .is_none_or(|t| client_type_matches(c, t) == Some(true))
        })
        .filter(|_| user.as_ref().is_none_or(|u| &u[..] == b"default"))
        .filter(|c| !(skipme && c.id == id))
        .map(|c| c.id)
        .collect();
    for t in &targets {
        kill_one(node, id, *t);
    }
    Ok(Frame::Integer(targets.len() as i64))
}

fn kill_one(node: &mut Node, me: ClientId, target: ClientId) {
    if target == me {
        client_mut(node, me).close_after_reply = true;
    } else if let Some(c) = node.clients.get(&target) {
        let _ = c.tx.send(crate::client::Outbound::Close);
    }
}
