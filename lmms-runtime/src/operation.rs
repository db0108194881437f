//! Operations: the typed calls that use a module's state, with ZAFP's heat and direct path
//! and the result cache.
//!
//! One managed call, in order (the design's call flow; the seed checks its fast path before
//! its cache, lmms the other way round, so that a hit never loads or pins a module and a hot
//! cached operation still answers from its cache):
//! 1. cache (operations with a TTL): a live entry → return it, the module is not touched,
//!    and the hit does not count toward the heat;
//! 2. ZAFP: the operation is hot → run the body on the pinned state (and store the result,
//!    for a cached operation), return;
//! 3. LIGS: take a guard on the module, loading it if needed;
//! 4. run the body; 5. store in the cache; 6. count the call, promoting at the thresholds,
//!    while the guard still holds the state (a promotion pins what this call used);
//! 7. drop the guard (LUGS stamps the use).
//!
//! Everything on that path is monomorphized per operation: no `dyn Any`, no boxing, no
//! lookup by name.

use crate::cache::{CachePolicy, Cached, NoCache, ResultCache};
use crate::cell::CellGuard;
use crate::dispatch::{Direct, RawDirect};
use crate::error::Error;
use crate::heat::Heat;
use crate::module::{panic_message, Guard, Info, ModuleCell, Pin};
use crate::runtime::{Runtime, Shared};
use crate::stats::OpStats;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
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
/// use lmms::{Body, Load, ModuleCell, ModuleDef, Op, OpDef, Operation, Source};
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
/// `call` runs the body between [`Op::begin`] and [`Running::finish`].)
///
/// ```
/// struct Double;
/// impl lmms::Operation for Double {
///     type State = ();
///     type Args = u32;
///     type Output = u32;
///     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
/// }
/// impl lmms::Body for Double {
///     fn run(_: &(), x: u32) -> u32 { 2 * x }
/// }
/// static DOUBLE: lmms::Op<Double> = lmms::Op::new(lmms::OpDef::new("math", "double"));
/// assert_eq!(DOUBLE.call(21)?, 42);
/// # Ok::<(), lmms::Error>(())
/// ```
pub trait Body: Operation {
    /// The body.
    fn run(state: &Self::State, args: Self::Args) -> Self::Output;
}

/// An operation's interface and name: the seed's `(interface, operation)` key.
///
/// ```
/// const DEF: lmms::OpDef = lmms::OpDef::new("weather", "forecast");
/// assert_eq!((DEF.interface(), DEF.name()), ("weather", "forecast"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpDef {
    /// The interface, or the path of the Rust module it is named after.
    interface: &'static str,
    from_path: bool,
    name: &'static str,
}

impl OpDef {
    /// The operation `name` of `interface`.
    ///
    /// ```
    /// assert_eq!(lmms::OpDef::new("http", "get").name(), "get");
    /// ```
    pub const fn new(interface: &'static str, name: &'static str) -> Self {
        OpDef {
            interface,
            from_path: false,
            name,
        }
    }

    /// The operation `name` of the interface named after the Rust module that holds the
    /// module at `module_path` (as `module_path!()` gives it inside the module
    /// `#[lmms::operation]` generates): that holder's name, or `crate` at the crate's root.
    /// The attribute uses this when no `interface` is given.
    ///
    /// ```
    /// let def = lmms::OpDef::generated_in("app::weather::forecast", "forecast");
    /// assert_eq!(def.interface(), "weather");
    /// assert_eq!(lmms::OpDef::generated_in("app::health", "health").interface(), "crate");
    /// ```
    pub const fn generated_in(module_path: &'static str, name: &'static str) -> Self {
        OpDef {
            interface: module_path,
            from_path: true,
            name,
        }
    }

    /// The interface.
    ///
    /// ```
    /// assert_eq!(lmms::OpDef::new("http", "get").interface(), "http");
    /// ```
    pub fn interface(&self) -> &'static str {
        if !self.from_path {
            return self.interface;
        }
        // `crate::…::holder::generated`: the holder is the second segment from the end,
        // unless it is the crate itself.
        let mut segments = self.interface.rsplit("::").skip(1);
        match (segments.next(), segments.next()) {
            (Some(holder), Some(_)) => holder,
            _ => "crate",
        }
    }

    /// The operation's name within its interface.
    ///
    /// ```
    /// assert_eq!(lmms::OpDef::new("http", "get").name(), "get");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

