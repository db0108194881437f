//! Operations: the typed calls that use a module's state, with their heat, direct path and
//! result cache.
//!
//! One managed call, in order (the cache comes before the direct path, so that a hit never loads or pins a module and a hot
//! cached operation still answers from its cache):
//! 1. cache (operations with a TTL): a live entry → return it, the module is not touched,
//!    and the hit does not count toward the heat;
//! 2. hot path: the operation is hot → run the body on the pinned state (and store the result,
//!    for a cached operation), return;
//! 3. load: take a guard on the module, loading it if needed;
//! 4. run the body; 5. store in the cache; 6. count the call, promoting at the thresholds,
//!    while the guard still holds the state (a promotion pins what this call used);
//! 7. drop the guard, which stamps the module's last use.
//!
//! Everything on that path is monomorphized per operation: no `dyn Any`, no boxing, no
//! lookup by name.

use crate::cache::{CachePolicy, Cached, CloneOutput, Lookup, NoCache};
use crate::cell::CellGuard;
use crate::context::{Context, OpEntry, RuntimeInner};
use crate::def::OpDef;
use crate::dispatch::{Direct, DirectCall};
use crate::error::Error;
use crate::heat::Heat;
use crate::hot::{self, OpCore};
use crate::module::{ModuleCell, PinGuard};
use crate::stats::OpStats;
use crate::sync::lock;
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Where an operation's state comes from.
pub enum Source<T: 'static> {
    /// A module, loaded on demand and pinned while the operation is hot.
    Module(&'static ModuleCell<T>),
    /// No module: a stateless operation gets this value (usually `&()`); heat and the
    /// cache still apply.
    Stateless(&'static T),
}

/// An operation: a plain function of a module's state and its arguments.
///
/// ```
/// use lmms::{Load, ModuleCell, ModuleDef};
/// use lmms::op::{Body, Op, OpDef, Operation, Source};
///
/// struct Rates(Vec<f64>);
/// impl Load for Rates {
///     type Error = std::convert::Infallible;
///     fn load() -> Result<Self, Self::Error> { Ok(Rates(vec![1.0, 0.92, 151.3])) }
/// }
/// static RATES: ModuleCell<Rates> = ModuleCell::new(ModuleDef::new("rates"));
///
/// struct Convert;
/// impl Operation for Convert {
///     type State = Rates;
///     type Args = (usize, f64);
///     type Output = f64;
///     fn source() -> Source<Rates> { Source::Module(&RATES) }
/// }
/// impl Body for Convert {
///     fn run(rates: &Rates, (currency, amount): (usize, f64)) -> f64 { rates.0[currency] * amount }
/// }
/// static CONVERT: Op<Convert> = Op::new(OpDef::new("fx", "convert"));
///
/// assert_eq!(CONVERT.call((1, 100.0))?, 92.0);
/// # Ok::<(), lmms::Error>(())
/// ```
pub trait Operation: Sized + 'static {
    /// The module state the body reads (`()` for a stateless operation).
    type State: Send + Sync + 'static;
    /// The arguments, as one value (a tuple for several).
    type Args: Send;
    /// What the body returns; an operation's own error stays inside it (a `Result`), apart
    /// from lmms's errors, which [`Op::call`] returns.
    type Output: Send;

    /// Where the state comes from.
    fn source() -> Source<Self::State>;
}

/// The body of a synchronous operation: what [`Op::call`] runs, and what the direct path
/// runs once the operation is hot. (An `async fn` operation has no `Body`: its generated
/// `call` runs the body between [`Op::begin`] and [`Running::finish`](crate::op::Running::finish).)
///
/// ```
/// struct Double;
/// impl lmms::op::Operation for Double {
///     type State = ();
///     type Args = u32;
///     type Output = u32;
///     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
/// }
/// impl lmms::op::Body for Double {
///     fn run(_: &(), x: u32) -> u32 { 2 * x }
/// }
/// static DOUBLE: lmms::op::Op<Double> = lmms::op::Op::new(lmms::op::OpDef::new("math", "double"));
/// assert_eq!(DOUBLE.call(21)?, 42);
/// # Ok::<(), lmms::Error>(())
/// ```
pub trait Body: Operation {
    /// The body.
    fn run(state: &Self::State, args: Self::Args) -> Self::Output;
}

