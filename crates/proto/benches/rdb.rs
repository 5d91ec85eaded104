//! RDB encode and decode of a mixed keyspace built from a fixed seed (`SEED` below): short and
//! integer strings, compressible and random 200-byte strings, small and large lists, intset and
//! hashtable sets, listpack and skiplist sorted sets, listpack and hashtable hashes.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrokv_proto::rdb::{
    EncodingLimits, KeyMeta, RdbItem, RdbReader, RdbValue, RdbWriter, WriterOptions,
};
use rand::{rngs::StdRng, Rng, SeedableRng};

const SEED: u64 = 42;
const KEYS: usize = 20_000;

fn rand_bytes(rng: &mut StdRng, n: usize) -> Bytes {
    Bytes::from((0..n).map(|_| rng.gen::<u8>()).collect::<Vec<_>>())
}

fn keyspace() -> Vec<(Bytes, RdbValue)> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..KEYS)
        .map(|i| {
            let key = Bytes::from(format!("key:{i:08}"));
            let value = match rng.gen_range(0..100) {
                0..=29 => RdbValue::String(Bytes::from(format!("value-{}", rng.gen::<u32>()))),
                30..=44 => RdbValue::String(Bytes::from(rng.gen::<i32>().to_string())),
                45..=54 => RdbValue::String(Bytes::from("lorem ipsum dolor sit amet ".repeat(8))),
                55..=62 => RdbValue::String(rand_bytes(&mut rng, 200)),
                63..=72 => {
                    let n = if rng.gen_ratio(1, 20) {
                        2000
                    } else {
                        rng.gen_range(1..20)
                    };
                    RdbValue::List((0..n).map(|j| Bytes::from(format!("item-{j}"))).collect())
                }
                73..=78 => RdbValue::Set(
                    (0..rng.gen_range(1..50))
                        .map(|j| Bytes::from((j * 7).to_string()))
                        .collect(),
                ),
                79..=82 => RdbValue::Set(
                    (0..rng.gen_range(1..50))
                        .map(|j| Bytes::from(format!("m{j}")))
                        .collect(),
                ),
                83..=88 => {
                    let n = if rng.gen_ratio(1, 10) {
                        300
                    } else {
                        rng.gen_range(1..30)
                    };
                    RdbValue::SortedSet(
                        (0..n)
                            .map(|j| (Bytes::from(format!("m{j}")), rng.gen::<f64>() * 1000.0))
                            .collect(),
                    )
                }
                _ => {
                    let n = if rng.gen_ratio(1, 10) {
                        600
                    } else {
                        rng.gen_range(1..30)
                    };
                    RdbValue::Hash(
                        (0..n)
                            .map(|j| {
                                (
                                    Bytes::from(format!("f{j}")),
                                    Bytes::from(format!("v{}", rng.gen::<u16>())),
                                )
                            })
                            .collect(),
                    )
                }
            };
            (key, value)
        })
        .collect()
}

fn encode(keys: &[(Bytes, RdbValue)], opts: &WriterOptions) -> Vec<u8> {
    let limits = EncodingLimits::default();
    let mut w = RdbWriter::new(Vec::with_capacity(8 << 20), opts).unwrap();
    w.select_db(0, keys.len() as u64, 0).unwrap();
    let meta = KeyMeta::default();
    for (k, v) in keys {
        w.write_entry(k, &meta, v, v.redis_encoding(&limits))
            .unwrap();
    }
    w.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let keys = keyspace();
    let opts = WriterOptions {
        ctime: 0,
        ..WriterOptions::default()
    };
    let plain_opts = WriterOptions {
        compression: false,
        ..opts.clone()
    };
    let file = encode(&keys, &opts);

    let mut g = c.benchmark_group("rdb");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| black_box(encode(black_box(&keys), &opts)))
    });
    g.bench_function("encode_no_compression", |b| {
        b.iter(|| black_box(encode(black_box(&keys), &plain_opts)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let reader = RdbReader::new(black_box(file.as_slice())).unwrap();
            let mut entries = 0usize;
            for item in reader {
                if let RdbItem::Entry(e) = item.unwrap() {
                    entries += 1;
                    black_box(e);
                }
            }
            assert_eq!(entries, KEYS);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
