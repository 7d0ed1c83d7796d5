//! The layering rule, checked on the sources: arrows only point down
//! (`cli/` → `container/` → everything else). A module below `container/` that names
//! `crate::container` or `crate::cli` (or `container/` that names `crate::cli`) fails this test,
//! so a cycle cannot come back silently.

use std::path::{Path, PathBuf};

/// The modules each layer must not name, by the path prefix of its sources under `src/`.
const RULES: &[(&str, &[&str])] = &[
    ("container/", &["cli"]),
    ("process/", &["container", "cli"]),
    ("cgroups/", &["container", "cli"]),
    ("pod/", &["container", "cli"]),
    ("net/", &["container", "cli"]),
    ("channel.rs", &["container", "cli"]),
    ("hooks.rs", &["container", "cli"]),
    ("state.rs", &["container", "cli"]),
    ("spec.rs", &["container", "cli"]),
    ("sys.rs", &["container", "cli"]),
    ("error.rs", &["container", "cli"]),
    ("lockfile.rs", &["container", "cli"]),
    ("logging.rs", &["container", "cli"]),
];

/// The lines of `text` (comments aside) that name one of `higher`: as `crate::m`, or as `m`
/// inside a `use crate::{...}` group.
fn violations(text: &str, higher: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_group = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        if code.starts_with("use crate::{") || code.starts_with("pub use crate::{") {
            in_group = true;
        }
        for m in higher {
            let direct = code.contains(&format!("crate::{m}"));
            let grouped = in_group
                && code
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == *m);
            if direct || grouped {
                out.push(line.to_string());
                break;
            }
        }
        if in_group && code.contains("};") {
            in_group = false;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn lower_modules_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        for (prefix, higher) in RULES {
            if rel.starts_with(prefix) {
                checked += 1;
                let text = std::fs::read_to_string(f).unwrap();
                for l in violations(&text, higher) {
                    bad.push(format!("{rel}: {}", l.trim()));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} files checked under {}",
        src.display()
    );
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_each_form_of_import() {
    let higher = &["container", "cli"];
    assert_eq!(
        violations("use crate::container::channel::Msg;", higher).len(),
        1
    );
    assert_eq!(
        violations("    crate::cli::print_out(x)?;", higher).len(),
        1
    );
    let grouped = "use crate::{\n    cgroups::Cgroup,\n    container::state,\n};\nfn f() {}";
    assert_eq!(violations(grouped, higher).len(), 1);
    assert_eq!(violations("use crate::{cli, Error};", higher).len(), 1);
    assert!(violations("// see crate::container::create", higher).is_empty());
    assert!(violations("use crate::cgroups::Cgroup;\nlet container = 1;", higher).is_empty());
}
