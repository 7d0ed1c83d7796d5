//! `podrun create`: create a container whose process waits for `podrun start`.

use std::path::PathBuf;

use crate::cli::Global;
use crate::container::create::{self, CreateOpts};
use crate::Result;

/// The flags `create` and `run` share (runc's names).
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Path to the bundle directory (default: the current directory)
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// File to write the container's init PID to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) into the container
    #[arg(long = "preserve-fds", default_value_t = 0, value_parser = crate::cli::preserve_fds_range())]
    pub preserve_fds: u32,
    /// Join the namespaces of this pod (net, ipc, uts; pid if shared)
    #[arg(long)]
    pub pod: Option<String>,
    /// The container id
    pub id: String,
}

impl CommonArgs {
    pub fn opts(&self, foreground: bool) -> Result<CreateOpts> {
        Ok(CreateOpts {
            id: self.id.clone(),
            bundle: create::bundle_dir(self.bundle.as_deref())?,
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            pod: self.pod.clone(),
            foreground,
            // the global --systemd-cgroup: set by the caller
            systemd_cgroup: false,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let mut opts = a.common.opts(false)?;
    opts.systemd_cgroup = g.systemd_cgroup;
    create::create(&g.root, &opts)?;
    Ok(0)
}