/// An operation's descriptor and dispatch: a `static` per operation holding its heat, its
/// direct path, its cache and its counters. [`call`](Op::call) is the managed call.
///
/// `C` is [`NoCache`] ([`Op::new`]) or [`Cached`] ([`Op::cached`]).
pub struct Op<O: Operation, C = NoCache> {
    pub(crate) core: OpCore,
    pub(crate) cache: C,
    _op: PhantomData<fn() -> O>,
}

/// What keeps a hot operation's state alive: a guard on its module and the module's
/// "pinned" count. Dropped (through the retire list) once no direct call can be reading.
struct Hold<T: 'static> {
    _guard: Option<CellGuard<'static, T>>,
    _pin: Option<PinGuard<'static>>,
}

impl<O: Operation> Op<O, NoCache> {
    crate::sync::const_fn! {
        /// An operation without a result cache.
        ///
        /// ```
        /// # struct Ping;
        /// # impl lmms::op::Operation for Ping {
        /// #     type State = (); type Args = (); type Output = &'static str;
        /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
        /// # }
        /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) -> &'static str { "pong" } }
        /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
        /// assert_eq!(PING.call(())?, "pong");
        /// # Ok::<(), lmms::Error>(())
        /// ```
        pub const fn new(def: OpDef) -> Self {
            Op::with_cache(def, NoCache)
        }
    }
}

impl<O: Operation> Op<O, Cached<O::Args, O::Output>>
where
    O::Args: Hash + Eq + Clone + Sync + 'static,
    O::Output: Clone + Sync + 'static,
{
    crate::sync::const_fn! {
        /// An operation whose results are cached for `ttl`, at most `capacity` of them, keyed
        /// by its arguments. A hit is answered before the module is touched.
        ///
        /// ```
        /// # struct Square;
        /// # impl lmms::op::Operation for Square {
        /// #     type State = (); type Args = u64; type Output = u64;
        /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
        /// # }
        /// # impl lmms::op::Body for Square { fn run(_: &(), x: u64) -> u64 { x * x } }
        /// use std::time::Duration;
        /// static SQUARE: lmms::op::Op<Square, lmms::op::Cached<u64, u64>> =
        ///     lmms::op::Op::cached(lmms::op::OpDef::new("math", "square"), Duration::from_secs(300), 1024);
        /// assert_eq!(SQUARE.call(12)?, 144);
        /// assert_eq!(SQUARE.call(12)?, 144); // from the cache
        /// assert_eq!(SQUARE.stats().cache.unwrap().hits, 1);
        /// # Ok::<(), lmms::Error>(())
        /// ```
        pub const fn cached(def: OpDef, ttl: Duration, capacity: u64) -> Self {
            Op::with_cache(def, Cached::new(ttl, capacity))
        }
    }

    crate::sync::const_fn! {
        /// An operation whose results are cached for `ttl` while their total weight, as
        /// `weigh` gives it (bytes, say), stays within `capacity`.
        ///
        /// ```
        /// # struct Page;
        /// # impl lmms::op::Operation for Page {
        /// #     type State = (); type Args = u32; type Output = Vec<u8>;
        /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
        /// # }
        /// # impl lmms::op::Body for Page { fn run(_: &(), n: u32) -> Vec<u8> { vec![0; n as usize] } }
        /// use std::time::Duration;
        /// fn bytes(_: &u32, page: &Vec<u8>) -> u64 { page.len() as u64 }
        /// static PAGE: lmms::op::Op<Page, lmms::op::Cached<u32, Vec<u8>>> =
        ///     lmms::op::Op::cached_weighed(lmms::op::OpDef::new("web", "page"), Duration::from_secs(60), 4096, bytes);
        /// assert_eq!(PAGE.call(1000)?.len(), 1000);
        /// # Ok::<(), lmms::Error>(())
        /// ```
        pub const fn cached_weighed(
            def: OpDef,
            ttl: Duration,
            capacity: u64,
            weigh: fn(&O::Args, &O::Output) -> u64,
        ) -> Self {
            Op::with_cache(def, Cached::weighed(ttl, capacity, weigh))
        }
    }
}

