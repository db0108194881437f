//! 50 modules declared and never used: the program should start like an empty `main`.
//! Run bare, it does nothing else (that is what `benches/startup.py` times against
//! `--example empty`); with the argument `report` it prints the live heap (all of it
//! std's: lmms allocated nothing) and what lmms knows of its modules.
//!
//! `cargo run --release -p lmms-examples --example startup -- report`

use lmms::memory::CountingAlloc;
use lmms::{Load, ModuleCell, ModuleDef};

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
        $(static $name: ModuleCell<Blob> = ModuleCell::new(ModuleDef::new(stringify!($name)));)*
        /// Every module, so none is optimised away as unused.
        static ALL: &[&ModuleCell<Blob>] = &[$(&$name),*];
    };
}

modules!(
    M00, M01, M02, M03, M04, M05, M06, M07, M08, M09, M10, M11, M12, M13, M14, M15, M16, M17, M18,
    M19, M20, M21, M22, M23, M24, M25, M26, M27, M28, M29, M30, M31, M32, M33, M34, M35, M36, M37,
    M38, M39, M40, M41, M42, M43, M44, M45, M46, M47, M48, M49,
);

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
