//! One client connection: read requests, run each through the node, write replies.
//!
//! The task owns the socket and its buffers; the node owns everything else about the
//! client (see `client.rs`). Besides its socket the task listens to the client's outbound
//! channel: pub/sub messages, the reply of a blocked command, or a request to close.
//!
//! While a command is blocked the task keeps reading (to notice a disconnect and to buffer
//! pipelined requests) but processes nothing until the reply arrives, as Redis does.
//! A protocol error replies `-ERR Protocol error: ...` and closes this connection only.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokv_proto::resp::{encode, Limits, Protocol, RequestDecoder};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::debug;

use crate::client::Outbound;
use crate::node::{CommandClock, Node, Outcome};

const READ_CHUNK: usize = 16 * 1024;

/// What woke the connection task.
enum Event {
    Read(std::io::Result<usize>),
    Message(Option<Outbound>),
}

// No tracing span around the task: entering and leaving one on every poll costs more than
// the rest of a GET's bookkeeping; the events that matter name the client themselves.
pub async fn serve(node: Rc<RefCell<Node>>, stream: TcpStream, addr: SocketAddr) {
    let laddr = stream.local_addr().unwrap_or(addr);
    let _ = stream.set_nodelay(true);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let (id, mut rx) = node.borrow_mut().add_client(addr, laddr);
    debug!(id, peer = %addr, "accepted");
    let (mut rd, mut wr) = stream.into_split();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
    if let Some(c) = node.borrow_mut().clients.get_mut(&id) {
        c.fd = fd;
        c.query_buf_cap = rbuf.capacity();
        c.output_buf_cap = wbuf.capacity();
    }
    let mut decoder = RequestDecoder::new(limits(&node.borrow()));
    let mut blocked = false;
    let mut pending: Option<Vec<Bytes>> = None;
    // Replication stream bytes in `wbuf` (a replica's output-buffer accounting).
    let mut stream_bytes = 0usize;
    // Which source a wake-up looks at first, alternating so that neither a client that keeps
    // sending nor a flood of messages starves the other (without `select!`'s random pick).
    let mut messages_first = false;
    'conn: loop {
        // 1. Run every complete request (unless blocked or paused).
        let mut close = false;
        let mut clock = CommandClock::default();
        while !blocked {
            let argv = match pending.take() {
                Some(a) => a,
                None => match decoder.decode_request(&mut rbuf) {
                    Ok(Some(req)) => req.argv,
                    Ok(None) => break,
                    Err(e) => {
                        debug!(error = %e, "protocol error");
                        if let Some(reply) = e.reply() {
                            let mut node = node.borrow_mut();
                            if let ferrokv_proto::resp::Frame::Error(line) = &reply {
                                node.stats.record_error(line);
                            }
                            encode(&reply, node.protocol_of(id), &mut wbuf);
                        }
                        close = true;
                        break;
                    }
                },
            };
            let paused = node.borrow().pause_for(&argv);
            if let Some(wait) = paused {
                pending = Some(argv);
                flush(&mut wr, &mut wbuf, &node, id).await;
                tokio::time::sleep(wait.min(Duration::from_millis(50))).await;
                clock = CommandClock::default();
                continue;
            }
            let mut n = node.borrow_mut();
            let outcome = n.handle(id, argv, &mut clock);
            // One client lookup for everything the loop needs after the command.
            let (proto, extra, authenticated) = match n.clients.get_mut(&id) {
                Some(c) => (
                    c.protocol,
                    std::mem::take(&mut c.extra_replies),
                    Some(c.authenticated),
                ),
                None => (Protocol::Resp2, Vec::new(), None),
            };
            // A RESP3 client gets the pushes its own command caused (a PUBLISH to a channel
            // it listens to, a keyspace notification of its write) before the command's
            // reply: Redis writes them into the client's buffer while the command runs.
            if proto == Protocol::Resp3 {
                while let Ok(m) = rx.try_recv() {
                    if !take_outbound(m, proto, &mut wbuf, &mut blocked, &mut stream_bytes) {
                        close = true;
                    }
                }
            }
            match outcome {
                Outcome::Reply(f) => encode(&f, proto, &mut wbuf),
                Outcome::Silent => {}
                Outcome::Blocked => blocked = true,
                Outcome::Close(f) => {
                    if let Some(f) = f {
                        encode(&f, proto, &mut wbuf);
                    }
                    close = true;
                }
            }
            for f in extra {
                encode(&f, proto, &mut wbuf);
            }
            if let Some(authenticated) = authenticated {
                decoder.auth_required = !authenticated;
            }
            if close {
                break;
            }
        }
        // Keys changed under BCAST prefixes by this batch go to their subscribers.
        crate::tracking::broadcast(&mut node.borrow_mut());
        // 2. Flush what we have, after the other connections that woke with this one have
        //    run their commands: like Redis's write-before-sleep, the replies of one wake-up
        //    leave in a burst, so a client waiting on several sockets is woken once for all
        //    of them rather than once per reply (waking a sleeping client took about 7% of
        //    the server's CPU at pipeline 16). `yield_now` puts this task behind them; a
        //    lone client has nobody to wait for.
        if !wbuf.is_empty() && node.borrow().clients.len() > 1 {
            tokio::task::yield_now().await;
        }
        if !flush(&mut wr, &mut wbuf, &node, id).await || close {
            break 'conn;
        }
        if stream_bytes > 0 {
            let n = std::mem::take(&mut stream_bytes);
            node.borrow_mut().replica_output_written(id, n);
        }
        if decoder.over_query_buffer_limit(&rbuf) {
            tracing::warn!(
                "Closing client that reached max query buffer length: id={id} addr={addr}"
            );
            break 'conn;
        }
        // 3. Wait for more input or for something from the node.
        messages_first = !messages_first;
        let event = if messages_first {
            tokio::select! {
                biased;
                m = rx.recv() => Event::Message(m),
                r = rd.read_buf(&mut rbuf) => Event::Read(r),
            }
        } else {
            tokio::select! {
                biased;
                r = rd.read_buf(&mut rbuf) => Event::Read(r),
                m = rx.recv() => Event::Message(m),
            }
        };
        match event {
            Event::Read(Ok(0) | Err(_)) => break 'conn,
            Event::Read(Ok(n)) => {
                let mut node = node.borrow_mut();
                node.stats.total_net_input_bytes += n as u64;
                node.stats.total_reads_processed += 1;
                if let Some(c) = node.clients.get_mut(&id) {
                    c.query_buf_len = rbuf.len();
                    c.query_buf_cap = rbuf.capacity();
                }
            }
            Event::Message(msg) => {
                let proto = node.borrow().protocol_of(id);
                let mut next = msg;
                // Take this message and whatever else is queued, without waiting.
                while let Some(m) = next.take() {
                    if !take_outbound(m, proto, &mut wbuf, &mut blocked, &mut stream_bytes) {
                        let _ = flush(&mut wr, &mut wbuf, &node, id).await;
                        break 'conn;
                    }
                    next = rx.try_recv().ok();
                }
                if next.is_none() && rx.is_closed() && rx.is_empty() {
                    let _ = flush(&mut wr, &mut wbuf, &node, id).await;
                    break 'conn;
                }
            }
        }
    }
    node.borrow_mut().remove_client(id);
    debug!(id, "closed");
}

