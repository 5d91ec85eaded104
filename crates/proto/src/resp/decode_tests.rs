//! Tests of `decode.rs`: Redis's edge cases as tables (each checked against redis-server
//! 7.0.15 over a raw socket), every split point of representative inputs, and proptests.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::resp::encode::{encode, encode_command, format_double};
use crate::resp::frame::Protocol;
use crate::resp::scan::BULK_PREALLOC_CAP;

// ---------------------------------------------------------------------------------------------
// Drivers

/// Everything a decoder produced from an input fed in the given chunks.
#[derive(Debug, Clone, PartialEq)]
struct Run<T> {
    items: Vec<T>,
    error: Option<ProtoError>,
    /// Bytes left unconsumed in the buffer at the end.
    left: usize,
}

trait Decode {
    type Item;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, ProtoError>;
    fn heap(&self) -> usize;
}

impl Decode for RequestDecoder {
    type Item = Request;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtoError> {
        self.decode_request(buf)
    }
    fn heap(&self) -> usize {
        self.heap_bytes()
    }
}

impl Decode for FrameDecoder {
    type Item = Decoded;
    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ProtoError> {
        self.decode_frame(buf)
    }
    fn heap(&self) -> usize {
        self.heap_bytes()
    }
}

/// Feeds `chunks` one after the other, decoding until the decoder waits after each.
fn run<D: Decode>(dec: &mut D, chunks: &[&[u8]]) -> Run<D::Item> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        buf.extend_from_slice(chunk);
        // Each successful step consumes at least one byte: bounded by the input length.
        for _ in 0..=buf.len() {
            match dec.step(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(error) => {
                    let unfed: usize = chunks[i + 1..].iter().map(|c| c.len()).sum();
                    return Run {
                        items,
                        error: Some(error),
                        left: buf.len() + unfed,
                    };
                }
            }
        }
    }
    Run {
        items,
        error: None,
        left: buf.len(),
    }
}

fn run_whole<D: Decode>(mut dec: D, input: &[u8]) -> Run<D::Item> {
    run(&mut dec, &[input])
}

/// Asserts that byte-by-byte feeding and every two-way split give what one read gives.
fn assert_split_invariant<D, F>(make: F, input: &[u8]) -> Run<D::Item>
where
    D: Decode,
    D::Item: PartialEq + std::fmt::Debug,
    F: Fn() -> D,
{
    let whole = run(&mut make(), &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(&mut make(), &bytes),
        whole,
        "byte by byte: {:?}",
        show(input)
    );
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(
            run(&mut make(), &[a, b]),
            whole,
            "split at {at}: {:?}",
            show(input)
        );
    }
    whole
}

fn show(input: &[u8]) -> String {
    let s = String::from_utf8_lossy(&input[..input.len().min(120)]).into_owned();
    if input.len() > 120 {
        format!("{s}... ({} bytes)", input.len())
    } else {
        s
    }
}

fn argvs(run: &Run<Request>) -> Vec<Vec<&[u8]>> {
    run.items
        .iter()
        .map(|r| r.argv.iter().map(|a| &a[..]).collect())
        .collect()
}

fn small_big_arg() -> RequestDecoder {
    RequestDecoder {
        big_arg: 8,
        ..RequestDecoder::default()
    }
}

// ---------------------------------------------------------------------------------------------
// RequestDecoder: Redis's edge cases

