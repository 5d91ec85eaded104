//! Pub/sub: channel and pattern subscriptions, PUBLISH delivery, PUBSUB introspection.
//!
//! Confirmations (`subscribe`, `unsubscribe`...) are one reply per channel; the first is the
//! command's reply and the rest go in `Client::extra_replies`, so pipelined commands keep
//! their order. Messages to other clients go through their outbound channel. RESP3 clients
//! get push frames, RESP2 clients arrays.

use std::collections::HashMap;

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use ferrokv_store::cmd::{
    CmdError, KeySpec, Spec, FAST, LOADING, MAY_REPLICATE, NOSCRIPT, PUBSUB, STALE,
};
use ferrokv_store::glob::glob_match;
use ferrokv_store::notify;
use indexmap::IndexSet;

use crate::client::{ClientId, Outbound};
use crate::commands::NodeHandler;
use crate::node::Node;

#[derive(Default)]
pub struct PubSub {
    pub channels: HashMap<Bytes, IndexSet<ClientId>>,
    pub patterns: HashMap<Bytes, IndexSet<ClientId>>,
}

impl PubSub {
    pub fn remove_client(&mut self, id: ClientId) {
        self.channels.retain(|_, s| {
            s.shift_remove(&id);
            !s.is_empty()
        });
        self.patterns.retain(|_, s| {
            s.shift_remove(&id);
            !s.is_empty()
        });
    }
}

pub static COMMANDS: &[Spec<NodeHandler>] = &[
    Spec {
        name: "subscribe",
        arity: -2,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: subscribe,
    },
    Spec {
        name: "unsubscribe",
        arity: -1,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: unsubscribe,
    },
    Spec {
        name: "psubscribe",
        arity: -2,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: psubscribe,
    },
    Spec {
        name: "punsubscribe",
        arity: -1,
        flags: PUBSUB | NOSCRIPT | LOADING | STALE,
        keys: KeySpec::None,
        run: punsubscribe,
    },
    Spec {
        name: "publish",
        arity: 3,
        flags: PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        keys: KeySpec::None,
        run: publish,
    },
    Spec {
        name: "pubsub",
        arity: -2,
        flags: PUBSUB | LOADING | STALE,
        keys: KeySpec::None,
        run: pubsub,
    },
];

fn push(proto: Protocol, items: Vec<Frame>) -> Frame {
    match proto {
        Protocol::Resp3 => Frame::Push(items),
        Protocol::Resp2 => Frame::Array(items),
    }
}

/// `[kind, channel, subscriptions left]`: what (P)SUBSCRIBE and (P)UNSUBSCRIBE answer per
/// channel.
fn subscription_reply(
    node: &Node,
    id: ClientId,
    proto: Protocol,
    kind: &'static [u8],
    channel: Frame,
) -> Frame {
    let count = node.clients.get(&id).map_or(0, |c| c.subscriptions()) as i64;
    push(
        proto,
        vec![
            Frame::bulk(Bytes::from_static(kind)),
            channel,
            Frame::Integer(count),
        ],
    )
}

/// Returns the first reply and queues the others as extra replies of this command.
fn replies(node: &mut Node, id: ClientId, mut frames: Vec<Frame>) -> Frame {
    let first = frames.remove(0);
    if let Some(c) = node.clients.get_mut(&id) {
        c.extra_replies.extend(frames);
    }
    first
}

fn subscribe_common(
    node: &mut Node,
    id: ClientId,
    names: &[Bytes],
    pattern: bool,
) -> Result<Frame, CmdError> {
    let proto = node.protocol_of(id);
    if node.clients.get(&id).is_some_and(|c| c.multi.is_some()) {
        return Err(CmdError::msg("Command not allowed inside a transaction"));
    }
    let kind: &'static [u8] = if pattern { b"psubscribe" } else { b"subscribe" };
    let mut out = Vec::new();
    for name in names {
        let c = node.clients.get_mut(&id).expect("caller exists");
        let list = if pattern {
            &mut c.patterns
        } else {
            &mut c.channels
        };
        if !list.contains(name) {
            list.push(name.clone());
            let map = if pattern {
                &mut node.pubsub.patterns
            } else {
                &mut node.pubsub.channels
            };
            map.entry(name.clone()).or_default().insert(id);
        }
        out.push(subscription_reply(
            node,
            id,
            proto,
            kind,
            Frame::Bulk(name.clone()),
        ));
    }
    Ok(replies(node, id, out))
}