/// An operation's descriptor and dispatch: a `static` per operation holding its heat, its
/// direct path, its cache and its counters. [`call`](Op::call) is the managed call.
///
/// `C` is [`NoCache`] ([`Op::new`]) or [`Cached`] ([`Op::cached`]).
pub struct Op<O: Operation, C = NoCache> {
    core: OpCore,
    cache: C,
    _op: PhantomData<fn() -> O>,
}

/// Everything of an operation but its types: counters, heat, the direct path's address, the
/// hold that pins its module while hot. Cooling, demotion and statistics work on this alone,
/// so they are compiled once for all operations rather than once per operation (the
/// registry reaches every operation through this, and a generic vtable made rustc generate
/// them all for each).
pub(crate) struct OpCore {
    def: OpDef,
    /// Calls in the current heat window; frozen once critical.
    calls: AtomicU64,
    /// Whether calls are still counted (false from critical on: no per-call counting).
    counting: AtomicBool,
    /// Runtime time (ms) of the last use while hot (the promotion, a direct call, a call
    /// that finished while hot): the hot-path LRU, and the last use a demotion hands to
    /// the module.
    last_hot_use: AtomicU64,
    /// The direct path's address, untyped; the `Op` reads it as its state's type.
    direct: RawDirect,
    /// While hot: the guard that pins the module, and the pin's count (a [`Hold`]).
    hold: Mutex<Option<Box<dyn Send>>>,
    shared: OnceLock<Arc<Shared>>,
    /// The operation's module, if it has one: read once, when the operation joins its
    /// runtime, so that no later step (a demotion, the stats) runs `Operation::source`.
    module: OnceLock<Option<&'static Info>>,
    /// The result cache, once the operation is bound to a runtime.
    cache: OnceLock<&'static dyn ResultCache>,
    direct_hits: AtomicU64,
    promotions: [AtomicU64; 3],
    /// Demotions by cause: cooled, evicted by the hot-path cap.
    demotions: [AtomicU64; 2],
}

/// What keeps a hot operation's state alive: a guard on its module and the module's
/// "pinned" count. Dropped (through the retire list) once no direct call can be reading.
struct Hold<T: 'static> {
    _guard: Option<CellGuard<'static, T>>,
    _pin: Option<Pin<'static>>,
}

impl<O: Operation> Op<O, NoCache> {
    /// An operation without a result cache.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = &'static str;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) -> &'static str { "pong" } }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
    /// assert_eq!(PING.call(())?, "pong");
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub const fn new(def: OpDef) -> Self {
        Op::with_cache(def, NoCache)
    }
}

impl<O: Operation> Op<O, Cached<O::Args, O::Output>>
where
    O::Args: Hash + Eq + Clone + Sync + 'static,
    O::Output: Clone + Sync + 'static,
{
    /// An operation whose results are cached for `ttl`, at most `capacity` of them, keyed
    /// by its arguments. A hit is answered before the module is touched.
    ///
    /// ```
    /// # struct Square;
    /// # impl lmms::Operation for Square {
    /// #     type State = (); type Args = u64; type Output = u64;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Square { fn run(_: &(), x: u64) -> u64 { x * x } }
    /// use std::time::Duration;
    /// static SQUARE: lmms::Op<Square, lmms::Cached<u64, u64>> =
    ///     lmms::Op::cached(lmms::OpDef::new("math", "square"), Duration::from_secs(300), 1024);
    /// assert_eq!(SQUARE.call(12)?, 144);
    /// assert_eq!(SQUARE.call(12)?, 144); // from the cache
    /// assert_eq!(SQUARE.stats().cache.unwrap().hits, 1);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub const fn cached(def: OpDef, ttl: Duration, capacity: u64) -> Self {
        Op::with_cache(def, Cached::new(ttl, capacity))
    }

    /// An operation whose results are cached for `ttl` while their total weight, as
    /// `weigh` gives it (bytes, say), stays within `capacity`.
    ///
    /// ```
    /// # struct Page;
    /// # impl lmms::Operation for Page {
    /// #     type State = (); type Args = u32; type Output = Vec<u8>;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Page { fn run(_: &(), n: u32) -> Vec<u8> { vec![0; n as usize] } }
    /// use std::time::Duration;
    /// fn bytes(_: &u32, page: &Vec<u8>) -> u64 { page.len() as u64 }
    /// static PAGE: lmms::Op<Page, lmms::Cached<u32, Vec<u8>>> =
    ///     lmms::Op::cached_weighed(lmms::OpDef::new("web", "page"), Duration::from_secs(60), 4096, bytes);
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

