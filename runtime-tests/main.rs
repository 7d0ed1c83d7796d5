//! Black-box tests of the built podrun binary.
mod pods;
