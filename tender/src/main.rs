//! The `tender` binary: parses the command line and reports the one error, if any.
fn main() {}
