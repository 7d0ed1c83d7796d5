//! CNI network config bytes -> `podrun::net::cni::parse_config` (decoding, version, keys,
//! validation), the `NetConfig` and IPAM range it maps to, and CHECK's reading of a
//! `prevResult`. Nothing touches the system. Any panic is a bug: bad input must come back as a
//! CNI error with a code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podrun::net::cni;

fuzz_target!(|data: &[u8]| {
    let Ok(conf) = cni::parse_config(data) else {
        return;
    };
    let Ok(cfg) = cni::net_config(&conf, "eth0") else {
        return;
    };
    let _ = cfg.range();
    if let Some(prev) = &conf.prev_result {
        if let Ok(att) = cni::attachment_from_result(prev, &cfg, "eth0") {
            let _ = cni::result_json(&conf.cni_version, &cfg, &att, "/run/netns/x");
        }
    }
});
