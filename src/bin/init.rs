//! podrun-init: the last few steps of a container's init, between `podrun start` and the
//! container's process.
//!
//! Runs in: the container's init, exec'd from a sealed memfd copy by the init podrun forked
//! (src/process/init.rs), once that init has set everything up: namespaces, rootfs,
//! capabilities, user, fds, signals, seccomp. Its whole job:
//!
//!   podrun-init FIFO PATH ARG0 [ARG...]
//!
//! 1. unless FIFO is `-`: open `/proc/self/fd/FIFO` (the O_PATH fd of the exec fifo) for
//!    writing, which blocks until `podrun start` opens it for reading; write `0` (the start
//!    went through) and close the O_PATH fd; the written end stays open, close-on-exec:
//!    `start` runs the poststart hooks once the execve closed it;
//! 2. execve(PATH, [ARG0, ARG...], the environment it was given).
//!
//! Why it exists (CVE-2019-5736): the process that executes the container's program must not
//! have the host's podrun binary as /proc/self/exe, or a `#!/proc/self/exe` entrypoint would run
//! podrun inside the container and could then write to it. runc and crun re-execute
//! themselves from a sealed memfd copy of their whole binary for that; podrun's forked init
//! stays the on-disk binary only while nothing else can see it (in its own new pid
//! namespace, before `create` returns) and then becomes this few-KiB sealed copy, which costs
//! microseconds to copy instead of milliseconds. A created container waits here, so its
//! init's RSS is a few pages.
//!
//! Any failure is one line on fd 2 (the container's stderr) and exit status 1, the same words
//! the forked init would have used.
#![no_main]
#![allow(unexpected_cfgs)]
#![cfg_attr(tiny_helper, no_std)]

#[path = "../tiny_syscall.rs"]
mod raw;

use raw::{nr, syscall4};

const O_WRONLY: usize = 0o1;
const O_CLOEXEC: usize = 0o2000000;
const AT_FDCWD: isize = -100;

