//! Client-side caching: `CLIENT TRACKING` and the invalidation messages it asks for, as
//! Redis 7.0 sends them.
//!
//! - **Default mode**: after a read-only command of a tracking client, the keys it read are
//!   remembered with its id ([`remember_keys`]). When one of them changes (a write, an
//!   expiry, an eviction), every client that read it gets one invalidation and the key is
//!   forgotten until it is read again ([`invalidate_key`]). `OPTIN` tracks only the command
//!   after `CLIENT CACHING yes`, `OPTOUT` all but the one after `CLIENT CACHING no`.
//! - **BCAST mode**: nothing is remembered. A client subscribes to key prefixes (all keys
//!   without `PREFIX`), and each key changed under a prefix is collected and sent to its
//!   subscribers, one message per batch of commands ([`broadcast`]).
//! - `NOLOOP` leaves out the keys the client changed itself. A flush (FLUSHALL, FLUSHDB,
//!   a full resync) sends every tracking client a null invalidation and forgets all keys
//!   ([`invalidate_all`]).
//!
//! Keys are names only, whatever their database, as in Redis. A RESP3 client gets
//! `>2 invalidate [keys]` pushes; with `REDIRECT <id>` the messages go to that client
//! instead, as pushes if it speaks RESP3, or as messages on `__redis__:invalidate` if it is a
//! RESP2 subscriber. The client running a command gets its own invalidations after the
//! command's reply.
//!
//! Keys a tracking client reads are kept until they change or the table is over
//! `tracking-table-max-keys`, when the cron invalidates keys until it is not.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use ferrokv_proto::resp::{Frame, Protocol};
use ferrokv_store::cmd::CmdError;

use crate::client::{ClientId, Outbound};
use crate::node::Node;

/// The channel RESP2 redirect targets receive invalidations on.
pub const CHANNEL: &str = "__redis__:invalidate";

/// A client's tracking settings (`CLIENT TRACKING on ...`).
#[derive(Debug, Clone, Default)]
pub struct ClientTracking {
    /// Where invalidations go instead of this client (0: to itself).
    pub redirect: ClientId,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// `CLIENT CACHING yes|no` was given for the next command.
    pub caching: bool,
    /// The redirect target has gone (CLIENT LIST flag `R`).
    pub broken_redirect: bool,
    /// BCAST prefixes, sorted as Redis lists them.
    pub prefixes: BTreeSet<Bytes>,
}

/// The node's tracking tables.
#[derive(Debug, Default)]
pub struct Tracking {
    /// Keys read by default-mode clients, and who read them.
    keys: HashMap<Bytes, BTreeSet<ClientId>>,
    /// (key, client) pairs in `keys` (INFO `tracking_total_items`).
    items: usize,
    /// BCAST prefixes: their subscribers, and the keys changed since the last broadcast
    /// with the client that changed each last (0: no client, e.g. an expiry).
    prefixes: BTreeMap<Bytes, Bcast>,
    /// Clients with tracking on (INFO `tracking_clients`).
    pub clients: usize,
    /// Calls of [`enforce_limit`] in a row that found the table over its limit.
    over_limit_calls: u32,
}

#[derive(Debug, Default)]
struct Bcast {
    clients: BTreeSet<ClientId>,
    changed: BTreeMap<Bytes, ClientId>,
}

impl Tracking {
    /// Whether a change to a key can concern anyone: tracking clients, or keys still
    /// remembered for clients that have since turned tracking off.
    pub fn active(&self) -> bool {
        self.clients > 0 || !self.keys.is_empty()
    }

    /// INFO `tracking_total_keys`, `tracking_total_items`, `tracking_total_prefixes`.
    pub fn totals(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.items, self.prefixes.len())
    }
}

/// What an invalidation carries.
enum Payload {
    Keys(Vec<Bytes>),
    /// Everything (a flush).
    All,
}

// ---- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO ------------------------------