impl<O: Operation, Copier> Op<O, Cached<O::Args, O::Output, Copier>>
where
    O::Args: Hash + Eq + Clone + Sync + 'static,
    O::Output: Sync + 'static,
    Copier: CloneOutput<O::Output> + 'static,
{
    crate::sync::const_fn! {
        /// An operation with the result cache `cache`, as [`Cached`]'s own constructors build
        /// it (a weigher, [`Cached::keep_if`]).
        ///
        /// ```
        /// # struct Quote;
        /// # impl lmms::op::Operation for Quote {
        /// #     type State = (); type Args = String; type Output = Result<u32, String>;
        /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
        /// # }
        /// # impl lmms::op::Body for Quote { fn run(_: &(), s: String) -> Result<u32, String> { Ok(s.len() as u32) } }
        /// use lmms::op::{Cached, Op, OpDef};
        /// use std::time::Duration;
        /// fn is_ok(output: &Result<u32, String>) -> bool { output.is_ok() }
        /// static QUOTE: Op<Quote, Cached<String, Result<u32, String>>> = Op::caching(
        ///     OpDef::new("market", "quote"),
        ///     Cached::new(Duration::from_secs(60), 1024).keep_if(is_ok),
        /// );
        /// assert_eq!(QUOTE.call("ACME".into())?, Ok(4));
        /// # Ok::<(), lmms::Error>(())
        /// ```
        pub const fn caching(def: OpDef, cache: Cached<O::Args, O::Output, Copier>) -> Self {
            Op::with_cache(def, cache)
        }
    }
}

impl<O: Operation, C> Op<O, C> {
    crate::sync::const_fn! {
        const fn with_cache(def: OpDef, cache: C) -> Self {
            Op {
                core: OpCore::new(def),
                cache,
                _op: PhantomData,
            }
        }
    }

    /// The direct path, typed.
    #[inline]
    fn direct(&self) -> &Direct<O::State> {
        // SAFETY: this operation's `RawDirect` is published only here, through this view,
        // with `O::State` (in `promote`).
        unsafe { Direct::from_raw(&self.core.direct) }
    }

