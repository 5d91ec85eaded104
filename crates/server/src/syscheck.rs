//! Start-up checks of the host, and process settings that follow the configuration (Redis's
//! `linuxMemoryWarnings` and `jemalloc-bg-thread`).
//!
//! - `vm.overcommit_memory` other than 1 can make `fork()` fail under memory pressure: every
//!   BGSAVE, AOF rewrite and full sync forks. We warn, as Redis does.
//! - Transparent huge pages set to `always` turn the first write to each shared 2 MB page
//!   after a fork into a 2 MB copy (latency and copy-on-write memory, see
//!   `shared/reference/pitfalls.md` §2). With `disable-thp yes` (the default) the process
//!   opts out with `prctl(PR_SET_THP_DISABLE)`; only when that is off or fails do we warn.
//! - `jemalloc-bg-thread`: jemalloc's background purging thread, on by default.

use tracing::warn;

use crate::config::Config;

const OVERCOMMIT: &str = "/proc/sys/vm/overcommit_memory";
const THP: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Whether `/proc/sys/vm/overcommit_memory`'s content leaves fork() at risk.
fn overcommit_at_risk(content: &str) -> bool {
    content.trim() != "1"
}

/// Whether the THP setting (e.g. `always [madvise] never`) selects `always`.
fn thp_always(content: &str) -> bool {
    content.contains("[always]")
}

/// Logs the host warnings and applies `disable-thp`. Runs once, before the node starts.
pub fn startup(cfg: &Config) {
    if let Ok(v) = std::fs::read_to_string(OVERCOMMIT) {
        if overcommit_at_risk(&v) {
            warn!(
                "WARNING Memory overcommit is disabled (vm.overcommit_memory = {}): a background save or a replica's full sync may fail to fork under memory pressure. Set 'vm.overcommit_memory = 1' in /etc/sysctl.conf and run 'sysctl vm.overcommit_memory=1'.",
                v.trim()
            );
        }
    }
    if let Ok(v) = std::fs::read_to_string(THP) {
        if thp_always(&v) {
            let opted_out = cfg.disable_thp && nix::sys::prctl::set_thp_disable(true).is_ok();
            if !opted_out {
                warn!(
                    "WARNING Transparent Huge Pages are set to 'always' in your kernel: writes after each fork copy whole 2 MB pages (latency, copy-on-write memory). Run 'echo madvise > {THP}' as root (and keep it across reboots), or leave disable-thp at yes."
                );
            }
        }
    }
    apply(cfg);
}

/// Applies the settings that live in the process rather than in the node (after start-up
/// and after every CONFIG SET).
pub fn apply(cfg: &Config) {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(cfg.jemalloc_bg_thread) {
        warn!("Could not set jemalloc's background thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernel_settings() {
        assert!(overcommit_at_risk("0\n"));
        assert!(overcommit_at_risk("2\n"));
        assert!(!overcommit_at_risk("1\n"));
        assert!(thp_always("[always] madvise never\n"));
        assert!(!thp_always("always [madvise] never\n"));
        assert!(!thp_always("always madvise [never]\n"));
    }

    #[test]
    fn background_thread_follows_the_setting() {
        let cfg = Config {
            jemalloc_bg_thread: false,
            ..Config::default()
        };
        apply(&cfg);
        assert_eq!(
            tikv_jemalloc_ctl::background_thread::read().ok(),
            Some(false)
        );
    }
}
