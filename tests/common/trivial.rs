//! `trivial!`, the hand-written module-and-operation fixture of the tests and the benches.
//! A file of its own, so a bench can include it alone:
//! `#[macro_use] #[path = "../tests/common/trivial.rs"] mod trivial;`.

/// Declares a module holding one value and a `u64 -> u64` operation on it, written by hand
/// (no attributes), as the tests of the runtime's paths and the dispatch bench need them:
///
/// ```ignore
/// trivial!(State(u64) = 7, MODULE, Add, run |state, x| state.0 + x);
/// trivial!(State(Canary) = Canary::new(), MODULE, Add, class Class::Utility, loads LOADS);
/// ```
///
/// - `State(T) = init`: the state type, a tuple struct around a `T`, which its `Load` builds
///   from `init`;
/// - `MODULE`: its static cell, named after itself, of the `class` given (or the default);
/// - `Add`: the operation on it;
/// - `loads LOADS`: a static `AtomicUsize` that counts the loads;
/// - `run |state, x| body`: the operation's `Body`. Without it the caller writes its own
///   `impl Body for Add`, for a body that needs more than an expression.
#[allow(unused_macros)] // each test binary that has `mod common` uses part of it
macro_rules! trivial {
    (
        $state:ident($field:ty) = $init:expr, $module:ident, $op:ident
        $(, class $class:expr)?
        $(, loads $loads:ident)?
        $(, run |$s:pat_param, $x:pat_param| $body:expr)?
    ) => {
        $(static $loads: ::std::sync::atomic::AtomicUsize = ::std::sync::atomic::AtomicUsize::new(0);)?
        // A body that answers without its state never reads the field.
        #[allow(dead_code)]
        struct $state($field);
        impl ::lmms::Load for $state {
            type Error = ::std::convert::Infallible;
            fn load() -> Result<Self, Self::Error> {
                $($loads.fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);)?
                Ok($state($init))
            }
        }
        static $module: ::lmms::ModuleCell<$state> =
            ::lmms::ModuleCell::new(::lmms::ModuleDef::new(stringify!($module))$(.class($class))?);
        struct $op;
        impl ::lmms::op::Operation for $op {
            type State = $state;
            type Args = u64;
            type Output = u64;
            fn source() -> ::lmms::op::Source<$state> {
                ::lmms::op::Source::Module(&$module)
            }
        }
        $(
            impl ::lmms::op::Body for $op {
                // The bench times the call around the body, not a call into it.
                #[inline]
                fn run($s: &$state, $x: u64) -> u64 {
                    $body
                }
            }
        )?
    };
}