fn unsubscribe_common(
    node: &mut Node,
    id: ClientId,
    names: &[Bytes],
    pattern: bool,
) -> Result<Frame, CmdError> {
    let proto = node.protocol_of(id);
    let kind: &'static [u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let targets: Vec<Bytes> = if names.is_empty() {
        let c = node.clients.get(&id).expect("caller exists");
        if pattern {
            c.patterns.clone()
        } else {
            c.channels.clone()
        }
    } else {
        names.to_vec()
    };
    let mut out = Vec::new();
    for name in &targets {
        let c = node.clients.get_mut(&id).expect("caller exists");
        let list = if pattern {
            &mut c.patterns
        } else {
            &mut c.channels
        };
        if let Some(pos) = list.iter().position(|x| x == name) {
            list.remove(pos);
            let map = if pattern {
                &mut node.pubsub.patterns
            } else {
                &mut node.pubsub.channels
            };
            if let Some(s) = map.get_mut(name) {
                s.shift_remove(&id);
                if s.is_empty() {
                    map.remove(name);
                }
            }
        }
        out.push(subscription_reply(
            node,
            id,
            proto,
            kind,
            Frame::Bulk(name.clone()),
        ));
    }
    if out.is_empty() {
        out.push(subscription_reply(node, id, proto, kind, Frame::Null));
    }
    Ok(replies(node, id, out))
}

fn subscribe(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    subscribe_common(node, id, &argv[1..], false)
}

fn psubscribe(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    subscribe_common(node, id, &argv[1..], true)
}

fn unsubscribe(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    unsubscribe_common(node, id, &argv[1..], false)
}

fn punsubscribe(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    unsubscribe_common(node, id, &argv[1..], true)
}

/// Publishes the keyspace notifications raised since the last call (`notify.rs` in the
/// store): `__keyspace@<db>__:<key>` with the event for `K`, `__keyevent@<db>__:<event>`
/// with the key for `E`, in the order they were raised.
pub fn publish_events(node: &mut Node) {
    if node.ks.events.is_empty() {
        return;
    }
    let flags = node.ks.cfg.notify_keyspace_events;
    for ev in std::mem::take(&mut node.ks.events) {
        if flags & notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{}__:", ev.db).into_bytes();
            channel.extend_from_slice(&ev.key);
            let event = Bytes::from_static(ev.name.as_bytes());
            deliver(node, &Bytes::from(channel), &event);
        }
        if flags & notify::KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@{}__:{}", ev.db, ev.name));
            deliver(node, &channel, &ev.key);
        }
    }
}

/// Delivers `message` on `channel` to every subscriber; returns how many received it.
pub fn deliver(node: &mut Node, channel: &Bytes, message: &Bytes) -> i64 {
    let mut n = 0;
    if let Some(subs) = node.pubsub.channels.get(channel) {
        for cid in subs {
            if let Some(c) = node.clients.get(cid) {
                let f = push(
                    c.protocol,
                    vec![
                        Frame::bulk("message"),
                        Frame::Bulk(channel.clone()),
                        Frame::Bulk(message.clone()),
                    ],
                );
                let _ = c.tx.send(Outbound::Frame(f));
                n += 1;
            }
        }
    }
    for (pat, subs) in &node.pubsub.patterns {
        if !glob_match(pat, channel) {
            continue;
        }
        for cid in subs {
            if let Some(c) = node.clients.get(cid) {
                let f = push(
                    c.protocol,
                    vec![
                        Frame::bulk("pmessage"),
                        Frame::Bulk(pat.clone()),
                        Frame::Bulk(channel.clone()),
                        Frame::Bulk(message.clone()),
                    ],
                );
                let _ = c.tx.send(Outbound::Frame(f));
                n += 1;
            }
        }
    }
    n
}

fn publish(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let n = deliver(node, &argv[1], &argv[2]);
    let db = node.clients.get(&id).map_or(0, |c| c.db);
    node.stream.feed_replication_only(db, argv);
    Ok(Frame::Integer(n))
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Print this help.",
];

fn pubsub(node: &mut Node, _id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Ok(Frame::Array(
            PUBSUB_HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())))
                .collect(),
        )),
        (b"channels", 2 | 3) => {
            let pat = argv.get(2);
            let mut names: Vec<Bytes> = node
                .pubsub
                .channels
                .keys()
                .filter(|c| pat.is_none_or(|p| glob_match(p, c)))
                .cloned()
                .collect();
            names.sort();
            Ok(Frame::bulks(names))
        }
        (b"numsub", _) => {
            let mut out = Vec::new();
            for ch in &argv[2..] {
                out.push(Frame::Bulk(ch.clone()));
                out.push(Frame::Integer(
                    node.pubsub.channels.get(ch).map_or(0, |s| s.len()) as i64,
                ));
            }
            Ok(Frame::Array(out))
        }
        (b"numpat", 2) => Ok(Frame::Integer(node.pubsub.patterns.len() as i64)),
        (b"shardchannels", 2 | 3) => Ok(Frame::Array(vec![])),
        (b"shardnumsub", _) => {
            let mut out = Vec::new();
            for ch in &argv[2..] {
                out.push(Frame::Bulk(ch.clone()));
                out.push(Frame::Integer(0));
            }
            Ok(Frame::Array(out))
        }
        _ => Err(crate::commands::subcommand_error(argv, "pubsub")),
    }
}