/// `(input, requests decoded, error)`; a `None` error means the decoder is waiting.
type Case = (
    &'static [u8],
    &'static [&'static [&'static [u8]]],
    Option<ProtoError>,
);

#[test]
fn request_edge_cases_match_redis() {
    use ProtoError::*;
    let table: &[Case] = &[
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n",
            &[&[b"SET", b"a", b"b"]],
            None,
        ),
        (b"SET a b\r\n", &[&[b"SET", b"a", b"b"]], None),
        (b"PING\n", &[&[b"PING"]], None),
        // Redis skips the two bytes after a bulk, and the byte after a header's CR, unchecked.
        (b"*1\r\n$4\r\nPINGxx", &[&[b"PING"]], None),
        (b"*1\rx$4\r\nPING\r\n", &[&[b"PING"]], None),
        // Requests without arguments are skipped.
        (b"*0\r\n*-1\r\n*-5\r\nPING\r\n", &[&[b"PING"]], None),
        (b"*-9223372036854775808\r\nPING\r\n", &[&[b"PING"]], None),
        (b"\r\n\r\n\n   \t \r\nPING\r\n", &[&[b"PING"]], None),
        // Waiting.
        (b"*2147483647\r\n", &[], None),
        (b"*1\r\n$536870912\r\n", &[], None),
        (b"*1\r", &[], None),
        (b"*1\r\n$4\r\nPING\r", &[], None),
        (b"PING", &[], None),
        // Counts.
        (b"*2147483648\r\n", &[], Some(InvalidMultibulkLength)),
        (
            b"*-9223372036854775809\r\n",
            &[],
            Some(InvalidMultibulkLength),
        ),
        (b"*01\r\n", &[], Some(InvalidMultibulkLength)),
        (b"*+1\r\n", &[], Some(InvalidMultibulkLength)),
        (b"*\r\n", &[], Some(InvalidMultibulkLength)),
        (b"* 1\r\n", &[], Some(InvalidMultibulkLength)),
        (b"*1 \r\n", &[], Some(InvalidMultibulkLength)),
        (b"*x\r\n", &[], Some(InvalidMultibulkLength)),
        // Bulk lengths.
        (b"*1\r\n$-1\r\n", &[], Some(InvalidBulkLength)),
        (b"*1\r\n$536870913\r\n", &[], Some(InvalidBulkLength)),
        (b"*1\r\n$04\r\nPING\r\n", &[], Some(InvalidBulkLength)),
        (b"*1\r\n$\r\n", &[], Some(InvalidBulkLength)),
        (
            b"*1\r\n$00000000000000000004\r\nPING\r\n",
            &[],
            Some(InvalidBulkLength),
        ),
        (
            b"*1\r\n$99999999999999999999\r\n",
            &[],
            Some(InvalidBulkLength),
        ),
        // Type bytes inside a request.
        (b"*1\r\nx4\r\n", &[], Some(ExpectedDollar(b'x'))),
        (b"*1\r\n\nx\r\n", &[], Some(ExpectedDollar(b'\n'))),
        (b"*1\r\n\rx\r\n", &[], Some(ExpectedDollar(b'\r'))),
        (b"*1\r\n:1\r\n", &[], Some(ExpectedDollar(b':'))),
        (
            b"*2\r\n$4\r\nECHO\r\n*1\r\n",
            &[],
            Some(ExpectedDollar(b'*')),
        ),
        (
            b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n?\r\n",
            &[&[b"PING"], &[b"PING"]],
            Some(ExpectedDollar(b'?')),
        ),
        // Inline.
        (b"ECHO \"a b\" 'c'\r\n", &[&[b"ECHO", b"a b", b"c"]], None),
        (b"ECHO \"abc\r\n", &[], Some(UnbalancedQuotes)),
        (b"ECHO \"a\"b\r\n", &[], Some(UnbalancedQuotes)),
        (b"$3\r\n", &[&[b"$3"]], None),
        (b"ECHO a\rb\r\n", &[&[b"ECHO", b"a", b"b"]], None),
    ];
    for (input, want, error) in table {
        let got = assert_split_invariant(RequestDecoder::default, input);
        assert_eq!(
            argvs(&got),
            want.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
            "{:?}",
            show(input)
        );
        assert_eq!(&got.error, error, "{:?}", show(input));
    }
}

#[test]
fn header_and_inline_lines_are_limited_to_64k() {
    const K: usize = 64 * 1024;
    let cases: Vec<(Vec<u8>, Option<ProtoError>)> = vec![
        (vec![b'A'; K], None),
        (vec![b'A'; K + 1], Some(ProtoError::TooBigInline)),
        (
            [vec![b'A'; 100 * 1024], b"\r\n".to_vec()].concat(),
            Some(ProtoError::TooBigInline),
        ),
        ([b"*".to_vec(), vec![b'1'; K - 1]].concat(), None),
        (
            [b"*".to_vec(), vec![b'1'; K]].concat(),
            Some(ProtoError::TooBigMultibulkCount),
        ),
        ([b"*1\r\n$".to_vec(), vec![b'1'; K - 1]].concat(), None),
        (
            [b"*1\r\n$".to_vec(), vec![b'1'; K]].concat(),
            Some(ProtoError::TooBigBulkCount),
        ),
        // The '$' check comes after the line is found, as in Redis.
        (
            [b"*1\r\n".to_vec(), vec![b'x'; K + 1]].concat(),
            Some(ProtoError::TooBigBulkCount),
        ),
        // A long line with its CR is still only a bad number.
        (
            [b"*".to_vec(), vec![b'1'; 100], b"\r\n".to_vec()].concat(),
            Some(ProtoError::InvalidMultibulkLength),
        ),
    ];
    for (input, error) in cases {
        let got = run_whole(RequestDecoder::default(), &input);
        assert!(got.items.is_empty());
        assert_eq!(got.error, error, "{}", show(&input));
        // Slow arrival gives the same answer.
        let got = run(
            &mut RequestDecoder::default(),
            &input.chunks(1000).collect::<Vec<_>>(),
        );
        assert_eq!(got.error, error, "{} in chunks", show(&input));
    }
}

#[test]
fn an_inline_line_of_exactly_64k_is_accepted() {
    let mut input = vec![b'A'; 64 * 1024];
    input.push(b'\n');
    let got = run_whole(RequestDecoder::default(), &input);
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].argv[0].len(), 64 * 1024);
}

