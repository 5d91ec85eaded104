//! AOF files: command records and the Redis 7 multi-part manifest.
