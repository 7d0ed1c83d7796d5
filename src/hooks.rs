//! OCI hooks: run each with the state JSON on stdin, enforcing its timeout.
