//! Round trips through `RdbWriter` and `RdbReader`, captured Redis bytes, legacy encodings and
//! bad input. (Blob formats have their own tests beside their code.)

use std::io::{BufReader, Read};

use bytes::Bytes;
use proptest::prelude::*;

use super::consts::types;
use super::crc::crc64;
use super::ziplist::build;
use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn opts() -> WriterOptions {
    WriterOptions {
        ctime: 1_700_000_000,
        used_mem: 123_456,
        ..WriterOptions::default()
    }
}

/// Every encoding with a few size classes: (key, value, encoding, meta).
fn sample_keyspace() -> Vec<(Bytes, RdbValue, ValueEncoding, KeyMeta)> {
    let none = KeyMeta::default();
    let big_list: Vec<Bytes> = (0..5000)
        .map(|i| Bytes::from(format!("element-{i}")))
        .collect();
    let mut out = vec![
        (
            b("s-empty"),
            RdbValue::String(Bytes::new()),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-int8"),
            RdbValue::String(b("-5")),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-int16"),
            RdbValue::String(b("12345")),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-int32"),
            RdbValue::String(b("2147483647")),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-big"),
            RdbValue::String(b("9999999999")),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-lead0"),
            RdbValue::String(b("007")),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-lzf"),
            RdbValue::String(Bytes::from(vec![b'a'; 100])),
            ValueEncoding::String,
            none,
        ),
        (
            b("s-64k"),
            RdbValue::String(Bytes::from(
                (0..70_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
            )),
            ValueEncoding::String,
            KeyMeta {
                expire_ms: Some(4_102_444_800_000),
                lru_idle: None,
                lfu_freq: None,
            },
        ),
        (
            b("l-small"),
            RdbValue::List(vec![b("a"), b("b"), b("c"), b("1"), b("2")]),
            ValueEncoding::ListQuicklist2,
            KeyMeta {
                expire_ms: None,
                lru_idle: Some(77),
                lfu_freq: None,
            },
        ),
        (
            b("l-big"),
            RdbValue::List(big_list),
            ValueEncoding::ListQuicklist2,
            none,
        ),
        (
            b("l-huge-elems"),
            RdbValue::List(vec![
                Bytes::from(vec![b'x'; 9000]),
                b(""),
                Bytes::from(vec![b'y'; 5000]),
            ]),
            ValueEncoding::ListQuicklist2,
            KeyMeta {
                expire_ms: None,
                lru_idle: None,
                lfu_freq: Some(5),
            },
        ),
        (
            b("set-i16"),
            RdbValue::Set(vec![b("1"), b("3"), b("5")]),
            ValueEncoding::SetIntset,
            none,
        ),
        (
            b("set-i64"),
            RdbValue::Set(vec![b("-9223372036854775808"), b("7")]),
            ValueEncoding::SetIntset,
            none,
        ),
        (
            b("set-ht"),
            RdbValue::Set(vec![b("x"), b("y"), b("1")]),
            ValueEncoding::SetHashtable,
            none,
        ),
        (
            b("z-lp"),
            RdbValue::SortedSet(vec![
                (b("a"), 1.5),
                (b("b"), 2.0),
                (b("c"), f64::INFINITY),
                (b("d"), -0.25),
            ]),
            ValueEncoding::ZsetListpack,
            none,
        ),
        (
            b("z-sl"),
            RdbValue::SortedSet(
                (0..300)
                    .map(|i| (Bytes::from(format!("m{i}")), f64::from(i) / 3.0))
                    .collect(),
            ),
            ValueEncoding::ZsetSkiplist,
            none,
        ),
        (
            b("h-lp"),
            RdbValue::Hash(vec![
                (b("f"), b("v")),
                (b("n"), b("5")),
                (b("neg"), b("-70000")),
            ]),
            ValueEncoding::HashListpack,
            none,
        ),
        (
            b("h-ht"),
            RdbValue::Hash(
                (0..200)
                    .map(|i| (Bytes::from(format!("f{i}")), Bytes::from(format!("{i}"))))
                    .collect(),
            ),
            ValueEncoding::HashHashtable,
            KeyMeta {
                expire_ms: Some(1),
                lru_idle: None,
                lfu_freq: None,
            },
        ),
    ];
    out.push((
        Bytes::from(vec![0u8, 255, 10]),
        RdbValue::String(b("binary key")),
        ValueEncoding::String,
        none,
    ));
    out
}

fn write_file(keys: &[(Bytes, RdbValue, ValueEncoding, KeyMeta)], o: &WriterOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), o).unwrap();
    let expires = keys.iter().filter(|k| k.3.expire_ms.is_some()).count() as u64;
    w.select_db(0, keys.len() as u64, expires).unwrap();
    for (k, v, e, m) in keys {
        w.write_entry(k, m, v, *e).unwrap();
    }
    w.finish().unwrap()
}

