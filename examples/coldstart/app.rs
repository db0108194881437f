//! The application the cold-start benchmark builds four ways: 50 modules of about 2 MB of
//! real state each (the seed's "50 modules averaging 2 MB"), ten operations on each, and a
//! request that uses two of the modules.

use std::convert::Infallible;

/// 2 MiB of computed state: what a loader builds (parsed tables, indexes).
fn build(seed: u64) -> Vec<u64> {
    (0..256 * 1024u64)
        .map(|i| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect()
}

/// The managed call of the first of a module's operations.
macro_rules! first {
    ($op:ident $($rest:ident)*) => {
        $op::call
    };
}

macro_rules! app {
    ($($module:ident $seed:literal [$($op:ident)*];)*) => {
        $(
            /// One of the 50 modules.
            #[lmms::module]
            pub struct $module(Vec<u64>);

            impl lmms::Load for $module {
                type Error = Infallible;
                fn load() -> Result<Self, Infallible> {
                    Ok($module(build($seed)))
                }
            }

            $(
                /// One of the 500 operations.
                #[lmms::operation(interface = "app")]
                pub fn $op(state: &$module, key: u64) -> u64 {
                    state.0[(key as usize) % state.0.len()]
                }
            )*
        )*

        /// The first operation of each module, by module index: what a request calls.
        pub const CALLS: &[fn(u64) -> Result<u64, lmms::Error>] = &[$(first!($($op)*)),*];

        /// Loads every module through lmms and holds a guard on each for the life of the
        /// process: lmms serving requests with eager memory (nothing ever unloaded).
        pub fn hold_everything() -> Vec<Box<dyn std::any::Any + Send>> {
            vec![$(Box::new($module::get().expect("infallible")),)*]
        }

        /// Builds every module now and keeps it: the eager application's start-up.
        pub fn load_everything() -> Vec<Box<dyn std::any::Any>> {
            vec![$(Box::new(<$module as lmms::Load>::load().expect("infallible")),)*]
        }
    };
}

app! {
    M0 0 [o0_0 o0_1 o0_2 o0_3 o0_4 o0_5 o0_6 o0_7 o0_8 o0_9];
    M1 1 [o1_0 o1_1 o1_2 o1_3 o1_4 o1_5 o1_6 o1_7 o1_8 o1_9];
    M2 2 [o2_0 o2_1 o2_2 o2_3 o2_4 o2_5 o2_6 o2_7 o2_8 o2_9];
    M3 3 [o3_0 o3_1 o3_2 o3_3 o3_4 o3_5 o3_6 o3_7 o3_8 o3_9];
    M4 4 [o4_0 o4_1 o4_2 o4_3 o4_4 o4_5 o4_6 o4_7 o4_8 o4_9];
    M5 5 [o5_0 o5_1 o5_2 o5_3 o5_4 o5_5 o5_6 o5_7 o5_8 o5_9];
    M6 6 [o6_0 o6_1 o6_2 o6_3 o6_4 o6_5 o6_6 o6_7 o6_8 o6_9];
    M7 7 [o7_0 o7_1 o7_2 o7_3 o7_4 o7_5 o7_6 o7_7 o7_8 o7_9];
    M8 8 [o8_0 o8_1 o8_2 o8_3 o8_4 o8_5 o8_6 o8_7 o8_8 o8_9];
    M9 9 [o9_0 o9_1 o9_2 o9_3 o9_4 o9_5 o9_6 o9_7 o9_8 o9_9];
    M10 10 [o10_0 o10_1 o10_2 o10_3 o10_4 o10_5 o10_6 o10_7 o10_8 o10_9];
    M11 11 [o11_0 o11_1 o11_2 o11_3 o11_4 o11_5 o11_6 o11_7 o11_8 o11_9];
    M12 12 [o12_0 o12_1 o12_2 o12_3 o12_4 o12_5 o12_6 o12_7 o12_8 o12_9];
    M13 13 [o13_0 o13_1 o13_2 o13_3 o13_4 o13_5 o13_6 o13_7 o13_8 o13_9];
    M14 14 [o14_0 o14_1 o14_2 o14_3 o14_4 o14_5 o14_6 o14_7 o14_8 o14_9];
    M15 15 [o15_0 o15_1 o15_2 o15_3 o15_4 o15_5 o15_6 o15_7 o15_8 o15_9];
    M16 16 [o16_0 o16_1 o16_2 o16_3 o16_4 o16_5 o16_6 o16_7 o16_8 o16_9];
    M17 17 [o17_0 o17_1 o17_2 o17_3 o17_4 o17_5 o17_6 o17_7 o17_8 o17_9];
    M18 18 [o18_0 o18_1 o18_2 o18_3 o18_4 o18_5 o18_6 o18_7 o18_8 o18_9];
    M19 19 [o19_0 o19_1 o19_2 o19_3 o19_4 o19_5 o19_6 o19_7 o19_8 o19_9];
    M20 20 [o20_0 o20_1 o20_2 o20_3 o20_4 o20_5 o20_6 o20_7 o20_8 o20_9];
    M21 21 [o21_0 o21_1 o21_2 o21_3 o21_4 o21_5 o21_6 o21_7 o21_8 o21_9];
    M22 22 [o22_0 o22_1 o22_2 o22_3 o22_4 o22_5 o22_6 o22_7 o22_8 o22_9];
    M23 23 [o23_0 o23_1 o23_2 o23_3 o23_4 o23_5 o23_6 o23_7 o23_8 o23_9];
    M24 24 [o24_0 o24_1 o24_2 o24_3 o24_4 o24_5 o24_6 o24_7 o24_8 o24_9];
    M25 25 [o25_0 o25_1 o25_2 o25_3 o25_4 o25_5 o25_6 o25_7 o25_8 o25_9];
    M26 26 [o26_0 o26_1 o26_2 o26_3 o26_4 o26_5 o26_6 o26_7 o26_8 o26_9];
    M27 27 [o27_0 o27_1 o27_2 o27_3 o27_4 o27_5 o27_6 o27_7 o27_8 o27_9];
    M28 28 [o28_0 o28_1 o28_2 o28_3 o28_4 o28_5 o28_6 o28_7 o28_8 o28_9];
    M29 29 [o29_0 o29_1 o29_2 o29_3 o29_4 o29_5 o29_6 o29_7 o29_8 o29_9];
    M30 30 [o30_0 o30_1 o30_2 o30_3 o30_4 o30_5 o30_6 o30_7 o30_8 o30_9];
    M31 31 [o31_0 o31_1 o31_2 o31_3 o31_4 o31_5 o31_6 o31_7 o31_8 o31_9];
    M32 32 [o32_0 o32_1 o32_2 o32_3 o32_4 o32_5 o32_6 o32_7 o32_8 o32_9];
    M33 33 [o33_0 o33_1 o33_2 o33_3 o33_4 o33_5 o33_6 o33_7 o33_8 o33_9];
    M34 34 [o34_0 o34_1 o34_2 o34_3 o34_4 o34_5 o34_6 o34_7 o34_8 o34_9];
    M35 35 [o35_0 o35_1 o35_2 o35_3 o35_4 o35_5 o35_6 o35_7 o35_8 o35_9];
    M36 36 [o36_0 o36_1 o36_2 o36_3 o36_4 o36_5 o36_6 o36_7 o36_8 o36_9];
    M37 37 [o37_0 o37_1 o37_2 o37_3 o37_4 o37_5 o37_6 o37_7 o37_8 o37_9];
    M38 38 [o38_0 o38_1 o38_2 o38_3 o38_4 o38_5 o38_6 o38_7 o38_8 o38_9];
    M39 39 [o39_0 o39_1 o39_2 o39_3 o39_4 o39_5 o39_6 o39_7 o39_8 o39_9];
    M40 40 [o40_0 o40_1 o40_2 o40_3 o40_4 o40_5 o40_6 o40_7 o40_8 o40_9];
    M41 41 [o41_0 o41_1 o41_2 o41_3 o41_4 o41_5 o41_6 o41_7 o41_8 o41_9];
    M42 42 [o42_0 o42_1 o42_2 o42_3 o42_4 o42_5 o42_6 o42_7 o42_8 o42_9];
    M43 43 [o43_0 o43_1 o43_2 o43_3 o43_4 o43_5 o43_6 o43_7 o43_8 o43_9];
    M44 44 [o44_0 o44_1 o44_2 o44_3 o44_4 o44_5 o44_6 o44_7 o44_8 o44_9];
    M45 45 [o45_0 o45_1 o45_2 o45_3 o45_4 o45_5 o45_6 o45_7 o45_8 o45_9];
    M46 46 [o46_0 o46_1 o46_2 o46_3 o46_4 o46_5 o46_6 o46_7 o46_8 o46_9];
    M47 47 [o47_0 o47_1 o47_2 o47_3 o47_4 o47_5 o47_6 o47_7 o47_8 o47_9];
    M48 48 [o48_0 o48_1 o48_2 o48_3 o48_4 o48_5 o48_6 o48_7 o48_8 o48_9];
    M49 49 [o49_0 o49_1 o49_2 o49_3 o49_4 o49_5 o49_6 o49_7 o49_8 o49_9];
}

/// The request: reads from two modules through their operations.
pub fn serve() -> u64 {
    o3_1::call(7).expect("infallible load") ^ o17_4::call(11).expect("infallible load")
}

/// The request served the eager way: on state built before, directly.
pub fn serve_eager(states: &[Box<dyn std::any::Any>]) -> u64 {
    let m3 = states[3].downcast_ref::<M3>().expect("module 3");
    let m17 = states[17].downcast_ref::<M17>().expect("module 17");
    o3_1(m3, 7) ^ o17_4(m17, 11)
}
