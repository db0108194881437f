//! Unloading gives memory back: a module holding 100 MB (in 100,000 small blocks, the
//! hard case for an allocator) is loaded and unloaded, and the live heap and RSS are
//! printed at each step.
//!
//! `cargo run --release -p lmms-examples --example unload_memory`

use lmms::memory::{live_heap, rss, CountingAlloc};
use lmms::{report::Unload, Load, ModuleCell, ModuleDef};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Big {
    blocks: Vec<Vec<u8>>,
}

impl Load for Big {
    type Error = std::convert::Infallible;
    fn load() -> Result<Self, Self::Error> {
        Ok(Big {
            blocks: (0..100_000).map(|i| vec![i as u8; 1000]).collect(),
        })
    }
}

static BIG: ModuleCell<Big> = ModuleCell::new(ModuleDef::new("big"));

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn main() -> Result<(), lmms::Error> {
    // Register first, so the runtime's own bookkeeping (the module list) is not counted
    // as the module's state.
    lmms::Runtime::global().add(&BIG)?;
    println!("unload_memory: one module of 100,000 blocks of 1000 bytes");
    let (heap0, rss0) = (live_heap().unwrap_or(0), rss().unwrap_or(0));
    println!(
        "before load : live heap {:>8.2} MiB, rss {:>8.2} MiB",
        mib(heap0),
        mib(rss0)
    );
    let blocks = BIG.get()?.blocks.len();
    let (heap1, rss1) = (live_heap().unwrap_or(0), rss().unwrap_or(0));
    println!(
        "after load  : live heap {:>8.2} MiB, rss {:>8.2} MiB ({blocks} blocks; the load recorded {:.2} MiB)",
        mib(heap1),
        mib(rss1),
        mib(BIG.stats().bytes.unwrap_or_default())
    );
    let loaded = BIG.stats().bytes.unwrap_or_default();
    let Unload::Unloaded { bytes } = BIG.unload() else {
        unreachable!("nothing holds the module")
    };
    let (heap2, rss2) = (live_heap().unwrap_or(0), rss().unwrap_or(0));
    println!(
        "after unload: live heap {:>8.2} MiB, rss {:>8.2} MiB (the unload recorded {:.2} MiB freed)",
        mib(heap2),
        mib(rss2),
        mib(bytes)
    );
    println!(
        "state bytes loaded {loaded}, freed {bytes}; live heap after unload - before load: {} bytes; rss after unload - before load: {:.2} MiB",
        heap2 as i64 - heap0 as i64,
        (rss2 as f64 - rss0 as f64) / 1_048_576.0
    );
    Ok(())
}