fn read_all<R: std::io::BufRead>(r: R) -> Result<Vec<RdbItem>, RdbError> {
    RdbReader::new(r)?.collect()
}

/// Normalizes what the writer may reorder (sets are sorted, zsets sorted) for comparison.
fn normalized(v: &RdbValue) -> RdbValue {
    match v {
        RdbValue::Set(m) => {
            let mut m = m.clone();
            m.sort();
            RdbValue::Set(m)
        }
        RdbValue::SortedSet(e) => {
            let mut e = e.clone();
            e.sort_by(|a, b| a.0.cmp(&b.0));
            RdbValue::SortedSet(e)
        }
        other => other.clone(),
    }
}

fn entries(items: &[RdbItem]) -> Vec<&RdbEntry> {
    items
        .iter()
        .filter_map(|i| match i {
            RdbItem::Entry(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn every_encoding_roundtrips() {
    let keys = sample_keyspace();
    for compression in [true, false] {
        for checksum in [true, false] {
            let o = WriterOptions {
                compression,
                checksum,
                ..opts()
            };
            let file = write_file(&keys, &o);
            let items = read_all(file.as_slice()).unwrap();
            let got = entries(&items);
            assert_eq!(got.len(), keys.len());
            for ((k, v, e, m), entry) in keys.iter().zip(got) {
                assert_eq!(&entry.key, k);
                assert_eq!(normalized(&entry.value), normalized(v), "key {k:?}");
                assert_eq!(entry.rdb_type, e.type_byte());
                assert_eq!(&entry.meta, m);
            }
            let expected = if checksum {
                Checksum::Verified(crc64(&file[..file.len() - 8]))
            } else {
                Checksum::Disabled
            };
            assert_eq!(items.last(), Some(&RdbItem::Eof(expected)));
        }
    }
}

#[test]
fn header_matches_redis_7_0() {
    let o = WriterOptions {
        repl: Some(ReplAux {
            stream_db: 0,
            repl_id: b("8371b4fb1155b71f4a04d3e1bc3e18c4a990aeea"),
            offset: 0,
        }),
        ..opts()
    };
    let file = write_file(&[], &o);
    let mut expect = b"REDIS0010".to_vec();
    expect.extend_from_slice(b"\xFA\x09redis-ver\x067.0.15\xFA\x0Aredis-bits\xC0\x40");
    expect.extend_from_slice(b"\xFA\x05ctime\xC2");
    expect.extend_from_slice(&1_700_000_000i32.to_le_bytes());
    expect.extend_from_slice(b"\xFA\x08used-mem\xC2");
    expect.extend_from_slice(&123_456i32.to_le_bytes());
    expect.extend_from_slice(b"\xFA\x0Erepl-stream-db\xC0\x00\xFA\x07repl-id\x28");
    expect.extend_from_slice(b"8371b4fb1155b71f4a04d3e1bc3e18c4a990aeea");
    expect.extend_from_slice(b"\xFA\x0Brepl-offset\xC0\x00\xFA\x08aof-base\xC0\x00");
    expect.extend_from_slice(b"\xFE\x00\xFB\x00\x00\xFF");
    assert_eq!(&file[..file.len() - 8], &expect[..]);
    assert_eq!(file[file.len() - 8..], crc64(&expect).to_le_bytes());

    let items = read_all(file.as_slice()).unwrap();
    assert_eq!(
        items[0],
        RdbItem::Aux {
            key: b("redis-ver"),
            value: b("7.0.15")
        }
    );
    assert_eq!(
        items[1],
        RdbItem::Aux {
            key: b("redis-bits"),
            value: b("64")
        }
    );
    assert_eq!(
        items[2],
        RdbItem::Aux {
            key: b("ctime"),
            value: b("1700000000")
        }
    );
    assert!(items.contains(&RdbItem::SelectDb(0)));
    assert!(items.contains(&RdbItem::ResizeDb {
        db_size: 0,
        expires_size: 0
    }));
}

/// Builds a file from raw entry bytes: magic, body, EOF and (version >= 5) checksum.
fn raw_file(version: &str, body: &[u8]) -> Vec<u8> {
    let mut f = format!("REDIS{version}").into_bytes();
    f.extend_from_slice(body);
    f.push(0xFF);
    if version >= "0005" {
        let crc = crc64(&f);
        f.extend_from_slice(&crc.to_le_bytes());
    }
    f
}

fn single_value(file: &[u8]) -> RdbValue {
    let items = read_all(file).unwrap();
    entries(&items)[0].value.clone()
}

#[test]
fn captured_redis_values_decode_and_encode_identically() {
    // From shared/reference/rdb.md §15 (Redis 7.0.15 SAVE).
    let cases: Vec<(&[u8], RdbValue, ValueEncoding)> = vec![
        (b"\x00\x04sint\xC1\x39\x30", RdbValue::String(b("12345")), ValueEncoding::String),
        (b"\x00\x04sneg\xC0\xFE", RdbValue::String(b("-2")), ValueEncoding::String),
        (b"\x00\x04sbig\x0A9999999999", RdbValue::String(b("9999999999")), ValueEncoding::String),
        (
            b"\x05\x02zs\x02\x01b\x00\x00\x00\x00\x00\x00\x00\x40\x01a\x00\x00\x00\x00\x00\x00\xF8\x3F",
            RdbValue::SortedSet(vec![(b("b"), 2.0), (b("a"), 1.5)]),
            ValueEncoding::ZsetSkiplist,
        ),
        (
            b"\x11\x02zl\x14\x14\x00\x00\x00\x04\x00\x81a\x02\x831.5\x04\x81b\x02\x02\x01\xFF",
            RdbValue::SortedSet(vec![(b("a"), 1.5), (b("b"), 2.0)]),
            ValueEncoding::ZsetListpack,
        ),
        (
            b"\x10\x02hl\x12\x12\x00\x00\x00\x04\x00\x81f\x02\x81v\x02\x81n\x02\x05\x01\xFF",
            RdbValue::Hash(vec![(b("f"), b("v")), (b("n"), b("5"))]),
            ValueEncoding::HashListpack,
        ),
        (
            b"\x0B\x02si\x0E\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x03\x00\x05\x00",
            RdbValue::Set(vec![b("1"), b("3"), b("5")]),
            ValueEncoding::SetIntset,
        ),
        (
            b"\x12\x06mylist\x01\x02\x14\x14\x00\x00\x00\x05\x00\x81a\x02\x81b\x02\x81c\x02\x01\x01\x02\x01\xFF",
            RdbValue::List(vec![b("a"), b("b"), b("c"), b("1"), b("2")]),
            ValueEncoding::ListQuicklist2,
        ),
        (
            b"\x00\x04slzf\xC3\x09\x40\x64\x01\x61\x61\xE0\x57\x00\x01\x61\x61",
            RdbValue::String(Bytes::from(vec![b'a'; 100])),
            ValueEncoding::String,
        ),
    ];
    for (bytes, value, encoding) in cases {
        assert_eq!(single_value(&raw_file("0010", bytes)), value, "{bytes:?}");
        if bytes[1] == 4 && &bytes[2..6] == b"slzf" {
            continue; // our LZF output differs from liblzf's (both valid)
        }
        let key_len = usize::from(bytes[1]);
        let key = &bytes[2..2 + key_len];
        let mut w = RdbWriter::new(Vec::new(), &opts()).unwrap();
        let start = w.offset() as usize;
        w.write_entry(key, &KeyMeta::default(), &value, encoding)
            .unwrap();
        let file = w.finish().unwrap();
        assert_eq!(&file[start..file.len() - 9], bytes, "{value:?}");
    }
}

#[test]
fn legacy_encodings_decode() {
    let mut body = Vec::new();
    // type 1 list of strings, with a legacy 4-byte EXPIRETIME before it
    body.extend_from_slice(b"\xFD\x10\x00\x00\x00");
    body.extend_from_slice(b"\x01\x02ll\x02\x01a\xC0\x07");
    // type 3 zset with text scores, incl. the +inf/-inf markers
    body.extend_from_slice(b"\x03\x02z3\x03\x01a\x031.5\x01b\xFE\x01c\xFF");
    // type 9 zipmap hash
    let zm = build::zipmap(&[(b"f1", b"v1"), (b"f2", b"12")]);
    body.extend_from_slice(b"\x09\x02zm");
    body.push(zm.len() as u8);
    body.extend_from_slice(&zm);
    // type 10 ziplist list
    let zl = build::ziplist(&[b"x", b"-3", b"300000"]);
    body.extend_from_slice(b"\x0A\x02zl");
    body.push(zl.len() as u8);
    body.extend_from_slice(&zl);
    // type 12 zset ziplist
    let zz = build::ziplist(&[b"m", b"2.5", b"n", b"3"]);
    body.extend_from_slice(b"\x0C\x02zz");
    body.push(zz.len() as u8);
    body.extend_from_slice(&zz);
    // type 13 hash ziplist
    let hz = build::ziplist(&[b"k", b"v"]);
    body.extend_from_slice(b"\x0D\x02hz");
    body.push(hz.len() as u8);
    body.extend_from_slice(&hz);
    // type 14 quicklist of two ziplists, one empty (skipped)
    let q1 = build::ziplist(&[b"q1", b"q2"]);
    let q2 = build::ziplist(&[]);
    body.extend_from_slice(b"\x0E\x02ql\x02");
    body.push(q1.len() as u8);
    body.extend_from_slice(&q1);
    body.push(q2.len() as u8);
    body.extend_from_slice(&q2);

    for version in ["0006", "0003"] {
        let file = raw_file(version, &body);
        let items = read_all(file.as_slice()).unwrap();
        let got: Vec<(Bytes, RdbValue, Option<i64>)> = entries(&items)
            .iter()
            .map(|e| (e.key.clone(), e.value.clone(), e.meta.expire_ms))
            .collect();
        let expect = vec![
            (b("ll"), RdbValue::List(vec![b("a"), b("7")]), Some(16_000)),
            (
                b("z3"),
                RdbValue::SortedSet(vec![
                    (b("a"), 1.5),
                    (b("b"), f64::INFINITY),
                    (b("c"), f64::NEG_INFINITY),
                ]),
                None,
            ),
            (
                b("zm"),
                RdbValue::Hash(vec![(b("f1"), b("v1")), (b("f2"), b("12"))]),
                None,
            ),
            (
                b("zl"),
                RdbValue::List(vec![b("x"), b("-3"), b("300000")]),
                None,
            ),
            (
                b("zz"),
                RdbValue::SortedSet(vec![(b("m"), 2.5), (b("n"), 3.0)]),
                None,
            ),
            (b("hz"), RdbValue::Hash(vec![(b("k"), b("v"))]), None),
            (b("ql"), RdbValue::List(vec![b("q1"), b("q2")]), None),
        ];
        assert_eq!(got, expect);
        let eof = if version == "0003" {
            Checksum::Absent
        } else {
            Checksum::Verified(u64::from_le_bytes(
                file[file.len() - 8..].try_into().unwrap(),
            ))
        };
        assert_eq!(items.last(), Some(&RdbItem::Eof(eof)));
    }
}

fn err_of(file: &[u8]) -> RdbError {
    match read_all(file) {
        Ok(items) => panic!("expected an error, got {items:?}"),
        Err(e) => e,
    }
}

#[test]
fn refused_types_name_themselves_and_their_offset() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x0F\x01k", "a stream"),
        (b"\x13\x01k", "a stream"),
        (b"\x07\x01k", "a module value"),
        (b"\x14\x01k", "a set listpack"),
        (b"\xF5\x01x", "a function library"),
        (b"\xF7\x01", "module aux data"),
    ];
    for (body, name) in cases {
        let e = err_of(&raw_file("0010", body));
        assert_eq!(e.offset(), 9, "{e}");
        assert!(e.to_string().contains(name), "{e}");
        assert!(matches!(e, RdbError::Unsupported { .. }), "{e}");
    }
    let e = err_of(&raw_file("0010", b"\x08\x01k"));
    assert!(
        matches!(e, RdbError::UnknownType { offset: 9, byte: 8 }),
        "{e}"
    );
    let e = err_of(&raw_file("0010", b"\x00\x01k\x01v\x16"));
    assert!(
        matches!(
            e,
            RdbError::UnknownType {
                offset: 14,
                byte: 22
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_headers_are_rejected() {
    assert!(matches!(
        err_of(b"REDIX0010\xFF"),
        RdbError::BadMagic { offset: 0 }
    ));
    assert!(matches!(
        err_of(b"REDIS00a0\xFF"),
        RdbError::BadMagic { offset: 5 }
    ));
    assert!(matches!(
        err_of(b"REDIS0011\xFF"),
        RdbError::UnsupportedVersion { version: 11, .. }
    ));
    assert!(matches!(
        err_of(b"REDIS0000\xFF"),
        RdbError::UnsupportedVersion { version: 0, .. }
    ));
    assert!(matches!(err_of(b"REDIS00"), RdbError::Truncated { .. }));
}

#[test]
fn checksum_mismatch_is_an_error_and_zero_disables_it() {
    let mut file = write_file(&sample_keyspace()[..3], &opts());
    let n = file.len();
    file[n - 1] ^= 1;
    assert!(matches!(err_of(&file), RdbError::Checksum { offset, .. } if offset == n as u64 - 8));
    file[n - 8..].fill(0);
    let items = read_all(file.as_slice()).unwrap();
    assert_eq!(items.last(), Some(&RdbItem::Eof(Checksum::Disabled)));
}

#[test]
fn every_truncation_is_an_error() {
    let file = write_file(&sample_keyspace()[..12], &opts());
    // Every prefix (stepping through the big string quickly).
    let mut cut = 0;
    while cut < file.len() {
        let e = err_of(&file[..cut]);
        assert!(
            matches!(e, RdbError::Truncated { .. } | RdbError::BadMagic { .. }),
            "cut {cut}: {e}"
        );
        assert!(e.offset() <= cut as u64, "cut {cut}: {e}");
        cut += if cut > 300 && cut < file.len() - 300 {
            97
        } else {
            1
        };
    }
}

#[test]
fn absurd_lengths_do_not_allocate() {
    // A string claiming 2^64-1 bytes, a list claiming 2^62 elements, an LZF bomb.
    let cases: Vec<Vec<u8>> = vec![
        b"\x00\x01k\x81\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFFabc".to_vec(),
        b"\x01\x01k\x81\x40\x00\x00\x00\x00\x00\x00\x00\x01a".to_vec(),
        b"\x12\x01k\x81\x40\x00\x00\x00\x00\x00\x00\x00\x02\x03abc".to_vec(),
        b"\x00\x01k\xC3\x02\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00a".to_vec(),
        b"\x00\x01k\xC3\x02\x80\x7F\xFF\xFF\xFF\x00a".to_vec(),
    ];
    for body in cases {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(&body);
        let e = err_of(&file);
        assert!(
            matches!(
                e,
                RdbError::Truncated { .. } | RdbError::Invalid { .. } | RdbError::Blob { .. }
            ),
            "{e}"
        );
    }
}

#[test]
fn invalid_values_are_rejected_with_offsets() {
    let cases: &[(&[u8], u64)] = &[
        (b"\x02\x01k\x02\x01a\x01a", 9),           // duplicate set member
        (b"\x04\x01k\x02\x01f\x01v\x01f\x01w", 9), // duplicate hash field
        (b"\x05\x01k\x01\x01a\x00\x00\x00\x00\x00\x00\xF8\x7F", 15), // NaN score
        (b"\x03\x01k\x01\x01a\xFD", 15),           // legacy NaN marker
        (b"\x12\x01k\x01\x03\x01a", 13),           // bad container
        (b"\x00\x01k\xC5", 12),                    // bad string encoding
        (b"\x00\x01k\x85", 12),                    // bad length encoding
        (b"\x0B\x01k\x02\x00\x00", 12),            // intset too short
    ];
    for (body, offset) in cases {
        let e = err_of(&raw_file("0010", body));
        assert_eq!(e.offset(), *offset, "{body:?}: {e}");
    }
}

#[test]
fn reader_stops_right_after_the_checksum() {
    let mut file = write_file(&sample_keyspace()[..5], &opts());
    let len = file.len();
    file.extend_from_slice(b"+PING\r\n");
    let mut reader = RdbReader::new(BufReader::with_capacity(7, file.as_slice())).unwrap();
    while let Some(item) = reader.next_item().unwrap() {
        if matches!(item, RdbItem::Eof(_)) {
            assert_eq!(reader.offset(), len as u64);
        }
    }
    let mut rest = String::new();
    reader.into_inner().read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "+PING\r\n");
}

#[test]
fn dump_payloads_roundtrip() {
    for (_, value, encoding, _) in sample_keyspace() {
        for compression in [true, false] {
            let payload = dump_payload(&value, encoding, compression).unwrap();
            let n = payload.len();
            assert_eq!(payload[0], encoding.type_byte());
            assert_eq!(payload[n - 10..n - 8], [10, 0]);
            assert_eq!(
                normalized(&parse_dump_payload(&payload).unwrap()),
                normalized(&value)
            );
        }
    }
}

#[test]
fn dump_payload_footer_errors() {
    let payload = dump_payload(&RdbValue::String(b("hello")), ValueEncoding::String, true).unwrap();
    let mut bad_crc = payload.to_vec();
    *bad_crc.last_mut().unwrap() ^= 0x40;
    let e = parse_dump_payload(&bad_crc).unwrap_err();
    assert!(
        e.is_dump_footer_error() && matches!(e, RdbError::DumpChecksum { .. }),
        "{e}"
    );
    let mut newer = payload[..payload.len() - 8].to_vec();
    newer[payload.len() - 10] = 11;
    let crc = crc64(&newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        parse_dump_payload(&newer).unwrap_err(),
        RdbError::DumpVersion { version: 11, .. }
    ));
    assert!(parse_dump_payload(b"short")
        .unwrap_err()
        .is_dump_footer_error());
    // Valid footer, corrupt body: not a footer error ("Bad data format").
    let mut body = b"\x00\x05hel".to_vec();
    body.extend_from_slice(&[10, 0]);
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let e = parse_dump_payload(&body).unwrap_err();
    assert!(!e.is_dump_footer_error(), "{e}");
    // Trailing bytes after the value.
    let mut body = b"\x00\x01ab".to_vec();
    body.extend_from_slice(&[10, 0]);
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        parse_dump_payload(&body).unwrap_err(),
        RdbError::Invalid { offset: 3, .. }
    ));
}

#[test]
fn writer_refuses_what_redis_cannot_load() {
    let mut w = RdbWriter::new(Vec::new(), &opts()).unwrap();
    let m = KeyMeta::default();
    assert!(w
        .write_entry(
            b"k",
            &m,
            &RdbValue::List(vec![]),
            ValueEncoding::ListQuicklist2
        )
        .is_err());
    assert!(w
        .write_entry(
            b"k",
            &m,
            &RdbValue::Set(vec![b("a")]),
            ValueEncoding::SetIntset
        )
        .is_err());
    assert!(w
        .write_entry(
            b"k",
            &m,
            &RdbValue::String(b("a")),
            ValueEncoding::HashListpack
        )
        .is_err());
    let nan = RdbValue::SortedSet(vec![(b("a"), f64::NAN)]);
    assert!(w
        .write_entry(b"k", &m, &nan, ValueEncoding::ZsetListpack)
        .is_err());
    assert!(w
        .write_entry(b"k", &m, &nan, ValueEncoding::ZsetSkiplist)
        .is_err());
}

#[test]
fn typed_writers_match_write_entry() {
    let m = KeyMeta {
        expire_ms: Some(5),
        ..KeyMeta::default()
    };
    let mut w = RdbWriter::new(Vec::new(), &opts()).unwrap();
    w.write_string(b"s", &m, b"v").unwrap();
    w.write_list(b"l", &m, [b"a".as_slice(), b"b"]).unwrap();
    w.write_set_intset(b"i", &m, &[5, -1, 5, 3]).unwrap();
    w.write_set(b"t", &m, [b"x".as_slice()]).unwrap();
    w.write_zset_listpack(
        b"zl",
        &m,
        [(b"b".as_slice(), 2.0), (b"a", 2.0), (b"c", -1.0)],
    )
    .unwrap();
    w.write_zset_skiplist(b"zs", &m, [(b"b".as_slice(), 2.0)])
        .unwrap();
    w.write_hash_listpack(b"hl", &m, [(b"f".as_slice(), b"v".as_slice())])
        .unwrap();
    w.write_hash(b"hh", &m, [(b"f".as_slice(), b"v".as_slice())])
        .unwrap();
    let file = w.finish().unwrap();
    let items = read_all(file.as_slice()).unwrap();
    let got: Vec<(Bytes, RdbValue)> = entries(&items)
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (b("s"), RdbValue::String(b("v"))),
            (b("l"), RdbValue::List(vec![b("a"), b("b")])),
            (b("i"), RdbValue::Set(vec![b("-1"), b("3"), b("5")])),
            (b("t"), RdbValue::Set(vec![b("x")])),
            (
                b("zl"),
                RdbValue::SortedSet(vec![(b("c"), -1.0), (b("a"), 2.0), (b("b"), 2.0)])
            ),
            (b("zs"), RdbValue::SortedSet(vec![(b("b"), 2.0)])),
            (b("hl"), RdbValue::Hash(vec![(b("f"), b("v"))])),
            (b("hh"), RdbValue::Hash(vec![(b("f"), b("v"))])),
        ]
    );
}