/// `CLIENT TRACKING on|off [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`.
pub fn client_tracking(node: &mut Node, id: ClientId, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let mut want = ClientTracking::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = argv[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"redirect" if more => {
                j += 1;
                if want.redirect != 0 {
                    return Err(CmdError::msg(
                        "A client can only redirect to a single other client",
                    ));
                }
                let to = ferrokv_store::cmd::parse_i64(&argv[j]).ok_or(CmdError::NotInteger)?;
                if to <= 0 || !node.clients.contains_key(&(to as ClientId)) {
                    return Err(CmdError::msg(
                        "The client ID you want redirect to does not exist",
                    ));
                }
                want.redirect = to as ClientId;
            }
            b"bcast" => want.bcast = true,
            b"optin" => want.optin = true,
            b"optout" => want.optout = true,
            b"noloop" => want.noloop = true,
            b"prefix" if more => {
                j += 1;
                prefixes.push(argv[j].clone());
            }
            _ => return Err(CmdError::Syntax),
        }
        j += 1;
    }
    if argv[2].eq_ignore_ascii_case(b"off") {
        disable(node, id);
        return Ok(Frame::OK);
    }
    if !argv[2].eq_ignore_ascii_case(b"on") {
        return Err(CmdError::Syntax);
    }
    let now = node.clients.get(&id).and_then(|c| c.tracking.clone());
    check_options(now.as_ref(), &want, &prefixes)?;
    if now.is_none() {
        node.tracking.clients += 1;
    }
    let mut state = now.unwrap_or_default();
    state.redirect = want.redirect;
    state.broken_redirect = false;
    state.bcast = want.bcast;
    state.optin = want.optin;
    state.optout = want.optout;
    state.noloop = want.noloop;
    if want.bcast {
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        for p in prefixes {
            node.tracking
                .prefixes
                .entry(p.clone())
                .or_default()
                .clients
                .insert(id);
            state.prefixes.insert(p);
        }
    }
    if let Some(c) = node.clients.get_mut(&id) {
        c.tracking = Some(state);
    }
    Ok(Frame::OK)
}