#[test]
fn unauthenticated_clients_get_small_limits() {
    let auth = || RequestDecoder {
        auth_required: true,
        ..RequestDecoder::default()
    };
    let got = run_whole(auth(), b"*11\r\n");
    assert_eq!(got.error, Some(ProtoError::UnauthenticatedMultibulkLength));
    let got = run_whole(auth(), b"*10\r\n");
    assert_eq!(got.error, None);
    let got = run_whole(auth(), b"*1\r\n$16385\r\n");
    assert_eq!(got.error, Some(ProtoError::UnauthenticatedBulkLength));
    let got = run_whole(auth(), b"*1\r\n$16384\r\n");
    assert_eq!(got.error, None);
    // Inline requests have only the 64 KiB limit.
    let got = run_whole(auth(), b"AUTH secret\r\n");
    assert_eq!(argvs(&got), vec![vec![&b"AUTH"[..], b"secret"]]);
}

#[test]
fn primary_link_skips_keepalives_and_refuses_inline() {
    let got = run_whole(RequestDecoder::primary_link(), b"\n\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(argvs(&got), vec![vec![&b"PING"[..]]]);
    assert_eq!(got.items[0].wire_len, 16);
    let got = run_whole(RequestDecoder::primary_link(), b"PING\r\n");
    assert_eq!(got.error, Some(ProtoError::InlineFromPrimary));
    let got = run_whole(RequestDecoder::primary_link(), b"  \r\n");
    assert_eq!(got.error, Some(ProtoError::InlineFromPrimary));
    // No proto-max-bulk-len for the primary.
    let got = run_whole(RequestDecoder::primary_link(), b"*1\r\n$536870913\r\n");
    assert_eq!(got.error, None);
}

#[test]
fn configured_limits_are_used() {
    let limits = Limits {
        proto_max_bulk_len: 4,
        max_multibulk_len: 2,
        inline_max_size: 8,
        ..Limits::default()
    };
    let got = run_whole(RequestDecoder::new(limits), b"*3\r\n");
    assert_eq!(got.error, Some(ProtoError::InvalidMultibulkLength));
    let got = run_whole(RequestDecoder::new(limits), b"*2\r\n$5\r\n");
    assert_eq!(got.error, Some(ProtoError::InvalidBulkLength));
    let got = run_whole(RequestDecoder::new(limits), b"ECHO abcde\r\n");
    assert_eq!(got.error, Some(ProtoError::TooBigInline));
}

#[test]
fn unlimited_counts_still_skip_negative_ones() {
    let limits = Limits {
        max_multibulk_len: usize::MAX,
        ..Limits::default()
    };
    let got = run_whole(
        RequestDecoder::new(limits),
        b"*-1\r\n*1\r\n$4\r\nPING\r\n*9999999999\r\n",
    );
    assert_eq!(argvs(&got), vec![vec![&b"PING"[..]]]);
    assert_eq!(got.error, None);
}

#[test]
fn errors_are_sticky() {
    let mut dec = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
    assert_eq!(
        dec.decode_request(&mut buf),
        Err(ProtoError::InvalidBulkLength)
    );
    let mut fresh = BytesMut::from(&b"PING\r\n"[..]);
    assert_eq!(
        dec.decode_request(&mut fresh),
        Err(ProtoError::InvalidBulkLength)
    );
}

// ---------------------------------------------------------------------------------------------
// RequestDecoder: the buffered fast path against the state machine

#[test]
fn small_len_reads_only_plain_whole_lines() {
    /// (input, type byte index + 1, line limit, expected)
    type Row = (&'static [u8], usize, usize, Option<(usize, usize)>);
    let table: &[Row] = &[
        (b"$12\r\nhello world!\r\n", 1, 64, Some((12, 5))),
        (b"*0\r\n", 1, 64, Some((0, 4))),
        (b"xx$7\rx", 3, 64, Some((7, 6))),
        (
            b"$999999999999999999\r\n",
            1,
            64,
            Some((999_999_999_999_999_999, 21)),
        ),
        // 19 digits, a sign, a leading zero, no digits, no CR, a space: the general path's.
        (b"$1000000000000000000\r\n", 1, 64, None),
        (b"$-1\r\n", 1, 64, None),
        (b"$+1\r\n", 1, 64, None),
        (b"$01\r\n", 1, 64, None),
        (b"$00\r\n", 1, 64, None),
        (b"$\r\n", 1, 64, None),
        (b"$1\n", 1, 64, None),
        (b"$1 \r\n", 1, 64, None),
        // Not whole yet: the byte after the CR is needed.
        (b"$12", 1, 64, None),
        (b"$12\r", 1, 64, None),
        (b"$", 1, 64, None),
        (b"", 1, 64, None),
        // The CR must be within the line limit of the type byte.
        (b"$123\r\n", 1, 4, Some((123, 6))),
        (b"$123\r\n", 1, 3, None),
    ];
    for &(input, start, limit, want) in table {
        assert_eq!(small_len(input, start, limit), want, "{:?}", show(input));
    }
}

/// Inputs at the edges of what the fast path takes: each must decode the same whole (fast
/// path) as split anywhere or byte by byte (mostly the state machine).
const FAST_PATH_EDGES: &[&[u8]] = &[
    b"*2\r\n$4\r\nINCR\r\n$16\r\nkey:__rand_int__\r\n",
    b"*4\r\n$4\r\nZADD\r\n$6\r\nmyzset\r\n$1\r\n1\r\n$10\r\nelement:42\r\n",
    // Trailers and the byte after a CR are skipped unchecked.
    b"*2\r\n$1\r\naXY$1\rxbZZ*1\r\n$0\r\n!!",
    // A request whose last bulk is at or past the big-argument size.
    b"*3\r\n$1\r\na\r\n$7\r\n1234567\r\n$9\r\n123456789\r\n*1\r\n$4\r\nPING\r\n",
    // Leading zeros, signs and long numbers go to the state machine (and are refused).
    b"*1\r\n$4\r\nPING\r\n*1\r\n$04\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n*01\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$-1\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$1000000000000000000\r\n",
    b"*1\r\n$4\r\nPING\r\n*1000000000000000000\r\n",
    b"*2\r\n$4\r\nECHO\r\n:1\r\n",
    b"*2\r\n$4\r\nECHO\r\n$2 \r\nab\r\n",
    // Over the configured limits: 3 elements, 5-byte bulks, 11 elements for AUTH.
    b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    b"*2\r\n$4\r\nECHO\r\n$5\r\nabcde\r\n",
    b"*11\r\n$1\r\na\r\n",
    b"*1\r\n$16385\r\n",
    // Skipped requests before a fast one count into its wire length.
    b"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n",
];

fn fast_path_configs() -> Vec<fn() -> RequestDecoder> {
    vec![
        RequestDecoder::default,
        small_big_arg,
        RequestDecoder::primary_link,
        || RequestDecoder {
            auth_required: true,
            ..RequestDecoder::default()
        },
        || {
            RequestDecoder::new(Limits {
                proto_max_bulk_len: 4,
                max_multibulk_len: 2,
                inline_max_size: 3,
                ..Limits::default()
            })
        },
    ]
}

#[test]
fn the_fast_path_agrees_with_the_state_machine_at_its_edges() {
    for input in FAST_PATH_EDGES {
        for make in fast_path_configs() {
            assert_split_invariant(make, input);
        }
    }
    let got = run_whole(RequestDecoder::default(), FAST_PATH_EDGES[0]);
    assert_eq!(argvs(&got), vec![vec![&b"INCR"[..], b"key:__rand_int__"]]);
    assert_eq!(got.items[0].wire_len, FAST_PATH_EDGES[0].len());
}

#[test]
fn a_partly_buffered_request_is_not_rescanned_from_its_start() {
    // The fast path hands the two whole elements to the state machine, which keeps them and
    // reads the third one's header.
    let mut dec = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva"[..]);
    assert_eq!(dec.decode_request(&mut buf), Ok(None));
    assert!(dec.in_request());
    assert_eq!(&buf[..], b"va");
    buf.extend_from_slice(b"lue\r\n");
    let req = dec
        .decode_request(&mut buf)
        .unwrap()
        .expect("whole request");
    assert_eq!(req.argv, vec![bs(b"SET"), bs(b"k"), bs(b"value")]);
    assert_eq!(req.wire_len, 31);
    assert!(buf.is_empty());
}

// ---------------------------------------------------------------------------------------------
// RequestDecoder: wire lengths, splits, big arguments

#[test]
fn wire_len_counts_skipped_requests_into_the_next() {
    let input = b"\r\n*0\r\n*1\r\n$4\r\nPING\r\nGET k\r\n";
    let got = run_whole(RequestDecoder::default(), input);
    let lens: Vec<usize> = got.items.iter().map(|r| r.wire_len).collect();
    assert_eq!(lens, vec![2 + 4 + 14, 7]);
    assert_eq!(lens.iter().sum::<usize>(), input.len());
}

const PIPELINE: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n\
GET a\r\n\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\nECHO \"x y\"\n\
*2\r\n$4\r\nECHO\r\n$0\r\n\r\n\
*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n\
*2\r\n$4\r\nECHO\r\n$5\r\n\r\n\r\n\r\r\n";

#[test]
fn every_split_of_a_pipeline_gives_the_same_requests() {
    for make in [
        RequestDecoder::default as fn() -> RequestDecoder,
        small_big_arg,
    ] {
        let got = assert_split_invariant(make, PIPELINE);
        assert_eq!(
            argvs(&got),
            vec![
                vec![&b"SET"[..], b"a", b"b"],
                vec![b"GET", b"a"],
                vec![b"PING"],
                vec![b"ECHO", b"x y"],
                vec![b"ECHO", b""],
                vec![b"ECHO", b"01234567890123456789"],
                vec![b"ECHO", b"\r\n\r\n\r"],
            ]
        );
        assert_eq!(
            got.items.iter().map(|r| r.wire_len).sum::<usize>(),
            PIPELINE.len()
        );
        assert_eq!(got.left, 0);
    }
}

#[test]
fn every_split_of_failing_inputs_gives_the_same_error() {
    let inputs: &[&[u8]] = &[
        b"PING\r\n*2\r\n$4\r\nECHO\r\n$-1\r\n",
        b"*2\r\n$4\r\nECHO\r\n$20\r\n01234567890123456789\r\n*x\r\n",
        b"GET a\r\nECHO \"unbalanced\r\n",
        b"*1\r\n$3\r\nabc\r\n*1\r\n$3\r\nabc\r\n*1 \r\n",
    ];
    for input in inputs {
        for make in [
            RequestDecoder::default as fn() -> RequestDecoder,
            small_big_arg,
        ] {
            let got = assert_split_invariant(make, input);
            assert!(got.error.is_some(), "{:?}", show(input));
        }
    }
}

#[test]
fn a_big_bulk_is_moved_out_as_it_arrives() {
    let len = 3 * 1024 * 1024 + 5;
    let mut input = BytesMut::new();
    input.put_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n");
    input.put_slice(format!("${len}\r\n").as_bytes());
    input.extend((0..len).map(|i| (i % 251) as u8));
    input.put_slice(b"\r\n");
    let mut dec = RequestDecoder::default();
    let mut buf = BytesMut::new();
    let mut got = None;
    for chunk in input.chunks(1000) {
        assert!(got.is_none());
        buf.extend_from_slice(chunk);
        got = dec.decode_request(&mut buf).unwrap();
        // Never more than one read's worth stays in the read buffer: nothing is rescanned.
        assert!(buf.len() <= 1000);
        assert!(dec.query_buffer_len(&buf) <= len + 2);
        assert!(dec.heap_bytes() <= len + 256);
    }
    let req = got.expect("complete request");
    assert_eq!(req.wire_len, input.len());
    assert_eq!(req.argv[2].len(), len);
    assert!(req.argv[2]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
}

#[test]
fn a_huge_claimed_bulk_allocates_nothing_until_bytes_arrive() {
    let mut dec = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
    assert_eq!(dec.decode_request(&mut buf), Ok(None));
    assert_eq!(dec.heap_bytes(), std::mem::size_of::<Bytes>());
    buf.put_slice(b"abc");
    assert_eq!(dec.decode_request(&mut buf), Ok(None));
    assert!(dec.heap_bytes() <= BULK_PREALLOC_CAP + 64);
}

#[test]
fn query_buffer_len_counts_buffered_and_held_bytes() {
    let limits = Limits {
        client_query_buffer_limit: 100_000,
        ..Limits::default()
    };
    let mut dec = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(&b"*1\r\n$200000\r\n"[..]);
    buf.put_slice(&[b'x'; 60_000]);
    assert_eq!(dec.decode_request(&mut buf), Ok(None));
    assert!(dec.in_request());
    assert_eq!(dec.query_buffer_len(&buf), 60_000);
    assert!(!dec.over_query_buffer_limit(&buf));
    buf.put_slice(&[b'x'; 50_000]);
    assert_eq!(dec.query_buffer_len(&buf), 110_000);
    assert!(dec.over_query_buffer_limit(&buf));
}

// ---------------------------------------------------------------------------------------------
// FrameDecoder

fn frames_of(run: &Run<Decoded>) -> Vec<Frame> {
    run.items.iter().map(|d| d.frame.clone()).collect()
}

fn bs(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

#[test]
fn frame_decoder_reads_every_type() {
    let table: Vec<(&[u8], Frame)> = vec![
        (b"+OK\r\n", Frame::OK),
        (b"-ERR bad\r\n", Frame::Error(bs(b"ERR bad"))),
        (b"!7\r\nERR bad\r\n", Frame::Error(bs(b"ERR bad"))),
        (b":-12\r\n", Frame::Integer(-12)),
        (b"$3\r\na\rb\r\n", Frame::Bulk(bs(b"a\rb"))),
        (b"$0\r\n\r\n", Frame::Bulk(bs(b""))),
        (b"$-1\r\n", Frame::Null),
        (b"*-1\r\n", Frame::NullArray),
        (b"*0\r\n", Frame::Array(vec![])),
        (b"_\r\n", Frame::Null),
        (b",1.5\r\n", Frame::Double(1.5)),
        (b",-inf\r\n", Frame::Double(f64::NEG_INFINITY)),
        (b",1e+20\r\n", Frame::Double(1e20)),
        (b"#t\r\n", Frame::Boolean(true)),
        (b"#f\r\n", Frame::Boolean(false)),
        (
            b"(-123456789012345678901234567890\r\n",
            Frame::BigNumber(bs(b"-123456789012345678901234567890")),
        ),
        (
            b"=9\r\ntxt:hello\r\n",
            Frame::Verbatim {
                format: *b"txt",
                text: bs(b"hello"),
            },
        ),
        (
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            Frame::Array(vec![
                Frame::Bulk(bs(b"a")),
                Frame::Array(vec![Frame::Integer(1)]),
            ]),
        ),
        (
            b"%2\r\n+a\r\n:1\r\n+b\r\n%0\r\n",
            Frame::Map(vec![
                (Frame::simple("a"), Frame::Integer(1)),
                (Frame::simple("b"), Frame::Map(vec![])),
            ]),
        ),
        (
            b"~2\r\n:1\r\n:2\r\n",
            Frame::Set(vec![Frame::Integer(1), Frame::Integer(2)]),
        ),
        (
            b">2\r\n+message\r\n_\r\n",
            Frame::Push(vec![Frame::simple("message"), Frame::Null]),
        ),
        // Attributes are read and dropped, at the top and inside aggregates.
        (b"|1\r\n+ttl\r\n:3\r\n:7\r\n", Frame::Integer(7)),
        (
            b"*2\r\n|1\r\n+a\r\n*1\r\n:0\r\n:1\r\n:2\r\n",
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
        ),
        (b"|0\r\n+OK\r\n", Frame::OK),
    ];
    for (input, want) in table {
        let got = assert_split_invariant(FrameDecoder::default, input);
        assert_eq!(got.error, None, "{:?}", show(input));
        assert_eq!(frames_of(&got), vec![want], "{:?}", show(input));
        assert_eq!(got.items[0].wire_len, input.len());
    }
}

#[test]
fn frame_decoder_refuses_malformed_replies() {
    use ProtoError::*;
    let table: &[(&[u8], ProtoError)] = &[
        (b"?x\r\n", UnknownType(b'?')),
        (b"\r\n", UnknownType(b'\r')),
        (b":1.5\r\n", InvalidInteger),
        (b":\r\n", InvalidInteger),
        (b",abc\r\n", InvalidDouble),
        (b"#x\r\n", InvalidBoolean),
        (b"_x\r\n", InvalidNull),
        (b"(12a\r\n", InvalidBigNumber),
        (b"(\r\n", InvalidBigNumber),
        (b"=3\r\ntxt\r\n", InvalidVerbatim),
        (b"=4\r\ntxt-\r\n", InvalidVerbatim),
        (b"$-2\r\n", InvalidBulkLength),
        (b"$?\r\n", InvalidBulkLength),
        (b"=-1\r\n", InvalidBulkLength),
        (b"*-2\r\n", InvalidMultibulkLength),
        (b"%-1\r\n", InvalidMultibulkLength),
        (b"*2147483648\r\n", InvalidMultibulkLength),
        (b"$536870913\r\n", InvalidBulkLength),
        (b"+OK\rx", ExpectedCrlf),
        (b"$2\r\nabcd", ExpectedCrlf),
    ];
    for (input, error) in table {
        let got = assert_split_invariant(FrameDecoder::default, input);
        assert_eq!(got.error.as_ref(), Some(error), "{:?}", show(input));
    }
}

#[test]
fn frame_decoder_limits_lines_and_depth() {
    let long = [b"+".to_vec(), vec![b'a'; 70_000], b"\r\n".to_vec()].concat();
    assert_eq!(
        run_whole(FrameDecoder::default(), &long).error,
        Some(ProtoError::LineTooLong)
    );
    let long = [b"*".to_vec(), vec![b'1'; 70_000]].concat();
    assert_eq!(
        run_whole(FrameDecoder::default(), &long).error,
        Some(ProtoError::TooBigMultibulkCount)
    );
    let deep = b"*1\r\n".repeat(FrameDecoder::MAX_DEPTH + 1);
    assert_eq!(
        run_whole(FrameDecoder::default(), &deep).error,
        Some(ProtoError::NestingTooDeep)
    );
    let ok = [
        b"*1\r\n".repeat(FrameDecoder::MAX_DEPTH),
        b":1\r\n".to_vec(),
    ]
    .concat();
    let got = run_whole(FrameDecoder::default(), &ok);
    assert_eq!(got.error, None);
    assert_eq!(got.items.len(), 1);
}

#[test]
fn frame_decoder_splits_a_mixed_stream() {
    let input: &[u8] = b"+OK\r\n|1\r\n+k\r\n+v\r\n%1\r\n$1\r\nk\r\n*3\r\n:1\r\n,0.5\r\n$-1\r\n\
>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$20\r\n01234567890123456789\r\n_\r\n";
    for big_arg in [8, BIG_ARG] {
        let make = || FrameDecoder {
            big_arg,
            ..FrameDecoder::default()
        };
        let got = assert_split_invariant(make, input);
        assert_eq!(got.error, None);
        assert_eq!(got.items.len(), 4);
        assert_eq!(
            got.items.iter().map(|d| d.wire_len).sum::<usize>(),
            input.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Proptests

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        arb_bytes(20).prop_map(Frame::Simple),
        arb_bytes(20).prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        arb_bytes(40).prop_map(Frame::Bulk),
        Just(Frame::Null),
        Just(Frame::NullArray),
        any::<f64>().prop_map(Frame::Double),
        prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(-0.0)]
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        ("-?[0-9]{1,40}").prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        (prop::array::uniform3(any::<u8>()), arb_bytes(20))
            .prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
        ]
    })
}

/// A simple string or error after the encoder made it one line.
fn one_line(b: &Bytes) -> Bytes {
    b.iter()
        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
        .collect()
}

/// What a RESP3 round trip gives: the same frame, except that both nulls are `_`.
fn resp3_expected(f: &Frame) -> Frame {
    let all = |v: &[Frame]| v.iter().map(resp3_expected).collect();
    match f {
        Frame::Simple(s) => Frame::Simple(one_line(s)),
        Frame::Error(e) => Frame::Error(one_line(e)),
        Frame::NullArray => Frame::Null,
        Frame::Array(v) => Frame::Array(all(v)),
        Frame::Set(v) => Frame::Set(all(v)),
        Frame::Push(v) => Frame::Push(all(v)),
        Frame::Map(v) => Frame::Map(
            v.iter()
                .map(|(k, v)| (resp3_expected(k), resp3_expected(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a RESP2 round trip gives: the downgrade table of `frame.rs`.
fn resp2_expected(f: &Frame) -> Frame {
    let all = |v: &[Frame]| Frame::Array(v.iter().map(resp2_expected).collect());
    match f {
        Frame::Simple(s) => Frame::Simple(one_line(s)),
        Frame::Error(e) => Frame::Error(one_line(e)),
        Frame::Double(d) => Frame::Bulk(format_double(*d)),
        Frame::Boolean(b) => Frame::Integer(i64::from(*b)),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => all(v),
        Frame::Map(v) => Frame::Array(
            v.iter()
                .flat_map(|(k, v)| [resp2_expected(k), resp2_expected(v)])
                .collect(),
        ),
        Frame::BigNumber(n) => Frame::Bulk(n.clone()),
        Frame::Verbatim { text, .. } => Frame::Bulk(text.clone()),
        other => other.clone(),
    }
}

/// Splits `input` at the given cut points (taken modulo its length).
fn chunked<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for p in points {
        out.push(&input[at..p]);
        at = p;
    }
    out.push(&input[at..]);
    out
}

/// Header lines and values for the arbitrary-input test...
const FUZZ_LINES: &[&[u8]] = &[
    b"*1\r\n",
    b"*3\r\n",
    b"*2147483647\r\n",
    b"*-1\r\n",
    b"*0\r\n",
    b"$3\r\n",
    b"$-1\r\n",
    b"$536870912\r\n",
    b"$1000000\r\n",
    b"$40000\r\n",
    b"%2\r\n",
    b"~1\r\n",
    b">2\r\n",
    b"|1\r\n",
    b"=8\r\n",
    b"=1000000\r\n",
    b"!3\r\n",
    b"+OK\r\n",
    b":12\r\n",
    b",1.5\r\n",
    b"#t\r\n",
    b"(12\r\n",
    b"_\r\n",
    b"SET a b\r\n",
    b"\r\n",
    b"abc",
    b"txt:abcd\r\n",
];

/// Pieces of requests, mostly valid, for comparing the fast path with the state machine.
const REQUEST_TOKENS: &[&[u8]] = &[
    b"*1\r\n",
    b"*2\r\n",
    b"*3\r\n",
    b"*0\r\n",
    b"*-1\r\n",
    b"*01\r\n",
    b"$0\r\n\r\n",
    b"$3\r\nabc\r\n",
    b"$4\r\nPING\r\n",
    b"$5\r\nabcde\r\n",
    b"$9\r\n123456789\r\n",
    b"$4\r\n",
    b"$-1\r\n",
    b"$04\r\n",
    b"$999999999999999999\r\n",
    b"$1000000000000000000\r\n",
    b"PING\r\n",
    b"\r\n",
    b"$",
    b"*",
    b"1",
    b"0",
    b"\r",
    b"\n",
    b"x",
];

/// ...and single bytes that break them anywhere.
const FUZZ_BYTES: &[&[u8]] = &[
    b"*", b"$", b"%", b"=", b"+", b":", b"-", b"1", b"9", b"\r", b"\n", b" ", b"\"", b"'", b"\\",
    b"\0", b"\xff",
];

proptest! {
    // XorShift: the default ChaCha generator dominates these tests' time in debug builds.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    #[test]
    fn frames_round_trip(frames in prop::collection::vec(arb_frame(), 1..4),
                         cuts in prop::collection::vec(any::<usize>(), 0..4)) {
        for proto in [Protocol::Resp3, Protocol::Resp2] {
            let mut wire = BytesMut::new();
            let mut lens = Vec::new();
            for f in &frames {
                let before = wire.len();
                encode(f, proto, &mut wire);
                lens.push(wire.len() - before);
            }
            let got = run(&mut FrameDecoder::default(), &chunked(&wire, &cuts));
            prop_assert_eq!(&got.error, &None);
            prop_assert_eq!(got.left, 0);
            let want: Vec<Frame> = frames.iter().map(|f| match proto {
                Protocol::Resp3 => resp3_expected(f),
                Protocol::Resp2 => resp2_expected(f),
            }).collect();
            // Debug text compares NaN equal to NaN and tells -0.0 from 0.0.
            prop_assert_eq!(format!("{:?}", frames_of(&got)), format!("{want:?}"));
            prop_assert_eq!(got.items.iter().map(|d| d.wire_len).collect::<Vec<_>>(), lens);
        }
    }

    #[test]
    fn commands_round_trip(cmds in prop::collection::vec(
                               prop::collection::vec(arb_bytes(64), 1..6), 1..5),
                           cuts in prop::collection::vec(any::<usize>(), 0..4),
                           big_arg in prop_oneof![Just(4usize), Just(BIG_ARG)]) {
        let mut wire = BytesMut::new();
        let mut lens = Vec::new();
        for argv in &cmds {
            let before = wire.len();
            encode_command(argv, &mut wire);
            lens.push(wire.len() - before);
        }
        let mut dec = RequestDecoder {
            big_arg,
            ..RequestDecoder::default()
        };
        let got = run(&mut dec, &chunked(&wire, &cuts));
        prop_assert_eq!(&got.error, &None);
        let argv: Vec<Vec<Bytes>> = got.items.iter().map(|r| r.argv.clone()).collect();
        prop_assert_eq!(argv, cmds);
        prop_assert_eq!(got.items.iter().map(|r| r.wire_len).collect::<Vec<_>>(), lens);
    }

    #[test]
    fn quoted_inline_args_round_trip(argv in prop::collection::vec(arb_bytes(16), 1..6),
                                     single in any::<bool>()) {
        // Double quotes with every byte as \xHH, or single quotes over bytes that need no escape.
        let mut line = Vec::new();
        for arg in &argv {
            if single && arg.iter().all(|&b| !matches!(b, b'\'' | b'\\' | b'\n')) {
                line.push(b'\'');
                line.extend_from_slice(arg);
                line.push(b'\'');
            } else {
                line.push(b'"');
                for b in arg.iter() {
                    line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                }
                line.push(b'"');
            }
            line.push(b' ');
        }
        line.extend_from_slice(b"\r\n");
        let got = run_whole(RequestDecoder::default(), &line);
        prop_assert_eq!(&got.error, &None);
        prop_assert_eq!(got.items.len(), 1);
        prop_assert_eq!(&got.items[0].argv, &argv);
        prop_assert_eq!(got.items[0].wire_len, line.len());
    }

    #[test]
    fn near_valid_requests_decode_the_same_however_split(
        tokens in prop::collection::vec(prop::sample::select(REQUEST_TOKENS), 0..40),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        config in 0usize..5,
    ) {
        let input: Vec<u8> = tokens.concat();
        let make = fast_path_configs()[config];
        let whole = run(&mut make(), &[&input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&run(&mut make(), &bytes), &whole, "byte by byte: {:?}", show(&input));
        prop_assert_eq!(&run(&mut make(), &chunked(&input, &cuts)), &whole, "cut: {:?}", show(&input));
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_overallocate(
        tokens in prop::collection::vec(prop_oneof![
            // Mostly whole lines, so inputs get deep into the state machine.
            3 => prop::sample::select(FUZZ_LINES),
            1 => prop::sample::select(FUZZ_BYTES),
        ], 0..200),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let input: Vec<u8> = tokens.concat();
        let chunks = chunked(&input, &cuts);
        let bound = |fed: usize| BULK_PREALLOC_CAP + 64 * 1024 + 256 * fed;
        let auth = RequestDecoder {
            auth_required: true,
            ..RequestDecoder::default()
        };
        let small = RequestDecoder {
            big_arg: 4,
            ..RequestDecoder::default()
        };
        let mut requests = [RequestDecoder::default(), auth, RequestDecoder::primary_link(), small];
        for dec in &mut requests {
            check_bounded(dec, &chunks, bound)?;
        }
        let mut frames = FrameDecoder::default();
        check_bounded(&mut frames, &chunks, bound)?;
        let mut small = FrameDecoder {
            big_arg: 4,
            ..FrameDecoder::default()
        };
        check_bounded(&mut small, &chunks, bound)?;
    }
}

/// Feeds `chunks`, checking after every call that the decoder and the read buffer hold no
/// more than `bound(bytes fed so far)`.
fn check_bounded<D: Decode>(
    dec: &mut D,
    chunks: &[&[u8]],
    bound: impl Fn(usize) -> usize,
) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        for _ in 0..=buf.len() {
            let step = dec.step(&mut buf);
            prop_assert!(
                dec.heap() <= bound(fed),
                "decoder holds {} after {fed} bytes",
                dec.heap()
            );
            prop_assert!(
                buf.capacity() <= bound(fed),
                "buffer holds {} after {fed}",
                buf.capacity()
            );
            match step {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    Ok(())
}
