//! The pod's pause process: owns the pod's namespaces, reaps zombies, exits on TERM/INT.
fn main() {}
