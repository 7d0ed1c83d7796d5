//! Load and validate an OCI bundle's config.json.
pub const OCI_VERSION: &str = "1.2.0";