/// A line for fd 2 built on the stack (no allocator here); silently truncated.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    #[inline(never)]
    fn push(&mut self, s: &[u8]) -> &mut Line {
        for &b in s {
            if self.len == self.buf.len() {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    fn push_num(&mut self, mut n: usize) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// The kernel's -errno `r` as strerror words (the common ones), else `errno N`. Each arm
    /// pushes its own literal: a table of string pointers would need a load-time relocation,
    /// and nothing relocates this static-pie binary.
    fn push_errno(&mut self, r: isize) -> &mut Line {
        match r.unsigned_abs() {
            1 => self.push(b"Operation not permitted"),
            2 => self.push(b"No such file or directory"),
            7 => self.push(b"Argument list too long"),
            8 => self.push(b"Exec format error"),
            9 => self.push(b"Bad file descriptor"),
            12 => self.push(b"Cannot allocate memory"),
            13 => self.push(b"Permission denied"),
            20 => self.push(b"Not a directory"),
            21 => self.push(b"Is a directory"),
            22 => self.push(b"Invalid argument"),
            26 => self.push(b"Text file busy"),
            36 => self.push(b"File name too long"),
            40 => self.push(b"Too many levels of symbolic links"),
            e => self.push(b"errno ").push_num(e),
        }
    }

    fn fail(&mut self) -> ! {
        self.push(b"\n");
        raw::say(&self.buf[..self.len]);
        raw::exit(1)
    }
}

/// The bytes of a NUL-terminated string.
///
/// # Safety
/// `p` points to a live NUL-terminated string (an argv entry).
unsafe fn c_bytes<'a>(p: *const u8) -> &'a [u8] {
    let mut n = 0;
    // SAFETY: the caller guarantees a NUL terminator within the string. (Volatile: a plain
    // loop becomes a call to strlen, which does not exist here.)
    while unsafe { core::ptr::read_volatile(p.add(n)) } != 0 {
        n += 1;
    }
    // SAFETY: `n` bytes from `p` were just read.
    unsafe { core::slice::from_raw_parts(p, n) }
}

fn parse_fd(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as usize;
    }
    Some(n)
}

/// Blocks until `podrun start` opens the exec fifo, then tells it the start went through. The
/// fifo stays open for writing (close-on-exec) until the execve.
fn wait_for_start(fifo: usize) {
    let mut path = Line::new();
    path.push(b"/proc/self/fd/").push_num(fifo).push(b"\0");
    let fd = loop {
        // SAFETY: `path` is NUL-terminated and lives across the call.
        let r = unsafe {
            syscall4(
                nr::OPENAT,
                AT_FDCWD as usize,
                path.buf.as_ptr() as usize,
                O_WRONLY | O_CLOEXEC,
                0,
            )
        };
        if r >= 0 {
            break r as usize;
        }
        if r != raw::EINTR {
            Line::new()
                .push(b"podrun: container init: open exec fifo (is /proc mounted in the container?): ")
                .push_errno(r)
                .fail();
        }
    };
    raw::close(fifo);
    // SAFETY: a live one-byte buffer.
    unsafe { syscall4(nr::WRITE, fd, b"0".as_ptr() as usize, 1, 0) };
}

/// The whole program, given the kernel's argc/argv/envp.
///
/// # Safety
/// `argv` holds `argc` live NUL-terminated strings and a NULL; `envp` is NULL-terminated.
unsafe fn init_main(argc: usize, argv: *const *const u8, envp: *const *const u8) -> ! {
    if argc < 4 {
        Line::new()
            .push(b"podrun-init: usage: podrun-init FIFO-FD|- PATH ARG0 [ARG...]")
            .fail();
    }
    // SAFETY: argc >= 4 entries exist.
    let (fifo, path) = unsafe { (c_bytes(*argv.add(1)), *argv.add(2)) };
    if fifo != b"-" {
        match parse_fd(fifo) {
            Some(fd) => wait_for_start(fd),
            None => Line::new()
                .push(b"podrun-init: not an fd: ")
                .push(fifo)
                .fail(),
        }
    }
    // SAFETY: path is a NUL-terminated string, argv+3 and envp NULL-terminated arrays.
    let r = unsafe {
        syscall4(
            nr::EXECVE,
            path as usize,
            argv.add(3) as usize,
            envp as usize,
            0,
        )
    };
    // SAFETY: as above.
    let shown = unsafe { c_bytes(path) };
    Line::new()
        .push(b"podrun: container init: exec ")
        .push(shown)
        .push(b": ")
        .push_errno(r)
        .fail()
}

#[cfg(not(tiny_helper))]
#[no_mangle]
pub extern "C" fn main(argc: i32, argv: *const *const u8, envp: *const *const u8) -> i32 {
    // SAFETY: glibc passes the kernel's argument and environment arrays.
    unsafe { init_main(argc as usize, argv, envp) }
}

/// The kernel's entry: the stack pointer points at argc, then argv[], NULL, envp[], NULL.
///
/// # Safety
/// Called once, from `_start`, with the initial stack pointer.
#[cfg(tiny_helper)]
#[no_mangle]
unsafe extern "C" fn podrun_init_start(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack layout (System V ABI).
    unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        init_main(argc, argv, envp)
    }
}

#[cfg(all(tiny_helper, target_arch = "x86_64"))]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call podrun_init_start",
    "ud2",
);

#[cfg(all(tiny_helper, target_arch = "aarch64"))]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x0, sp",
    "bl podrun_init_start",
    "brk #0",
);

#[cfg(tiny_helper)]
#[panic_handler]
fn on_panic(_: &core::panic::PanicInfo) -> ! {
    raw::exit(2)
}

/// core's precompiled unwinding tables name this symbol even with panic=abort (dev builds);
/// nothing unwinds here, so it is never called.
#[cfg(tiny_helper)]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

/// The compiler emits calls to these for array zeroing and copies; without libc they are ours.
/// Volatile accesses keep the optimizer from turning the loops back into calls to themselves.
///
/// # Safety
/// `dst` is valid for `n` bytes.
#[cfg(tiny_helper)]
#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees `dst..dst+n` is writable.
        unsafe { core::ptr::write_volatile(dst.add(i), c as u8) };
    }
    dst
}

/// # Safety
/// `dst` and `src` are valid for `n` bytes and do not overlap.
#[cfg(tiny_helper)]
#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller guarantees both ranges.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}
