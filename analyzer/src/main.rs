//! pulse-analyzer: placeholder until the analyzer issue lands.
fn main() {
    println!("pulse-analyzer {}", env!("CARGO_PKG_VERSION"));
}
