//! `ferrokv-server [config-file] [--directive value ...]`: parse the configuration like
//! redis-server does, set up logging, and run a node.

use std::path::PathBuf;

use anyhow::Context;
use ferrokv_server::config::Config;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod logging;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "ferrokv server v={} (Redis {} compatible) bits=64",
            env!("CARGO_PKG_VERSION"),
            ferrokv_server::info::REDIS_VERSION
        );
        return Ok(());
    }
    let cfg = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let config_file = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from);
    ferrokv_server::log_role::init();
    logging::init(&cfg).context("setting up logging")?;
    tracing::info!("oO0OoO0OoO0Oo ferrokv is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "ferrokv version={}, redis-compatible={}, bits=64, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        ferrokv_server::info::REDIS_VERSION,
        std::process::id()
    );
    match &config_file {
        Some(f) => tracing::info!("Configuration loaded from {}", f.display()),
        None => tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use ferrokv-server /path/to/redis.conf"
        ),
    }
    if let Err(e) = ferrokv_server::run(cfg, config_file) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
    Ok(())
}