#[test]
fn quicklist_nodes_stay_within_8kb() {
    let items: Vec<Bytes> = (0..3000)
        .map(|i| Bytes::from(format!("value-{i:05}")))
        .collect();
    let mut w = RdbWriter::new(
        Vec::new(),
        &WriterOptions {
            compression: false,
            ..opts()
        },
    )
    .unwrap();
    let start = w.offset() as usize;
    w.write_list(b"l", &KeyMeta::default(), &items).unwrap();
    let file = w.finish().unwrap();
    // 1 (header) + 11 + 1 (backlen) = 13 bytes an item: (8192 - 7) / 13 = 629 per node.
    // Layout after the type byte and key: node count, container, 14-bit blob length, blob.
    let body = &file[start + 3..];
    assert_eq!(usize::from(body[0]), 3000usize.div_ceil(629));
    assert_eq!(body[1], 2);
    let node_len = (usize::from(body[2] & 0x3F) << 8) | usize::from(body[3]);
    assert!(node_len <= 8192 && node_len > 8192 - 13, "{node_len}");
}

/// Random bytes after a valid header, and random single-bit flips of a valid file.
#[test]
fn bit_flips_never_panic_and_are_detected() {
    let small: Vec<_> = sample_keyspace()
        .into_iter()
        .filter(|k| !matches!(&k.0[..], b"s-64k" | b"l-big" | b"z-sl" | b"h-ht"))
        .collect();
    let file = write_file(&small, &opts());
    let step = (file.len() / 1500).max(1);
    for pos in (0..file.len()).step_by(step) {
        for bit in [0, 3, 7] {
            let mut f = file.clone();
            f[pos] ^= 1 << bit;
            // With the checksum on, no flip may go unnoticed.
            assert!(
                read_all(f.as_slice()).is_err(),
                "flip at {pos} bit {bit} undetected"
            );
        }
    }
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        any::<i64>().prop_map(|v| Bytes::from(v.to_string())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
        (0usize..3000, any::<u8>()).prop_map(|(n, c)| Bytes::from(vec![c; n])),
    ]
}

