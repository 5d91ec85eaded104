//! RESP micro-benchmarks: decoding a pipelined burst of small commands and one large bulk,
//! and encoding a burst of replies. Inputs are built once from a fixed seed.
//!
//! Run: `cargo bench -p ferrokv-proto --bench resp`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferrokv_proto::resp::{encode, encode_command, Frame, Protocol, RequestDecoder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x5EED_0001;

/// 1000 `SET key:<n> <3..64 random bytes>` commands, back to back.
fn set_pipeline(rng: &mut StdRng) -> Bytes {
    let mut out = BytesMut::new();
    for i in 0..1000 {
        let key = format!("key:{:06}", rng.gen_range(0..1_000_000) + i);
        let value: Vec<u8> = (0..rng.gen_range(3..64)).map(|_| rng.gen()).collect();
        encode_command(&[&b"SET"[..], key.as_bytes(), &value], &mut out);
    }
    out.freeze()
}

/// One `SET big <1 MiB of random bytes>`.
fn big_set(rng: &mut StdRng) -> Bytes {
    let value: Vec<u8> = (0..1024 * 1024).map(|_| rng.gen()).collect();
    let mut out = BytesMut::new();
    encode_command(&[&b"SET"[..], b"big", &value], &mut out);
    out.freeze()
}

/// Decodes every request of `input`, fed in reads of `read` bytes; returns how many.
fn decode_all(input: &[u8], read: usize) -> usize {
    let mut dec = RequestDecoder::default();
    let mut buf = BytesMut::with_capacity(read.min(input.len()));
    let mut n = 0;
    for chunk in input.chunks(read) {
        buf.extend_from_slice(chunk);
        while let Ok(Some(req)) = dec.decode_request(&mut buf) {
            black_box(&req);
            n += 1;
        }
    }
    n
}

fn decode(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let pipeline = set_pipeline(&mut rng);
    let big = big_set(&mut rng);
    assert_eq!(decode_all(&pipeline, pipeline.len()), 1000);
    assert_eq!(decode_all(&big, big.len()), 1);

    let mut group = c.benchmark_group("resp_decode");
    group.throughput(Throughput::Bytes(pipeline.len() as u64));
    group.bench_function("pipeline_1000_set", |b| {
        b.iter(|| decode_all(black_box(&pipeline), pipeline.len()))
    });
    group.bench_function("pipeline_1000_set_16k_reads", |b| {
        b.iter(|| decode_all(black_box(&pipeline), 16 * 1024))
    });
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("bulk_1mib", |b| {
        b.iter(|| decode_all(black_box(&big), big.len()))
    });
    group.bench_function("bulk_1mib_16k_reads", |b| {
        b.iter(|| decode_all(black_box(&big), 16 * 1024))
    });
    group.finish();
}

fn encode_replies(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let replies: Vec<Frame> = (0..1000)
        .map(|i| match i % 4 {
            0 => Frame::OK,
            1 => Frame::Integer(rng.gen()),
            2 => Frame::Double(rng.gen::<f64>() * 1e6),
            _ => Frame::Bulk((0..rng.gen_range(3..64)).map(|_| rng.gen()).collect()),
        })
        .collect();
    let mut sized = BytesMut::new();
    for r in &replies {
        encode(r, Protocol::Resp2, &mut sized);
    }

    let mut group = c.benchmark_group("resp_encode");
    group.throughput(Throughput::Bytes(sized.len() as u64));
    group.bench_function("replies_1000_mixed", |b| {
        b.iter_batched_ref(
            || BytesMut::with_capacity(sized.len()),
            |out| {
                for r in black_box(&replies) {
                    encode(r, Protocol::Resp2, out);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, decode, encode_replies);
criterion_main!(benches);
