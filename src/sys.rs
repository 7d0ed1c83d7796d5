//! Small system helpers: pidfds, process start times, atomic writes, fds.