fn arb_value() -> impl Strategy<Value = (RdbValue, ValueEncoding)> {
    let uniq = |v: Vec<Bytes>| {
        let mut v = v;
        v.sort();
        v.dedup();
        v
    };
    prop_oneof![
        arb_bytes().prop_map(|s| (RdbValue::String(s), ValueEncoding::String)),
        proptest::collection::vec(arb_bytes(), 1..200)
            .prop_map(|v| (RdbValue::List(v), ValueEncoding::ListQuicklist2)),
        proptest::collection::vec(any::<i64>(), 1..100).prop_map(|v| {
            let mut v = v;
            v.sort_unstable();
            v.dedup();
            (
                RdbValue::Set(v.iter().map(|i| Bytes::from(i.to_string())).collect()),
                ValueEncoding::SetIntset,
            )
        }),
        proptest::collection::vec(arb_bytes(), 1..50)
            .prop_map(move |v| (RdbValue::Set(uniq(v)), ValueEncoding::SetHashtable)),
        (
            proptest::collection::vec(
                (
                    arb_bytes(),
                    any::<f64>().prop_filter("NaN", |d| !d.is_nan())
                ),
                1..50
            ),
            any::<bool>()
        )
            .prop_map(|(v, lp)| {
                let mut v = v;
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v.dedup_by(|a, b| a.0 == b.0);
                (
                    RdbValue::SortedSet(v),
                    if lp {
                        ValueEncoding::ZsetListpack
                    } else {
                        ValueEncoding::ZsetSkiplist
                    },
                )
            }),
        (
            proptest::collection::vec((arb_bytes(), arb_bytes()), 1..50),
            any::<bool>()
        )
            .prop_map(|(v, lp)| {
                let mut v = v;
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v.dedup_by(|a, b| a.0 == b.0);
                (
                    RdbValue::Hash(v),
                    if lp {
                        ValueEncoding::HashListpack
                    } else {
                        ValueEncoding::HashHashtable
                    },
                )
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_keyspaces_roundtrip(
        values in proptest::collection::vec(arb_value(), 0..12),
        compression in any::<bool>(),
        buf_cap in 1usize..64,
    ) {
        let keys: Vec<_> = values
            .into_iter()
            .enumerate()
            .map(|(i, (v, e))| (Bytes::from(format!("key:{i}")), v, e, KeyMeta::default()))
            .collect();
        let file = write_file(&keys, &WriterOptions { compression, ..opts() });
        // A tiny BufReader exercises every split point of the primitives.
        let items = read_all(BufReader::with_capacity(buf_cap, file.as_slice())).unwrap();
        let got = entries(&items);
        prop_assert_eq!(got.len(), keys.len());
        for ((_, v, _, _), e) in keys.iter().zip(got) {
            prop_assert_eq!(normalized(&e.value), normalized(v));
        }
        for (_, v, e, _) in &keys {
            let p = dump_payload(v, *e, compression).unwrap();
            prop_assert_eq!(normalized(&parse_dump_payload(&p).unwrap()), normalized(v));
        }
    }

    #[test]
    fn random_input_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(&body);
        if let Err(e) = read_all(file.as_slice()) {
            prop_assert!(e.offset() <= file.len() as u64);
        }
        let _ = parse_dump_payload(&body);
    }

    #[test]
    fn mutated_files_without_checksum_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let keys = sample_keyspace();
        let mut file = write_file(&keys[..12], &WriterOptions { checksum: false, ..opts() });
        for (i, v) in flips {
            let i = i.index(file.len());
            file[i] = v;
        }
        match read_all(file.as_slice()) {
            Err(e) => prop_assert!(e.offset() <= file.len() as u64, "{}", e),
            Ok(items) => {
                // Decoded something sane: every entry has a real type and ends with EOF.
                prop_assert!(matches!(items.last(), Some(RdbItem::Eof(_))));
                for e in entries(&items) {
                    prop_assert!(type_name(e.rdb_type).is_some());
                }
            }
        }
    }
}

#[test]
fn type_bytes_are_stable() {
    assert_eq!(
        ValueEncoding::ListQuicklist2.type_byte(),
        types::LIST_QUICKLIST_2
    );
    assert_eq!(type_name(18), Some("quicklist-v2"));
    assert_eq!(type_name(8), None);
}
