//! Container lifecycle: create/start/kill/delete/exec and the create handshake.
