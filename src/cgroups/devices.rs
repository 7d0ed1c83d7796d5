//! Device access rules (`linux.resources.devices`): one model, two enforcers.
//!
//! The rules are folded, in order, into a [`DeviceSet`] with the meaning the v1 devices
//! controller gives a sequence of writes to `devices.allow` / `devices.deny` (runc's device
//! emulator does the same): a rule of type `a` resets everything (allow-all or deny-all, its
//! numbers and access ignored, as the kernel does); any other rule adds an exception to the
//! current default or takes access away from an exact exception. A rule that would punch a
//! hole into a wildcard exception is refused (v1 would silently ignore it). The set starts as
//! deny-all, so a list without an `a` rule allows only what it names.
//!
//! v1 writes the set to the cgroup's devices files ([`write_v1`]); v2 turns it into a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program ([`program`]) that [`super::bpf`] loads and attaches.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::{Error, Result};

/// Access bits, with the values of the kernel's `BPF_DEVCG_ACC_*`.
pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Block or character device, with the values of `BPF_DEVCG_DEV_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Block = 1,
    Char = 2,
}

/// Which devices an exception covers: `None` is the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Node {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

impl Node {
    #[cfg(test)]
    fn covers(&self, kind: Kind, major: u32, minor: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }

    /// "c 1:3" / "b *:*" as the v1 files spell it.
    fn v1_text(&self) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |v| v.to_string());
        let t = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        format!("{t} {}:{}", num(self.major), num(self.minor))
    }
}

/// One rule of the list, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// `None`: type `a`, every device.
    pub node: Option<Node>,
    pub access: u8,
}

/// The state a list of rules leaves behind: a default and the exceptions to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceSet {
    pub default_allow: bool,
    /// Exceptions (allowances when the default denies, denials when it allows) and their access.
    pub exceptions: BTreeMap<Node, u8>,
}

/// Devices every container may use whatever its rules say (runc's AllowedDevices): mknod of
/// any char/block device, /dev/null, random, full, tty, zero, urandom, the pts and ptmx of
/// devpts, tun. Appended after the spec's rules, so they win.
pub(crate) const DEFAULT_ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

fn access_bits(text: &str) -> std::result::Result<u8, String> {
    let mut bits = 0;
    for ch in text.chars() {
        bits |= match ch {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(format!("access {text:?}: only r, w and m are allowed")),
        };
    }
    Ok(bits)
}

fn access_text(bits: u8) -> String {
    let mut s = String::new();
    for (b, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
        if bits & b != 0 {
            s.push(c);
        }
    }
    s
}

impl Rule {
    /// A spec rule; `Ok(None)` for a fifo rule (type `p`), which no devices cgroup can express.
    pub(crate) fn from_spec(r: &LinuxDeviceCgroup) -> Result<Option<Rule>> {
        let bad = |why: String| Error::Spec(format!("linux.resources.devices: {why}"));
        let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(Kind::Block),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(Kind::Char),
            LinuxDeviceType::P => {
                tracing::warn!(
                    "cgroup: device rule for a fifo (type p) has no devices-cgroup form, skipped"
                );
                return Ok(None);
            }
        };
        let num = |what: &str, n: Option<i64>| -> Result<Option<u32>> {
            match n {
                None => Ok(None),
                Some(v) if v < 0 => Ok(None),
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| bad(format!("{what} {v} is out of range"))),
            }
        };
        let major = num("major", r.major())?;
        let minor = num("minor", r.minor())?;
        let access = match r.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(a) => access_bits(a).map_err(bad)?,
        };
        Ok(Some(Rule {
            allow: r.allow(),
            node: kind.map(|kind| Node { kind, major, minor }),
            access,
        }))
    }

    /// A rule in the v1 text form "type major:minor access" (allow).
    fn parse_allow(text: &str) -> Result<Rule> {
        let bad = || {
            Error::other(format!(
                "device rule {text:?}: not 'type major:minor access'"
            ))
        };
        let mut it = text.split_whitespace();
        let (Some(t), Some(nums), Some(acc), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(bad());
        };
        let (ma, mi) = nums.split_once(':').ok_or_else(bad)?;
        let num = |s: &str| -> Result<Option<u32>> {
            if s == "*" {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| bad())
            }
        };
        let kind = match t {
            "a" => None,
            "b" => Some(Kind::Block),
            "c" => Some(Kind::Char),
            _ => return Err(bad()),
        };
        let (major, minor) = (num(ma)?, num(mi)?);
        Ok(Rule {
            allow: true,
            node: kind.map(|kind| Node { kind, major, minor }),
            access: access_bits(acc).map_err(|_| bad())?,
        })
    }
}

impl DeviceSet {
    /// Deny-all, then `rules` in order, then [`DEFAULT_ALLOWED`].
    pub(crate) fn for_container(rules: &[LinuxDeviceCgroup]) -> Result<DeviceSet> {
        let mut set = DeviceSet::default();
        for r in rules {
            if let Some(rule) = Rule::from_spec(r)? {
                set.apply(rule)?;
            }
        }
        for text in DEFAULT_ALLOWED {
            set.apply(Rule::parse_allow(text)?)?;
        }
        Ok(set)
    }

    /// Folds one rule in (the v1 kernel's meaning of a write to devices.allow/deny).
    pub(crate) fn apply(&mut self, rule: Rule) -> Result<()> {
        let Some(node) = rule.node else {
            self.default_allow = rule.allow;
            self.exceptions.clear();
            return Ok(());
        };
        if rule.access == 0 {
            return Ok(());
        }
        if rule.allow != self.default_allow {
            *self.exceptions.entry(node).or_insert(0) |= rule.access;
            return Ok(());
        }
        // Taking access away from an exception: only an exact one can lose it.
        for wider in [
            Node {
                major: None,
                ..node
            },
            Node {
                minor: None,
                ..node
            },
            Node {
                major: None,
                minor: None,
                ..node
            },
        ] {
            if wider == node {
                continue;
            }
            let overlap = self.exceptions.get(&wider).copied().unwrap_or(0) & rule.access;
            if overlap != 0 {
                return Err(Error::Spec(format!(
                    "linux.resources.devices: the rule {} {} {} cannot punch a hole into the wildcard rule {} {} (not supported by the devices cgroup)",
                    if rule.allow { "allow" } else { "deny" },
                    node.v1_text(),
                    access_text(rule.access),
                    wider.v1_text(),
                    access_text(overlap),
                )));
            }
        }
        if let Some(acc) = self.exceptions.get_mut(&node) {
            *acc &= !rule.access;
            if *acc == 0 {
                self.exceptions.remove(&node);
            }
        }
        Ok(())
    }

    /// The v1 controller's decision for one access (`access`: one or more ACC_* bits).
    /// Default deny: allowed when one exception covers the device and every asked bit.
    /// Default allow: denied when a covering exception shares any asked bit.
    #[cfg(test)]
    pub(crate) fn permits(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let mut covering = self
            .exceptions
            .iter()
            .filter(|(n, _)| n.covers(kind, major, minor));
        if self.default_allow {
            !covering.any(|(_, acc)| acc & access != 0)
        } else {
            covering.any(|(_, acc)| access & !acc == 0)
        }
    }

    /// Reads a v1 `devices.list`. In allow-all mode the kernel lists only `a *:* rwm` and
    /// hides the denials, so such a set is returned with `known = false`.
    fn from_v1_list(text: &str) -> Result<(DeviceSet, bool)> {
        let mut set = DeviceSet::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let rule = Rule::parse_allow(line)?;
            if rule.node.is_none() {
                return Ok((
                    DeviceSet {
                        default_allow: true,
                        exceptions: BTreeMap::new(),
                    },
                    false,
                ));
            }
            set.apply(rule)?;
        }
        Ok((set, true))
    }
}

/// One write to a v1 devices file: (file, "type major:minor access").
pub(crate) type V1Write = (&'static str, String);

/// The writes that take a v1 cgroup from `current` (its devices.list) to `target` with no
/// moment where more is allowed than either, and without first denying what both allow when
/// the defaults agree (runc's transition): denials first, then allowances.
pub(crate) fn v1_transition(current: &str, target: &DeviceSet) -> Result<Vec<V1Write>> {
    let (from, known) = DeviceSet::from_v1_list(current)?;
    let (grant, revoke) = if target.default_allow {
        ("devices.deny", "devices.allow")
    } else {
        ("devices.allow", "devices.deny")
    };
    let mut out = Vec::new();
    let old = if !known || from.default_allow != target.default_allow {
        let file = if target.default_allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        out.push((file, "a *:* rwm".to_string()));
        BTreeMap::new()
    } else {
        from.exceptions
    };
    for (node, acc) in &old {
        let dropped = acc & !target.exceptions.get(node).copied().unwrap_or(0);
        if dropped != 0 {
            out.push((
                revoke,
                format!("{} {}", node.v1_text(), access_text(dropped)),
            ));
        }
    }
    for (node, acc) in &target.exceptions {
        let gained = acc & !old.get(node).copied().unwrap_or(0);
        if gained != 0 {
            out.push((grant, format!("{} {}", node.v1_text(), access_text(gained))));
        }
    }
    Ok(out)
}

/// eBPF instruction encoding (`struct bpf_insn`: code, dst:4|src:4, off, imm).
pub(crate) mod insn {
    pub const LDX_MEM_W: u8 = 0x61;
    pub const ALU32_AND_K: u8 = 0x54;
    pub const ALU32_RSH_K: u8 = 0x74;
    pub const ALU32_MOV_K: u8 = 0xb4;
    pub const ALU32_MOV_X: u8 = 0xbc;
    pub const JMP_JEQ_K: u8 = 0x15;
    pub const JMP_JNE_K: u8 = 0x55;
    pub const JMP_JNE_X: u8 = 0x5d;
    pub const EXIT: u8 = 0x95;

    /// One instruction, laid out as the kernel reads it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(C)]
    pub struct Insn {
        pub code: u8,
        /// dst in the low nibble, src in the high one.
        pub regs: u8,
        pub off: i16,
        pub imm: i32,
    }

    pub fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }

    #[cfg(test)]
    impl Insn {
        pub fn dst(&self) -> u8 {
            self.regs & 0x0f
        }
        pub fn src(&self) -> u8 {
            self.regs >> 4
        }
    }
}

use insn::Insn;

/// The `BPF_PROG_TYPE_CGROUP_DEVICE` program for `set`. The context is
/// `struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }`;
/// the program returns 1 to allow, 0 to deny. Registers: r2 type, r3 access, r4 major,
/// r5 minor, r1 scratch. Every exception is one block that jumps past itself on a mismatch
/// and returns the opposite of the default on a match; the last block returns the default.
pub(crate) fn program(set: &DeviceSet) -> Vec<Insn> {
    use insn::*;
    let mut p = vec![
        new(LDX_MEM_W, 2, 1, 0, 0),
        new(ALU32_AND_K, 2, 0, 0, 0xffff),
        new(LDX_MEM_W, 3, 1, 0, 0),
        new(ALU32_RSH_K, 3, 0, 0, 16),
        new(LDX_MEM_W, 4, 1, 4, 0),
        new(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let verdict = |allow: bool| {
        [
            new(ALU32_MOV_K, 0, 0, 0, i32::from(allow)),
            new(EXIT, 0, 0, 0, 0),
        ]
    };
    for (node, &acc) in &set.exceptions {
        // Jumps are written with off = -1 and fixed to "past this block" below.
        let mut b = vec![new(JMP_JNE_K, 2, 0, -1, node.kind as i32)];
        if acc != ACC_ALL {
            b.push(new(ALU32_MOV_X, 1, 3, 0, 0));
            b.push(new(ALU32_AND_K, 1, 0, 0, i32::from(acc)));
            if set.default_allow {
                // A denial: any asked bit it names.
                b.push(new(JMP_JEQ_K, 1, 0, -1, 0));
            } else {
                // An allowance: every asked bit.
                b.push(new(JMP_JNE_X, 1, 3, -1, 0));
            }
        }
        for (reg, value) in [(4u8, node.major), (5u8, node.minor)] {
            let Some(v) = value else { continue };
            match i32::try_from(v) {
                Ok(imm) => b.push(new(JMP_JNE_K, reg, 0, -1, imm)),
                Err(_) => {
                    // Above i32::MAX the immediate would be sign-extended: compare registers,
                    // loading the value with a 32-bit move (which zero-extends).
                    b.push(new(ALU32_MOV_K, 1, 0, 0, v as i32));
                    b.push(new(JMP_JNE_X, reg, 1, -1, 0));
                }
            }
        }
        b.extend(verdict(!set.default_allow));
        let len = b.len();
        for (i, ins) in b.iter_mut().enumerate() {
            if ins.off == -1 {
                ins.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
            }
        }
        p.extend(b);
    }
    p.extend(verdict(set.default_allow));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("test rules json")
    }

    /// Runs `prog` the way the kernel would for the subset used by [`program`].
    fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let ctx = [(u32::from(access) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "program does not end");
            let i = prog[pc];
            let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
            let imm = i64::from(i.imm) as u64;
            let mut next = pc + 1;
            let jump = |cond: bool| {
                if cond {
                    (pc as i64 + 1 + i64::from(i.off)) as usize
                } else {
                    pc + 1
                }
            };
            match i.code {
                insn::LDX_MEM_W => {
                    assert_eq!(s, 1);
                    r[d] = u64::from(ctx[(i.off / 4) as usize]);
                }
                insn::ALU32_AND_K => r[d] = u64::from((r[d] as u32) & (i.imm as u32)),
                insn::ALU32_RSH_K => r[d] = u64::from((r[d] as u32) >> i.imm),
                insn::ALU32_MOV_K => r[d] = u64::from(i.imm as u32),
                insn::ALU32_MOV_X => r[d] = u64::from(r[s] as u32),
                insn::JMP_JEQ_K => next = jump(r[d] == imm),
                insn::JMP_JNE_K => next = jump(r[d] != imm),
                insn::JMP_JNE_X => next = jump(r[d] != r[s]),
                insn::EXIT => return r[0] == 1,
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = next;
        }
    }

    /// The program and the v1 model agree on a grid of devices and accesses.
    fn agree(set: &DeviceSet) {
        let prog = program(set);
        for kind in [Kind::Block, Kind::Char] {
            for major in [0, 1, 5, 7, 10, 136, 254, 0x8000_0001] {
                for minor in [0, 1, 2, 3, 5, 8, 200, 4_000_000_000] {
                    for access in 1..=7u8 {
                        assert_eq!(
                            run(&prog, kind, major, minor, access),
                            set.permits(kind, major, minor, access),
                            "{kind:?} {major}:{minor} access {access} in {set:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn deny_all_then_defaults() {
        let set = DeviceSet::for_container(&rules(r#"[{"allow":false,"access":"rwm"}]"#)).unwrap();
        assert!(!set.default_allow);
        assert!(
            set.permits(Kind::Char, 1, 3, ACC_READ | ACC_WRITE),
            "/dev/null"
        );
        assert!(set.permits(Kind::Char, 136, 7, ACC_READ), "a pty");
        assert!(
            set.permits(Kind::Block, 8, 0, ACC_MKNOD),
            "mknod is allowed"
        );
        assert!(!set.permits(Kind::Block, 8, 0, ACC_READ), "reading a disk");
        assert!(!set.permits(Kind::Char, 1, 1, ACC_READ), "/dev/mem");
        agree(&set);
    }

    #[test]
    fn no_rules_is_deny_all_plus_defaults() {
        let set = DeviceSet::for_container(&[]).unwrap();
        assert!(!set.default_allow);
        assert!(!set.permits(Kind::Block, 254, 0, ACC_READ));
        assert!(set.permits(Kind::Char, 1, 5, ACC_READ));
    }

    #[test]
    fn last_match_wins_like_v1() {
        // allow-all, then deny a block device's read, then allow-all again resets it.
        let set = DeviceSet::for_container(&rules(
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"b","major":7,"minor":0,"access":"r"}]"#,
        ))
        .unwrap();
        assert!(set.default_allow);
        assert!(!set.permits(Kind::Block, 7, 0, ACC_READ));
        assert!(!set.permits(Kind::Block, 7, 0, ACC_READ | ACC_WRITE));
        assert!(set.permits(Kind::Block, 7, 0, ACC_WRITE));
        assert!(set.permits(Kind::Block, 7, 1, ACC_READ));
        agree(&set);
        let set = DeviceSet::for_container(&rules(
            r#"[{"allow":false,"type":"b","major":7,"minor":0,"access":"r"},{"allow":true,"access":"rwm"}]"#,
        ))
        .unwrap();
        assert!(set.default_allow && set.exceptions.is_empty());
        // deny-all, allow 7:* r, allow 7:0 w: a read+write of 7:0 needs one exception with both.
        let set = DeviceSet::for_container(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":7,"access":"r"},
                {"allow":true,"type":"b","major":7,"minor":0,"access":"w"},
                {"allow":false,"type":"b","major":7,"minor":0,"access":"w"}]"#,
        ))
        .unwrap();
        assert!(set.permits(Kind::Block, 7, 3, ACC_READ));
        assert!(!set.permits(Kind::Block, 7, 0, ACC_WRITE), "taken back");
        assert!(!set.permits(Kind::Block, 8, 0, ACC_READ));
        agree(&set);
        // A type-a rule with numbers still means every device (the kernel ignores the rest).
        let set = DeviceSet::for_container(&rules(
            r#"[{"allow":true,"type":"a","major":1,"minor":3,"access":"r"}]"#,
        ))
        .unwrap();
        assert!(set.default_allow);
    }

    #[test]
    fn hole_in_a_wildcard_is_refused() {
        let e = DeviceSet::for_container(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":4,"access":"rw"},
                {"allow":false,"type":"c","major":4,"minor":1,"access":"w"}]"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("punch a hole"), "{e}");
    }

    #[test]
    fn bad_access_is_refused() {
        let e = DeviceSet::for_container(&rules(r#"[{"allow":true,"type":"c","access":"rx"}]"#))
            .unwrap_err();
        assert!(e.to_string().contains("access"), "{e}");
    }

    #[test]
    fn big_numbers_compare_as_u32() {
        let set = DeviceSet::for_container(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":2147483649,"minor":4000000000,"access":"r"}]"#,
        ))
        .unwrap();
        assert!(set.permits(Kind::Block, 0x8000_0001, 4_000_000_000, ACC_READ));
        agree(&set);
    }

    #[test]
    fn v1_transitions() {
        let target =
            DeviceSet::for_container(&rules(r#"[{"allow":false,"access":"rwm"}]"#)).unwrap();
        // A fresh cgroup (allow-all): deny-all first, then every allowance.
        let w = v1_transition("a *:* rwm\n", &target).unwrap();
        assert_eq!(w[0], ("devices.deny", "a *:* rwm".to_string()));
        assert!(
            w.contains(&("devices.allow", "c 1:3 rwm".to_string())),
            "{w:?}"
        );
        assert!(w.iter().skip(1).all(|(f, _)| *f == "devices.allow"));
        // From the same whitelist plus 7:0 r: only that one is taken away, nothing reset.
        let mut current = String::new();
        for (n, a) in &target.exceptions {
            current.push_str(&format!("{} {}\n", n.v1_text(), access_text(*a)));
        }
        current.push_str("b 7:0 r\n");
        let w = v1_transition(&current, &target).unwrap();
        assert_eq!(w, vec![("devices.deny", "b 7:0 r".to_string())]);
        let w = v1_transition(&current.replace("b 7:0 r\n", ""), &target).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }
}
