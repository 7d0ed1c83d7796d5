//! Pod networking over netlink: bridge, veth, IPAM, CNI, node routes.