impl<O: Operation, C> Op<O, C> {
    const fn with_cache(def: OpDef, cache: C) -> Self {
        Op {
            core: OpCore {
                def,
                calls: AtomicU64::new(0),
                counting: AtomicBool::new(true),
                last_hot_use: AtomicU64::new(0),
                direct: RawDirect::new(),
                hold: Mutex::new(None),
                shared: OnceLock::new(),
                module: OnceLock::new(),
                cache: OnceLock::new(),
                direct_hits: AtomicU64::new(0),
                promotions: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
                demotions: [AtomicU64::new(0), AtomicU64::new(0)],
            },
            cache,
            _op: PhantomData,
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
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
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
    /// The managed call: the direct path if the operation is hot, else the cache, else the
    /// module (loaded if needed) and the body. Returns lmms's own failures (the module's
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
            Ok(output) => output,
            // Without a cache the lookup is `Err(())`, compiled away.
            Err(args) => match self.cache.lookup(&args, 0) {
                Ok(hit) => Ok(hit),
                Err(key) => self.call_managed(args, key),
            },
        }
    }

    /// The direct path, if the operation is hot; the arguments back otherwise.
    #[inline]
    fn call_direct(&'static self, args: O::Args) -> Result<Result<O::Output, Error>, O::Args> {
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
        let shared = self.bind()?;
        let now = shared.time.recent();
        let key = match self.cache.lookup(&args, now) {
            Ok(hit) => return Ok(hit),
            Err(key) => key,
        };
        match self.call_direct(args) {
            Ok(output) => {
                let output = output?;
                self.cache.store(key, &output, now);
                Ok(output)
            }
            Err(args) => self.call_managed(args, key),
        }
    }

    /// The body, with a panic in it answered as [`Error::OperationPanicked`]: the unwind
    /// has released the guard (or left the direct path), the call is not counted, and the
    /// next call runs as usual.
    #[inline]
    fn run(&self, state: &O::State, args: O::Args) -> Result<O::Output, Error> {
        panic::catch_unwind(AssertUnwindSafe(|| O::run(state, args)))
            .map_err(|payload| self.core.panicked(&*payload))
    }

    /// Steps 3 to 7 of the call flow: the guard, the body, the count, the cache store. The
    /// guard is held until the call is counted, so a promotion it triggers pins the state
    /// this call used rather than loading it again (a feature module would otherwise be
    /// unloaded by the guard's drop and loaded straight back).
    #[inline]
    fn call_managed(&'static self, args: O::Args, key: C::Key) -> Result<O::Output, Error> {
        let shared = self.bind()?;
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
    /// The first half of a managed call whose body runs elsewhere — an `async fn`
    /// operation's, between awaits. A cached result comes back as [`Begin::Done`];
    /// otherwise [`Begin::Run`] holds the state (the module's guard, so it cannot be
    /// unloaded until the [`Running`] is dropped) and gives the arguments back. The direct
    /// path is not taken: it cannot span an await. A hot operation's module stays pinned
    /// all the same, so its state is resident when the call comes.
    ///
    /// ```
    /// # struct Len;
    /// # impl lmms::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// static LEN: lmms::Op<Len> = lmms::Op::new(lmms::OpDef::new("text", "len"));
    /// let output = match LEN.begin("four".to_owned())? {
    ///     lmms::Begin::Done(output) => output,
    ///     lmms::Begin::Run(running, text) => {
    ///         let () = running.state();
    ///         running.finish(text.len()) // in an async body: after the awaits
    ///     }
    /// };
    /// assert_eq!(output, 4);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn begin(&'static self, args: O::Args) -> Result<Begin<O, C>, Error> {
        let shared = self.bind()?;
        let now = shared.time.recent();
        let key = match self.cache.lookup(&args, now) {
            Ok(hit) => return Ok(Begin::Done(hit)),
            Err(key) => key,
        };
        let state = match O::source() {
            Source::Module(module) => Held::Module(module.get()?),
            Source::Stateless(state) => Held::Static(state),
        };
        let running = Running {
            op: self,
            shared,
            state,
            key,
            now,
        };
        Ok(Begin::Run(running, args))
    }

