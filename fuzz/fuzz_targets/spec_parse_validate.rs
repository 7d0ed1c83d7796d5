//! config.json bytes -> `podrun::spec::parse` + `validate`, then every pure step `create` takes
//! from the spec before touching the system (capability names, mount options, device list,
//! seccomp compilation). Any panic is a bug: bad input must come back as a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podrun::process::{caps, devices, mounts, seccomp};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = podrun::spec::parse(data) else {
        return;
    };
    if podrun::spec::validate(&spec).is_err() {
        return;
    }
    if let Some(process) = spec.process() {
        let _ = caps::CapSets::from_spec(process.capabilities().as_ref());
    }
    for m in spec.mounts().iter().flatten() {
        let fstype = m.typ().as_deref().unwrap_or("");
        let options = m.options().clone().unwrap_or_default();
        if let Ok(parsed) = mounts::parse_options(fstype, &options) {
            let _ = parsed.is_bind();
            let _ = parsed.data_string();
        }
    }
    let _ = devices::devices_for(&spec);
    let _ = devices::needs_dev_setup(&spec);
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        let _ = seccomp::compile(s);
    }
});