    /// What the registry and the runtime see of this operation.
    pub(crate) const fn core(&'static self) -> &'static OpCore {
        &self.core
    }

    /// The operation's interface and name.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
    /// assert_eq!(PING.def().interface(), "health");
    /// ```
    pub const fn def(&self) -> &OpDef {
        &self.core.def
    }
}

impl<O, C> Op<O, C>
where
    O: Body,
    C: CachePolicy<O::Args, O::Output>,
{
    /// The managed call: the cache (for an operation with a TTL), then the direct path if
    /// the operation is hot, else the module (loaded if needed) and the body. Returns lmms's own failures (the module's
    /// load failed or panicked, a re-entrant load) as [`Error`]; the body's own errors are
    /// in its output.
    ///
    /// An operation with a result cache looks in its cache first, hot or not: a hit never
    /// loads or pins its module, and it does not count toward the heat (only calls that run
    /// the body do), so a cached operation turns hot only when its misses are frequent.
    #[inline]
    pub fn call(&'static self, args: O::Args) -> Result<O::Output, Error> {
        if C::CACHES {
            return self.call_cached(args);
        }
        match self.call_direct(args) {
            DirectCall::Ran(output) => output,
            // Without a cache the lookup is `Miss(())`, compiled away.
            DirectCall::NotHot(args) => match self.cache.lookup(&args, 0) {
                Lookup::Hit(hit) => Ok(hit),
                Lookup::Miss(key) => self.call_managed(args, key),
            },
        }
    }

    /// The direct path, if the operation is hot; the arguments back otherwise.
    #[inline]
    fn call_direct(&'static self, args: O::Args) -> DirectCall<Result<O::Output, Error>, O::Args> {
        self.direct().call_with(args, |state, args| {
            self.core.used_hot();
            if self.core.counting.load(Relaxed) {
                self.count_direct();
            }
            self.run(state, args)
        })
    }

    #[inline]
    fn call_cached(&'static self, args: O::Args) -> Result<O::Output, Error> {
        let shared = self.runtime()?;
        let now = shared.time.recent();
        let key = match self.cache.lookup(&args, now) {
            Lookup::Hit(hit) => return Ok(hit),
            Lookup::Miss(key) => key,
        };
        match self.call_direct(args) {
            DirectCall::Ran(output) => {
                let output = output?;
                self.cache.store(key, &output, now);
                Ok(output)
            }
            DirectCall::NotHot(args) => self.call_managed(args, key),
        }
    }

    /// The body, with a panic in it answered as [`Error::OperationPanicked`]: the unwind
    /// has released the guard (or left the direct path), the call is not counted, and the
    /// next call runs as usual.
    #[inline]
    fn run(&self, state: &O::State, args: O::Args) -> Result<O::Output, Error> {
        panic::catch_unwind(AssertUnwindSafe(|| O::run(state, args)))
            .map_err(|payload| self.core.panicked(payload))
    }

    /// Steps 3 to 7 of the call flow: the guard, the body, the cache store, the count. The
    /// guard is held until the call is counted, so a promotion it triggers pins the state
    /// this call used rather than loading it again (a feature module would otherwise be
    /// unloaded by the guard's drop and loaded straight back).
    #[inline]
    fn call_managed(&'static self, args: O::Args, key: C::Key) -> Result<O::Output, Error> {
        let shared = self.runtime()?;
        let now = shared.time.recent();
        let output = match O::source() {
            Source::Module(module) => {
                let guard = module.get()?;
                let output = self.run(&guard, args)?;
                self.cache.store(key, &output, now);
                self.count(shared);
                drop(guard);
                output
            }
            Source::Stateless(state) => {
                let output = self.run(state, args)?;
                self.cache.store(key, &output, now);
                self.count(shared);
                output
            }
        };
        Ok(output)
    }
}

impl<O, C> Op<O, C>
where
    O: Operation,
    C: CachePolicy<O::Args, O::Output>,
{
    /// The runtime this operation reports to: its module's, or the global one for a
    /// stateless operation not [added](crate::Runtime::add_op) elsewhere. Binds it there
    /// on first use.
    #[inline]
    pub(crate) fn runtime(&'static self) -> Result<&'static Context, Error> {
        match self.core.binding.runtime.get() {
            Some(shared) => Ok(shared),
            None => self.bind_first(),
        }
    }

    #[cold]
    fn bind_first(&'static self) -> Result<&'static Context, Error> {
        let shared = match O::source() {
            Source::Module(module) => module.runtime()?,
            Source::Stateless(_) => &RuntimeInner::global().shared,
        };
        Ok(self.bind(shared).0)
    }

    /// Binds to `shared` unless bound already; returns the runtime it is bound to and
    /// whether it was bound just now.
    pub(crate) fn bind(&'static self, shared: &Arc<Context>) -> (&'static Context, bool) {
        // User code (a hand-written `source`) runs before anything is set, so a panic in
        // it leaves the operation unbound, to bind on its next call.
        let module = match O::source() {
            Source::Module(module) => Some(module.info()),
            Source::Stateless(_) => None,
        };
        shared.bind_op(&self.core, module, self.cache.as_dyn())
    }

    #[cold]
    fn count_direct(&'static self) {
        self.core.direct_hits.fetch_add(1, Relaxed);
        if let Some(shared) = self.core.binding.runtime.get() {
            self.count(shared);
        }
    }

    /// Counts a call toward the heat thresholds, until the operation is critical.
    #[inline]
    pub(crate) fn count(&'static self, shared: &Context) {
        if self.core.counting.load(Relaxed) {
            self.count_call(shared);
        }
    }

    fn count_call(&'static self, shared: &Context) {
        let heat = shared.config.heat;
        let calls = self.core.calls.fetch_add(1, Relaxed) + 1;
        if calls == heat.warm() {
            self.core.promotions[0].fetch_add(1, Relaxed);
            self.core.promoted("cold", "warm");
        }
        if calls == heat.hot() {
            self.promote(shared);
        }
        if calls >= heat.critical() && self.core.counting.swap(false, Relaxed) {
            self.core.promotions[2].fetch_add(1, Relaxed);
            self.core.promoted("hot", "critical");
        }
    }

    /// Pins the module first (unload check 2 then keeps it), then switches the dispatch to
    /// the direct path.
    ///
    /// The state is held (and, if it must be, loaded) before any lock is taken, so a loader
    /// may sweep, demote or call this very operation; a slot under the hot-path cap is
    /// reserved before the path is published, so the cap holds however many promotions
    /// race.
    fn promote(&'static self, shared: &Context) {
        if shared.config.max_hot_paths == 0 || self.core.direct.is_published() {
            return;
        }
        let (state, held) = match O::source() {
            Source::Module(module) => {
                let Ok((guard, pin)) = module.hold() else {
                    return;
                };
                let state = NonNull::from(guard.get());
                (
                    state,
                    Hold {
                        _guard: Some(guard),
                        _pin: Some(pin),
                    },
                )
            }
            Source::Stateless(state) => (
                NonNull::from(state),
                Hold {
                    _guard: None,
                    _pin: None,
                },
            ),
        };
        // Before the reservation: the first registration is a slow system call, and racing
        // promotions wait for a reserved place to be published.
        crate::barrier::prepare();
        if !hot::reserve(shared, &self.core) {
            return;
        }
        let mut hold = lock(&self.core.hold);
        if hold.is_some() {
            drop(hold);
            shared.hot_paths.fetch_sub(1, Relaxed);
            return;
        }
        *hold = Some(Box::new(held));
        self.core.last_hot_use.store(shared.time.recent(), Relaxed);
        // Published under the lock, so a demotion cannot slip in between.
        self.direct().publish(state);
        drop(hold);
        self.core.promotions[1].fetch_add(1, Relaxed);
        self.core.promoted("warm", "hot");
    }

    /// The operation's heat now.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
    /// assert_eq!(PING.heat(), lmms::report::Heat::Cold);
    /// ```
    pub fn heat(&self) -> Heat {
        self.core.heat()
    }

    /// Whether calls take the direct path now.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
    /// assert!(!PING.is_hot());
    /// ```
    pub fn is_hot(&self) -> bool {
        self.core.direct.is_published()
    }

    /// Drops every cached result of this operation.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
    /// PING.invalidate(); // nothing cached: nothing to do
    /// ```
    pub fn invalidate(&'static self) {
        if let Some(cache) = self.cache.as_dyn() {
            cache.clear();
        }
    }

    /// This operation's figures.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::op::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::op::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::op::Op<Ping> = lmms::op::Op::new(lmms::op::OpDef::new("health", "ping"));
    /// assert_eq!(PING.stats().name, "ping");
    /// ```
    pub fn stats(&'static self) -> OpStats {
        let mut stats = OpEntry::stats(&self.core);
        // Before its first call an operation is bound to no runtime, so its core has no
        // cache yet: read it here.
        if let Some(cache) = self.cache.as_dyn() {
            stats.cache = Some(cache.counts());
            stats.cache_entries = cache.len();
        }
        stats
    }
}