/// The checks Redis makes before turning tracking on, in its order and words.
fn check_options(
    now: Option<&ClientTracking>,
    want: &ClientTracking,
    prefixes: &[Bytes],
) -> Result<(), CmdError> {
    if !want.bcast && !prefixes.is_empty() {
        return Err(CmdError::msg(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if now.is_some_and(|t| t.bcast != want.bcast) {
        return Err(CmdError::msg(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if want.bcast && (want.optin || want.optout) {
        return Err(CmdError::msg(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if want.optin && want.optout {
        return Err(CmdError::msg(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if now.is_some_and(|t| (want.optin && t.optout) || (want.optout && t.optin)) {
        return Err(CmdError::msg(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if want.bcast {
        let overlap = |a: &[u8], b: &[u8]| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        };
        for (i, p) in prefixes.iter().enumerate() {
            let existing = now.into_iter().flat_map(|t| t.prefixes.iter());
            if let Some(old) = existing.into_iter().find(|old| overlap(old, p)) {
                return Err(CmdError::msg_owned(format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(old)
                )));
            }
            if let Some(other) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return Err(CmdError::msg_owned(format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    Ok(())
}

/// `CLIENT CACHING yes|no`.
pub fn client_caching(node: &mut Node, id: ClientId, arg: &[u8]) -> Result<Frame, CmdError> {
    let Some(t) = node.clients.get_mut(&id).and_then(|c| c.tracking.as_mut()) else {
        return Err(CmdError::msg(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if arg.eq_ignore_ascii_case(b"yes") {
        if !t.optin {
            return Err(CmdError::msg(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if arg.eq_ignore_ascii_case(b"no") {
        if !t.optout {
            return Err(CmdError::msg(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    t.caching = true;
    Ok(Frame::OK)
}

/// `CLIENT GETREDIR`: the redirect target, 0 without one, -1 when not tracking.
pub fn redirect_of(node: &Node, id: ClientId) -> i64 {
    node.clients
        .get(&id)
        .and_then(|c| c.tracking.as_ref())
        .map_or(-1, |t| t.redirect as i64)
}

/// `CLIENT TRACKINGINFO`.
pub fn tracking_info(node: &Node, id: ClientId) -> Frame {
    let t = node.clients.get(&id).and_then(|c| c.tracking.as_ref());
    let mut flags = vec![if t.is_some() { "on" } else { "off" }];
    if let Some(t) = t {
        for (on, name) in [
            (t.bcast, "bcast"),
            (t.optin, "optin"),
            (t.optin && t.caching, "caching-yes"),
            (t.optout, "optout"),
            (t.optout && t.caching, "caching-no"),
            (t.noloop, "noloop"),
            (t.broken_redirect, "broken_redirect"),
        ] {
            if on {
                flags.push(name);
            }
        }
    }
    let prefixes = t.map_or_else(Vec::new, |t| {
        t.prefixes.iter().cloned().map(Frame::Bulk).collect()
    });
    Frame::Map(vec![
        (
            Frame::bulk("flags"),
            Frame::Set(flags.into_iter().map(Frame::bulk).collect()),
        ),
        (
            Frame::bulk("redirect"),
            Frame::Integer(redirect_of(node, id)),
        ),
        (Frame::bulk("prefixes"), Frame::Array(prefixes)),
    ])
}

/// Tracking off for `id` (CLIENT TRACKING off, or the client is gone): its prefixes are
/// dropped; the keys it read stay in the table until they change, and are skipped then.
pub fn disable(node: &mut Node, id: ClientId) {
    let Some(t) = node.clients.get_mut(&id).and_then(|c| c.tracking.take()) else {
        return;
    };
    node.tracking.clients -= 1;
    for p in &t.prefixes {
        if let Some(b) = node.tracking.prefixes.get_mut(p) {
            b.clients.remove(&id);
            if b.clients.is_empty() {
                node.tracking.prefixes.remove(p);
            }
        }
    }
}

// ---- Remembering and invalidating ------------------------------------------------------

/// After a read-only command of `id`: remembers the keys it read, unless the client is not
/// tracking, broadcasts, or opted this command out.
pub fn remember_keys(node: &mut Node, id: ClientId, keys: impl Iterator<Item = Bytes>) {
    let Some(t) = node.clients.get(&id).and_then(|c| c.tracking.as_ref()) else {
        return;
    };
    if t.bcast || (t.optin && !t.caching) || (t.optout && t.caching) {
        return;
    }
    for key in keys {
        if node.tracking.keys.entry(key).or_default().insert(id) {
            node.tracking.items += 1;
        }
    }
}

/// After any command of `id`: a `CLIENT CACHING` choice holds for one command (a whole
/// transaction when given before MULTI... EXEC), so it ends here unless this command was
/// CLIENT CACHING itself or was queued.
pub fn command_done(node: &mut Node, id: ClientId, was_caching: bool) {
    if was_caching {
        return;
    }
    if let Some(c) = node.clients.get_mut(&id) {
        if c.multi.is_none() {
            if let Some(t) = c.tracking.as_mut() {
                t.caching = false;
            }
        }
    }
}

/// `key` changed, by a write of `origin` or by an expiry or eviction (`None`): its readers
/// are told and it is forgotten; BCAST prefixes collect it with its origin (for NOLOOP).
pub fn invalidate_key(node: &mut Node, key: &Bytes, origin: Option<ClientId>) {
    for (prefix, b) in node.tracking.prefixes.iter_mut() {
        if key.starts_with(prefix) {
            b.changed.insert(key.clone(), origin.unwrap_or(0));
        }
    }
    notify_readers(node, key);
}

/// Tells the clients that read `key` it is no longer tracked for them, and forgets it. As in
/// Redis, NOLOOP spares the client whose command is running, whatever changed the key.
fn notify_readers(node: &mut Node, key: &Bytes) {
    let Some(readers) = node.tracking.keys.remove(key) else {
        return;
    };
    node.tracking.items -= readers.len();
    let current = node.current_client;
    for target in readers {
        let Some(t) = node.clients.get(&target).and_then(|c| c.tracking.as_ref()) else {
            continue;
        };
        if t.bcast || (t.noloop && current == Some(target)) {
            continue;
        }
        send(node, target, Payload::Keys(vec![key.clone()]));
    }
}

/// Everything changed (FLUSHALL, FLUSHDB, a dataset replaced by a full resync or DEBUG
/// RELOAD): every tracking client gets a null invalidation, and the table is emptied.
pub fn invalidate_all(node: &mut Node) {
    let tracking: Vec<ClientId> = node
        .clients
        .values()
        .filter(|c| c.tracking.is_some())
        .map(|c| c.id)
        .collect();
    for id in tracking {
        send(node, id, Payload::All);
    }
    node.tracking.keys.clear();
    node.tracking.items = 0;
}

/// Sends each BCAST subscriber the keys changed under its prefixes since the last call
/// (less its own changes with NOLOOP), one message per prefix. Called after each batch of
/// commands a connection runs, and by the cron.
pub fn broadcast(node: &mut Node) {
    if node
        .tracking
        .prefixes
        .values()
        .all(|b| b.changed.is_empty())
    {
        return;
    }
    let mut messages: Vec<(ClientId, Vec<Bytes>)> = Vec::new();
    for b in node.tracking.prefixes.values_mut() {
        let changed = std::mem::take(&mut b.changed);
        if changed.is_empty() {
            continue;
        }
        for &cid in &b.clients {
            let noloop = node
                .clients
                .get(&cid)
                .and_then(|c| c.tracking.as_ref())
                .is_some_and(|t| t.noloop);
            let keys: Vec<Bytes> = changed
                .iter()
                .filter(|(_, by)| !noloop || **by != cid)
                .map(|(k, _)| k.clone())
                .collect();
            if !keys.is_empty() {
                messages.push((cid, keys));
            }
        }
    }
    for (cid, keys) in messages {
        send(node, cid, Payload::Keys(keys));
    }
}

/// Over `tracking-table-max-keys` (0: no limit): invalidates remembered keys until the
/// table is back under it, as Redis does before each command and in its cron. Like Redis,
/// each call gives up after 100 keys times the number of calls in a row that found the
/// table over the limit, so a big cut spreads over several calls. Redis picks the keys at
/// random; any order will do.
pub fn enforce_limit(node: &mut Node) {
    let max = node.cfg.tracking_table_max_keys as usize;
    if node.tracking.clients == 0 || max == 0 || node.tracking.keys.len() <= max {
        node.tracking.over_limit_calls = 0;
        return;
    }
    let effort = 100 * (node.tracking.over_limit_calls as usize + 1);
    let excess = node.tracking.keys.len() - max;
    let victims: Vec<Bytes> = node
        .tracking
        .keys
        .keys()
        .take(excess.min(effort))
        .cloned()
        .collect();
    // The keys did not change, so BCAST subscribers are not told.
    for key in victims {
        notify_readers(node, &key);
    }
    node.tracking.over_limit_calls = if node.tracking.keys.len() > max {
        node.tracking.over_limit_calls.saturating_add(1)
    } else {
        0
    };
}

/// Delivers one invalidation meant for `target`, following its redirect. The client that
/// is running a command gets its own after the command's reply.
fn send(node: &mut Node, target: ClientId, payload: Payload) {
    let Some(t) = node.clients.get(&target).and_then(|c| c.tracking.as_ref()) else {
        return;
    };
    let redirect = t.redirect;
    let to = if redirect != 0 {
        if !node.clients.contains_key(&redirect) {
            let c = node.clients.get_mut(&target).expect("looked up above");
            if let Some(t) = c.tracking.as_mut() {
                t.broken_redirect = true;
            }
            if c.protocol == Protocol::Resp3 {
                let f = Frame::Push(vec![
                    Frame::bulk("tracking-redir-broken"),
                    Frame::Integer(redirect as i64),
                ]);
                deliver(node, target, f);
            }
            return;
        }
        redirect
    } else {
        target
    };
    let c = &node.clients[&to];
    let keys = match payload {
        Payload::Keys(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
        Payload::All => Frame::Null,
    };
    let frame = if c.protocol == Protocol::Resp3 {
        Frame::Push(vec![Frame::bulk("invalidate"), keys])
    } else if redirect != 0 && c.subscriptions() > 0 {
        Frame::Array(vec![Frame::bulk("message"), Frame::bulk(CHANNEL), keys])
    } else {
        // A RESP2 connection cannot take pushes between replies.
        return;
    };
    deliver(node, to, frame);
}

fn deliver(node: &mut Node, to: ClientId, frame: Frame) {
    let current = node.current_client;
    let Some(c) = node.clients.get_mut(&to) else {
        return;
    };
    if current == Some(to) {
        c.extra_replies.push(frame);
    } else {
        let _ = c.tx.send(Outbound::Frame(frame));
    }
}
