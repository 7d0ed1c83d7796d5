//! `podrun state`: the runtime-spec state of a container as JSON.
use crate::cli::Global;
use crate::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &Global, a: Args) -> Result<i32> {
    let (st, status) = crate::container::state(&g.root, &a.id)?;
    let v = st.oci_state(status);
    crate::cli::print_out(&format!(
        "{}\n",
        serde_json::to_string_pretty(&v).unwrap_or_default()
    ))?;
    Ok(0)
}
