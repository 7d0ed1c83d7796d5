//! Raw Linux system calls for podrun's two tiny helper binaries, `podrun-pause` and
//! `podrun-init`, which link neither std nor libc in release builds. Each includes this file
//! with `#[path]`; it is not part of the podrun library.
#![allow(dead_code)]

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("podrun helpers: raw syscalls are written for x86_64 and aarch64 only");

#[cfg(target_arch = "x86_64")]
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const GETPID: usize = 39;
    pub const EXECVE: usize = 59;
    pub const WAIT4: usize = 61;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const EXIT_GROUP: usize = 231;
    pub const OPENAT: usize = 257;
}
#[cfg(target_arch = "aarch64")]
pub mod nr {
    pub const READ: usize = 63;
    pub const WRITE: usize = 64;
    pub const CLOSE: usize = 57;
    pub const RT_SIGPROCMASK: usize = 135;
    pub const GETPID: usize = 172;
    pub const EXECVE: usize = 221;
    pub const WAIT4: usize = 260;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const EXIT_GROUP: usize = 94;
    pub const OPENAT: usize = 56;
}

/// -EINTR as the kernel returns it.
pub const EINTR: isize = -4;

/// A raw system call with up to four arguments; returns the kernel's value (-errno on error).
///
/// # Safety
/// The arguments must be valid for system call `n` (pointers to live memory).
#[inline(always)]
pub unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees the arguments; rcx and r11 are clobbered by `syscall`.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b,
            in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees the arguments.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b,
            in("x2") c, in("x3") d, options(nostack));
    }
    ret
}

pub fn close(fd: usize) {
    // SAFETY: close has no memory arguments.
    unsafe { syscall4(nr::CLOSE, fd, 0, 0, 0) };
}

/// One write(2) of `msg` to fd 2.
pub fn say(msg: &[u8]) {
    // SAFETY: the buffer is live for its length.
    unsafe { syscall4(nr::WRITE, 2, msg.as_ptr() as usize, msg.len(), 0) };
}

pub fn exit(code: usize) -> ! {
    loop {
        // SAFETY: exit_group has no memory arguments and does not return.
        unsafe { syscall4(nr::EXIT_GROUP, code, 0, 0, 0) };
    }
}
