//! The role letter of Redis-style log lines: `M` on a primary, `S` on a replica, `C` in a
//! fork child (an RDB save, an AOF rewrite, a full sync). The node sets the role when it
//! changes; the child is told apart by its process id.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

static ROLE: AtomicU8 = AtomicU8::new(b'M');
static MAIN_PID: AtomicU32 = AtomicU32::new(0);

/// Remembers this process as the server (call once, before forking anything).
pub fn init() {
    MAIN_PID.store(std::process::id(), Ordering::Relaxed);
}

/// The node became a replica (`true`) or a primary (`false`).
pub fn set_replica(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

/// The letter for the next log line.
pub fn letter() -> char {
    letter_of(
        ROLE.load(Ordering::Relaxed),
        MAIN_PID.load(Ordering::Relaxed),
        std::process::id(),
    )
}

fn letter_of(role: u8, main_pid: u32, pid: u32) -> char {
    if main_pid != 0 && main_pid != pid {
        'C'
    } else {
        role as char
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_role_and_the_process() {
        assert_eq!(letter_of(b'S', 10, 10), 'S');
        assert_eq!(letter_of(b'M', 10, 10), 'M');
        assert_eq!(letter_of(b'M', 10, 11), 'C');
        // Before `init` (unit tests, tools), the role alone.
        assert_eq!(letter_of(b'S', 0, 11), 'S');
    }
}
