//! The pod's pause process (what Kubernetes' pause.c does): it owns the pod's namespaces,
//! reaps zombies on SIGCHLD, exits 0 on SIGTERM/SIGINT and otherwise sleeps forever.
//!
//! Runs in: the pause process, exec'd by `podrun pod create` from a sealed memfd copy.
//! Instead of signal handlers + `pause()` it blocks INT/TERM/CHLD and sleeps in
//! `rt_sigtimedwait` (blocked signals reach a pid-namespace init too), so it needs neither
//! libc nor a signal trampoline: the code below is a few raw syscalls.
//!
//! Two builds of this one file (see build.rs):
//! - debug: std is linked (glibc starts us) but not used (`#![no_main]`);
//! - release (`--cfg tiny_helper`, panic=abort, linked `-nostartfiles -nostdlib -static-pie`):
//!   no std, no libc, our own `_start`; a static binary of a few KiB whose RSS is a few pages.
//!   The raw system calls are shared with podrun-init (src/tiny_syscall.rs).
#![no_main]
#![allow(unexpected_cfgs)]
#![cfg_attr(tiny_helper, no_std)]

#[path = "../tiny_syscall.rs"]
mod raw;

mod sys {
    pub use super::raw::{close, exit, say};
    use super::raw::{nr, syscall4};

    pub const SIGINT: usize = 2;
    pub const SIGTERM: usize = 15;
    pub const SIGCHLD: usize = 17;
    const SIG_BLOCK: usize = 0;
    const WNOHANG: usize = 1;
    const SIGSET_SIZE: usize = 8;

    pub fn mask_of(sigs: &[usize]) -> u64 {
        sigs.iter().fold(0u64, |m, s| m | 1 << (s - 1))
    }

    pub fn block(mask: &u64) -> bool {
        // SAFETY: `mask` points to a live 8-byte sigset; the old set is not wanted (null).
        unsafe {
            syscall4(
                nr::RT_SIGPROCMASK,
                SIG_BLOCK,
                mask as *const u64 as usize,
                0,
                SIGSET_SIZE,
            ) == 0
        }
    }

    /// Waits for one of the blocked signals in `mask`; returns its number (or -errno).
    pub fn wait_signal(mask: &u64) -> isize {
        // SAFETY: `mask` is a live sigset; no siginfo and no timeout are requested (null).
        unsafe {
            syscall4(
                nr::RT_SIGTIMEDWAIT,
                mask as *const u64 as usize,
                0,
                0,
                SIGSET_SIZE,
            )
        }
    }

    /// Reaps every child that has exited.
    pub fn reap_all() {
        // SAFETY: wait4 with null status and rusage pointers is allowed.
        while unsafe {
            syscall4(
                nr::WAIT4,
                usize::MAX, /* -1: any child */
                0,
                WNOHANG,
                0,
            )
        } > 0
        {}
    }

    pub fn getpid() -> isize {
        // SAFETY: getpid takes no arguments.
        unsafe { syscall4(nr::GETPID, 0, 0, 0, 0) }
    }

    /// Reads one byte from `fd`: Some(n) with the kernel's result (1, 0 at EOF, -errno).
    pub fn read_byte(fd: usize) -> isize {
        let mut b = 0u8;
        loop {
            // SAFETY: `b` is a live one-byte buffer.
            let r = unsafe { syscall4(nr::READ, fd, &mut b as *mut u8 as usize, 1, 0) };
            if r != -4 {
                // not EINTR
                return r;
            }
        }
    }
}

/// fd 3, when open, is the read end of `pod create`'s hold pipe: the pause waits until the
/// pod is recorded (one byte) and exits if `pod create` died first (EOF), so a killed create
/// never leaves an untracked pause behind. Not open (EBADF, -9): started by hand, go on.
const HOLD_FD: usize = 3;

fn wait_until_recorded() {
    match sys::read_byte(HOLD_FD) {
        1 => sys::close(HOLD_FD),
        -9 => {}
        _ => sys::exit(1),
    }
}

/// The whole program.
fn pause_forever() -> ! {
    // Blocked first: a SIGTERM that comes while we wait for the hold pipe (`pod create` has
    // already returned and a caller stops the pod at once) stays pending and ends in exit 0
    // below, instead of killing us with the default action.
    let mask = sys::mask_of(&[sys::SIGINT, sys::SIGTERM, sys::SIGCHLD]);
    if !sys::block(&mask) {
        sys::say(b"podrun-pause: rt_sigprocmask failed\n");
        sys::exit(1);
    }
    wait_until_recorded();
    if sys::getpid() != 1 {
        sys::say(b"podrun-pause: not PID 1: orphans of the pod are reaped by the host's init\n");
    }
    sys::reap_all();
    loop {
        let sig = sys::wait_signal(&mask);
        if sig == sys::SIGINT as isize || sig == sys::SIGTERM as isize {
            sys::exit(0);
        }
        if sig == sys::SIGCHLD as isize {
            sys::reap_all();
        }
    }
}

#[cfg(not(tiny_helper))]
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    pause_forever()
}

#[cfg(tiny_helper)]
#[no_mangle]
pub extern "C" fn _start() -> ! {
    pause_forever()
}

#[cfg(tiny_helper)]
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(2)
}

/// core's precompiled unwinding tables name this symbol even with panic=abort (dev builds);
/// nothing unwinds here, so it is never called.
#[cfg(tiny_helper)]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}
