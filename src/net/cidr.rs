//! `Ipv4Cidr`: an IPv4 address with a prefix length ("10.244.1.5/24"), serialised as that string.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::Error;

/// An IPv4 address and prefix length. As a subnet the address is the network address;
/// as an interface address it is the host's own address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> crate::Result<Ipv4Cidr> {
        if prefix > 32 {
            return Err(Error::Usage(format!(
                "prefix length {prefix} is more than 32"
            )));
        }
        Ok(Ipv4Cidr { addr, prefix })
    }

    /// Parses a subnet: a CIDR whose host bits are all zero.
    pub fn parse_subnet(s: &str) -> crate::Result<Ipv4Cidr> {
        let c: Ipv4Cidr = s.parse()?;
        if c.addr != c.network() {
            return Err(Error::Usage(format!(
                "subnet {s} has host bits set (the network is {}/{})",
                c.network(),
                c.prefix
            )));
        }
        Ok(c)
    }

    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether the two subnets share an address (one contains the other's network).
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The same prefix length with another address (an interface address in this subnet).
    pub fn with_addr(&self, addr: Ipv4Addr) -> Ipv4Cidr {
        Ipv4Cidr {
            addr,
            prefix: self.prefix,
        }
    }

    /// The first host address (network + 1), the conventional gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).wrapping_add(1))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> crate::Result<Ipv4Cidr> {
        let bad = || Error::Usage(format!("{s:?} is not an IPv4 CIDR (like 10.244.1.0/24)"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 2 {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        Ok(Ipv4Cidr { addr, prefix })
    }
}

impl serde::Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ipv4Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_computes() {
        let c: Ipv4Cidr = "10.244.1.0/24".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(10, 244, 1, 255));
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 244, 1, 1));
        assert!(c.contains(Ipv4Addr::new(10, 244, 1, 77)));
        assert!(!c.contains(Ipv4Addr::new(10, 244, 2, 1)));
        assert_eq!(c.to_string(), "10.244.1.0/24");
        let z: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(z.broadcast(), Ipv4Addr::BROADCAST);
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "10.244.1.0",
            "10.244.1.0/33",
            "10.244.1/24",
            "x/24",
            "10.244.1.0/",
            "10.244.1.0/+4",
        ] {
            assert!(s.parse::<Ipv4Cidr>().is_err(), "{s}");
        }
        assert!(Ipv4Cidr::parse_subnet("10.244.1.5/24").is_err());
        assert!(Ipv4Cidr::parse_subnet("10.244.1.0/24").is_ok());
    }

    #[test]
    fn serde_roundtrip() {
        let c: Ipv4Cidr = "10.244.1.5/24".parse().unwrap();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"10.244.1.5/24\"");
        assert_eq!(serde_json::from_str::<Ipv4Cidr>(&j).unwrap(), c);
    }
}
