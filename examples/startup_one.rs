//! 50 modules declared and never used: the program should start like an empty `main`.
//! Run bare, it does nothing else (that is what `benches/startup.py` times against
//! `--example empty`); with the argument `report` it prints the live heap (all of it
//! std's: lmms allocated nothing) and what lmms knows of its modules.
//!
//! `cargo run --release --example startup -- report`

use lmms::memory::CountingAlloc;
use lmms::{Load, Module, ModuleDef};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Two megabytes of state, like the seed's average module; never built here.
struct Blob(#[allow(dead_code)] Vec<u8>);

impl Load for Blob {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Blob(vec![1; 2 << 20]))
    }
}

macro_rules! modules {
    ($($name:ident),* $(,)?) => {
        $(static $name: Module<Blob> = Module::new(ModuleDef::new(stringify!($name)));)*
        /// Every module, so none is optimised away as unused.
        static ALL: &[&Module<Blob>] = &[$(&$name),*];
    };
}

modules!(M00);

fn main() {
    std::hint::black_box(ALL);
    if std::env::args().nth(1).as_deref() != Some("report") {
        return;
    }
    let resident = ALL.iter().filter(|m| m.is_resident()).count();
    println!(
        "{} modules declared, {} resident; live heap {} bytes (std's own); lmms statistics: {} loads",
        ALL.len(),
        resident,
        lmms::memory::live_heap().unwrap_or(0),
        ALL.iter().map(|m| m.stats().loads).sum::<u64>(),
    );
}