    /// The runtime this operation reports to: its module's, or the global one for a
    /// stateless operation not [added](Runtime::add_op) elsewhere. Registers it there on
    /// first use.
    #[inline]
    fn bind(&'static self) -> Result<&'static Shared, Error> {
        match self.core.shared.get() {
            Some(shared) => Ok(shared),
            None => self.bind_first(),
        }
    }

    #[cold]
    fn bind_first(&'static self) -> Result<&'static Shared, Error> {
        match O::source() {
            Source::Module(module) => {
                let shared = module.runtime()?;
                Ok(self.join(shared).0)
            }
            Source::Stateless(_) => Ok(Runtime::global().add_op_inner(self).0),
        }
    }

    /// Binds to `shared` unless bound already; returns the runtime it is bound to and
    /// whether it just joined.
    pub(crate) fn join(&'static self, shared: &Arc<Shared>) -> (&'static Shared, bool) {
        // User code (a hand-written `source`) runs before anything is set, so a panic in
        // it leaves the operation unbound, to bind on its next call.
        let module = match O::source() {
            Source::Module(module) => Some(module),
            Source::Stateless(_) => None,
        };
        let mut fresh = false;
        let bound = self.core.shared.get_or_init(|| {
            fresh = true;
            Arc::clone(shared)
        });
        if fresh {
            let _ = self.core.module.set(module.map(ModuleCell::info));
            bound.register_op(&self.core);
            if let Some(cache) = self.cache.as_dyn() {
                let _ = self.core.cache.set(cache);
                if let Some(module) = module {
                    module.attach_cache(cache);
                }
            }
        }
        (bound, fresh)
    }

    #[cold]
    fn count_direct(&'static self) {
        self.core.direct_hits.fetch_add(1, Relaxed);
        if let Some(shared) = self.core.shared.get() {
            self.count(shared);
        }
    }

    /// Counts a call toward the heat thresholds, until the operation is critical.
    #[inline]
    fn count(&'static self, shared: &Shared) {
        if self.core.counting.load(Relaxed) {
            self.count_call(shared);
        }
    }

    fn count_call(&'static self, shared: &Shared) {
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

    /// Pins the module first (LUGS check 2 then keeps it), then switches the dispatch to
    /// the direct path.
    ///
    /// The state is held (and, if it must be, loaded) before any lock is taken, so a loader
    /// may sweep, demote or call this very operation; a slot under the hot-path cap is
    /// reserved before the path is published, so the cap holds however many promotions
    /// race.
    fn promote(&'static self, shared: &Shared) {
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
        if !shared.reserve_hot_path(&self.core) {
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
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
    /// assert_eq!(PING.heat(), lmms::Heat::Cold);
    /// ```
    pub fn heat(&self) -> Heat {
        self.core.heat()
    }

    /// Whether calls take the direct path now.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
    /// assert!(!PING.is_hot());
    /// ```
    pub fn is_hot(&self) -> bool {
        self.core.direct.is_published()
    }

    /// Drops every cached result of this operation.
    ///
    /// ```
    /// # struct Ping;
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
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
    /// # impl lmms::Operation for Ping {
    /// #     type State = (); type Args = (); type Output = ();
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # impl lmms::Body for Ping { fn run(_: &(), _: ()) {} }
    /// static PING: lmms::Op<Ping> = lmms::Op::new(lmms::OpDef::new("health", "ping"));
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

/// What [`Op::begin`] found: a cached output, or the state to run the body on.
pub enum Begin<O: Operation, C: CachePolicy<O::Args, O::Output>> {
    /// A live cached result; the module was not touched.
    Done(O::Output),
    /// Run the body on [`Running::state`] with these arguments, then
    /// [`finish`](Running::finish).
    Run(Running<O, C>, O::Args),
}

/// A managed call between [`Op::begin`] and [`Running::finish`]: it holds the module's
/// guard, so the state cannot be unloaded meanwhile. `Send`, so it can be held across
/// `.await`. Dropped without `finish` (the body panicked, or the future was cancelled),
/// it releases the guard and counts nothing.
pub struct Running<O: Operation, C: CachePolicy<O::Args, O::Output>> {
    op: &'static Op<O, C>,
    shared: &'static Shared,
    state: Held<O::State>,
    key: C::Key,
    now: u64,
}

enum Held<T: Send + Sync + 'static> {
    Module(Guard<'static, T>),
    Static(&'static T),
}

impl<O: Operation, C: CachePolicy<O::Args, O::Output>> Running<O, C> {
    /// The state the body runs on.
    ///
    /// ```
    /// # struct Len;
    /// # impl lmms::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::Op<Len> = lmms::Op::new(lmms::OpDef::new("text", "len"));
    /// if let lmms::Begin::Run(running, _) = LEN.begin(String::new())? {
    ///     assert_eq!(running.state(), &());
    /// }
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn state(&self) -> &O::State {
        match &self.state {
            Held::Module(guard) => guard,
            Held::Static(state) => state,
        }
    }

    /// Awaits the body's future, answering a panic in it as [`Error::OperationPanicked`]
    /// (the guard this call holds is released as the future unwinds).
    ///
    /// ```
    /// # struct Len;
    /// # impl lmms::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::Op<Len> = lmms::Op::new(lmms::OpDef::new("text", "len"));
    /// async fn measure() -> Result<usize, lmms::Error> {
    ///     match LEN.begin("abc".to_owned())? {
    ///         lmms::Begin::Done(output) => Ok(output),
    ///         lmms::Begin::Run(running, text) => {
    ///             let output = running.guard(async { text.len() }).await?;
    ///             Ok(running.finish(output))
    ///         }
    ///     }
    /// }
    /// ```
    pub async fn guard<F: Future<Output = O::Output>>(&self, body: F) -> Result<O::Output, Error> {
        let mut body = std::pin::pin!(body);
        std::future::poll_fn(|cx| {
            match panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(self.op.core.panicked(&*payload))),
            }
        })
        .await
    }

    /// Ends the call with the body's output: caches it (for an operation with a TTL),
    /// counts the call (promoting at the thresholds), releases the guard, and hands the
    /// output back.
    ///
    /// ```
    /// # struct Len;
    /// # impl lmms::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::Source<()> { lmms::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::Op<Len> = lmms::Op::new(lmms::OpDef::new("text", "len"));
    /// if let lmms::Begin::Run(running, text) = LEN.begin("abc".to_owned())? {
    ///     assert_eq!(running.finish(text.len()), 3);
    /// }
    /// assert_eq!(LEN.stats().calls, 1);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn finish(self, output: O::Output) -> O::Output {
        let Running {
            op,
            shared,
            state,
            key,
            now,
        } = self;
        op.cache.store(key, &output, now);
        if op.is_hot() {
            // Calls that never take the direct path still count as uses while hot, or a
            // busy async operation would cool while in use.
            op.core.used_hot();
        }
        op.count(shared);
        drop(state);
        output
    }
}

/// Why a hot operation left the direct path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Demotion {
    /// Its heat fell below the cooling threshold.
    Cooled = 0,
    /// The hot-path cap was reached and it was the least recently used.
    Evicted = 1,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the runtime needs of an operation whatever its types: stats, cooling and the
/// hot-path cap.
pub(crate) trait OpEntry: Send + Sync {
    fn def(&self) -> &OpDef;
    fn stats(&'static self) -> OpStats;
    fn is_hot(&self) -> bool;
    /// The runtime time of its last use while hot: the hot-path LRU's key.
    fn last_hot_use(&self) -> u64;
    /// Applies `windows` cooling windows, the first of which began at `since`; demotes if
    /// the heat fell.
    fn cool(&'static self, shared: &Shared, windows: u64, since: u64);
    /// Switches the direct path off, then releases the pin once no call can be in it.
    fn demote(&'static self, shared: &Shared, cause: Demotion) -> bool;
    fn cache(&'static self) -> Option<&'static dyn ResultCache>;
}

impl OpCore {
    /// The error for a panic in this operation's body.
    #[cold]
    pub(crate) fn panicked(&self, payload: &(dyn std::any::Any + Send)) -> Error {
        Error::OperationPanicked {
            operation: format!("{}.{}", self.def.interface(), self.def.name),
            message: panic_message(payload),
        }
    }

    /// A promotion's event (nothing without the `tracing` feature).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    fn promoted(&self, from: &'static str, to: &'static str) {
        crate::trace::event!(
            tracing::Level::INFO,
            operation = %format_args!("{}.{}", self.def.interface(), self.def.name),
            from,
            to,
            "promoted"
        );
    }

    /// Stamps a use while hot with the runtime's recent time: one relaxed load, and a store
    /// only when the time moved since the last call.
    #[inline]
    fn used_hot(&self) {
        if let Some(shared) = self.shared.get() {
            let now = shared.time.recent();
            if self.last_hot_use.load(Relaxed) != now {
                self.last_hot_use.store(now, Relaxed);
            }
        }
    }

    /// The operation's module's bookkeeping, once the operation has joined a runtime.
    fn info(&self) -> Option<&'static Info> {
        self.module.get().copied().flatten()
    }

    fn heat(&self) -> Heat {
        let thresholds = self
            .shared
            .get()
            .map_or_else(Default::default, |shared| shared.config.heat);
        thresholds.level(self.calls.load(Relaxed))
    }
}

impl OpEntry for OpCore {
    fn def(&self) -> &OpDef {
        &self.def
    }

    fn stats(&'static self) -> OpStats {
        let cache = self.cache.get();
        OpStats {
            interface: self.def.interface(),
            name: self.def.name,
            module: self.info().map(|info| info.def.name().clone()),
            heat: self.heat(),
            calls: self.calls.load(Relaxed),
            hot_path: self.direct.is_published(),
            direct_hits: self.direct_hits.load(Relaxed),
            promotions: [
                self.promotions[0].load(Relaxed),
                self.promotions[1].load(Relaxed),
                self.promotions[2].load(Relaxed),
            ],
            demotions: [
                self.demotions[0].load(Relaxed),
                self.demotions[1].load(Relaxed),
            ],
            cache: cache.map(|cache| cache.counts()),
            cache_entries: cache.map_or(0, |cache| cache.len()),
        }
    }

    fn is_hot(&self) -> bool {
        self.direct.is_published()
    }

    fn last_hot_use(&self) -> u64 {
        self.last_hot_use.load(Relaxed)
    }

    fn cool(&'static self, shared: &Shared, windows: u64, since: u64) {
        // A window in which the operation was used while hot does not count against its
        // heat. Uses are stamped with the time of the last refresh, which a use inside the
        // window may share with the window's start: a stamp at the start counts as a use in
        // it (at worst, a use at the very end of the window before counts twice, and the
        // path stays hot a window longer).
        let used = self.is_hot() && self.last_hot_use.load(Relaxed) >= since;
        let halvings = if used { windows - 1 } else { windows };
        let calls = self.calls.load(Relaxed) >> halvings.min(63);
        self.calls.store(calls, Relaxed);
        let heat = shared.config.heat;
        if calls < heat.critical() {
            self.counting.store(true, Relaxed);
        }
        if calls < heat.cool_below() {
            self.demote(shared, Demotion::Cooled);
        }
    }

    fn demote(&'static self, shared: &Shared, cause: Demotion) -> bool {
        let retiring = {
            let mut hold = lock(&self.hold);
            let Some(held) = hold.take() else {
                return false;
            };
            // Switch back first (under the lock, so no promotion interleaves), then free the
            // place under the cap, so no more paths than the cap are ever published ...
            let retiring = self.direct.withdraw(held);
            shared.hot_paths.fetch_sub(1, Relaxed);
            // ... then unpin once no direct call can be reading the state: `retiring` owns
            // the hold from here, and retires it when dropped, by the end of this function
            // or by an unwind through what follows.
            retiring
        };
        if let Some(info) = self.info() {
            // Direct calls stamp no module use; their last one does, now.
            info.touch(self.last_hot_use.load(Relaxed));
        }
        drop(retiring);
        self.demotions[cause as usize].fetch_add(1, Relaxed);
        crate::trace::event!(
            tracing::Level::INFO,
            operation = %format_args!("{}.{}", self.def.interface(), self.def.name),
            from = "hot",
            to = "warm",
            why = match cause {
                Demotion::Cooled => "cooled",
                Demotion::Evicted => "evicted by the hot-path cap",
            },
            "demoted"
        );
        true
    }

    fn cache(&'static self) -> Option<&'static dyn ResultCache> {
        self.cache.get().copied()
    }
}