fn limits(node: &Node) -> Limits {
    Limits {
        proto_max_bulk_len: node.cfg.proto_max_bulk_len as usize,
        client_query_buffer_limit: node.cfg.client_query_buffer_limit as usize,
        ..Limits::default()
    }
}

/// Handles one message from the node. Returns false when the connection must close.
fn take_outbound(
    m: Outbound,
    proto: Protocol,
    wbuf: &mut BytesMut,
    blocked: &mut bool,
    stream_bytes: &mut usize,
) -> bool {
    match m {
        Outbound::Frame(f) => encode(&f, proto, wbuf),
        Outbound::Unblocked(f) => {
            encode(&f, proto, wbuf);
            *blocked = false;
        }
        Outbound::Raw(b) => wbuf.extend_from_slice(&b),
        Outbound::Stream(b) => {
            *stream_bytes += b.len();
            wbuf.extend_from_slice(&b);
        }
        Outbound::Close => return false,
    }
    true
}

/// Writes and clears `wbuf`. Returns false if the peer is gone, or if the node asked this
/// connection to close while the peer was not reading (a replica over its output limit).
async fn flush(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    wbuf: &mut BytesMut,
    node: &Rc<RefCell<Node>>,
    id: crate::client::ClientId,
) -> bool {
    if wbuf.is_empty() {
        return true;
    }
    // The AOF is written (and with `appendfsync always` fsynced) before any reply.
    crate::aof::before_reply(&mut node.borrow_mut());
    let n = wbuf.len();
    let mut ok = true;
    let mut done = 0;
    let mut writes = 0;
    while done < n {
        // Most replies fit the socket buffer: write at once, without arming a timer.
        match wr.try_write(&wbuf[done..]) {
            Ok(0) => {
                ok = false;
                break;
            }
            Ok(w) => {
                done += w;
                writes += 1;
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                ok = false;
                break;
            }
        }
        // The peer is not reading: wait for room, checking every 200 ms whether the node
        // wants this connection closed (a replica over its output limit). Meanwhile CLIENT
        // LIST and INFO see what is waiting.
        if let Some(c) = node.borrow_mut().clients.get_mut(&id) {
            c.output_buf_len = wbuf.len() - done;
            c.output_buf_cap = wbuf.capacity();
        }
        match tokio::time::timeout(Duration::from_millis(200), wr.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                ok = false;
                break;
            }
            Err(_) => {
                if node.borrow().close_requested(id) {
                    ok = false;
                    break;
                }
            }
        }
    }
    wbuf.clear();
    if wbuf.capacity() > 1 << 20 {
        *wbuf = BytesMut::with_capacity(READ_CHUNK);
    }
    let mut node = node.borrow_mut();
    // Bytes to our replicas (the stream, full-sync payloads) count apart, as in Redis.
    let to_replica = match node.clients.get_mut(&id) {
        Some(c) => {
            c.output_buf_len = 0;
            c.output_buf_cap = wbuf.capacity();
            c.flags.replica
        }
        None => false,
    };
    let stats = &mut node.stats;
    if to_replica {
        stats.total_net_repl_output_bytes += done as u64;
    } else {
        stats.total_net_output_bytes += done as u64;
    }
    stats.total_writes_processed += writes;
    ok
}
