//! Placeholder until the generated-tree benchmark lands.
fn main() {}
