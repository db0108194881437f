//! The managed call in two halves, for a body that runs elsewhere — an `async fn`
//! operation's, between awaits: [`Op::begin`] holds the state, [`Running::finish`] counts
//! and caches.

use crate::cache::{CachePolicy, Lookup};
use crate::context::Context;
use crate::error::Error;
use crate::module::Guard;
use crate::operation::{Op, Operation, Source};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::task::Poll;

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
    /// # impl lmms::op::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// static LEN: lmms::op::Op<Len> = lmms::op::Op::new(lmms::op::OpDef::new("text", "len"));
    /// let output = match LEN.begin("four".to_owned())? {
    ///     lmms::op::Begin::Done(output) => output,
    ///     lmms::op::Begin::Run(running, text) => {
    ///         let () = running.state();
    ///         running.finish(text.len()) // in an async body: after the awaits
    ///     }
    /// };
    /// assert_eq!(output, 4);
    /// # Ok::<(), lmms::Error>(())
    /// ```
    pub fn begin(&'static self, args: O::Args) -> Result<Begin<O, C>, Error> {
        let missed = match self.look_up(&args)? {
            Lookup::Hit(output) => return Ok(Begin::Done(output)),
            Lookup::Miss(missed) => missed,
        };
        let state = match O::source() {
            Source::Module(module) => Held::Module(module.get()?),
            Source::Stateless(state) => Held::Static(state),
        };
        Ok(missed.run(self, state, args))
    }

    /// [`begin`](Op::begin) from async code: the module's state is got with
    /// [`get_async`](crate::ModuleCell::get_async), so an [`AsyncLoad`](crate::AsyncLoad)
    /// module is loaded with `.await` (once, however many calls wait for it). What the
    /// generated `call` of an `async fn` operation uses.
    ///
    /// ```
    /// # struct Len;
    /// # impl lmms::op::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// static LEN: lmms::op::Op<Len> = lmms::op::Op::new(lmms::op::OpDef::new("text", "len"));
    /// async fn len(text: String) -> Result<usize, lmms::Error> {
    ///     Ok(match LEN.begin_async(text).await? {
    ///         lmms::op::Begin::Done(output) => output,
    ///         lmms::op::Begin::Run(running, text) => running.finish(text.len()),
    ///     })
    /// }
    /// # assert_eq!(tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(len("four".into())).unwrap(), 4);
    /// ```
    pub async fn begin_async(&'static self, args: O::Args) -> Result<Begin<O, C>, Error> {
        let missed = match self.look_up(&args)? {
            Lookup::Hit(output) => return Ok(Begin::Done(output)),
            Lookup::Miss(missed) => missed,
        };
        let state = match O::source() {
            Source::Module(module) => Held::Module(module.get_async().await?),
            Source::Stateless(state) => Held::Static(state),
        };
        Ok(missed.run(self, state, args))
    }

    /// The cache half of a begin: the cached output, or what the call goes on with.
    fn look_up(&'static self, args: &O::Args) -> Result<Lookup<O::Output, Missed<C::Key>>, Error> {
        let shared = self.runtime()?;
        let now = shared.time.recent();
        Ok(match self.cache.lookup(args, now) {
            Lookup::Hit(output) => Lookup::Hit(output),
            Lookup::Miss(key) => Lookup::Miss(Missed { shared, now, key }),
        })
    }
}

/// A begin that missed the cache: its runtime, the time, and the key to store under.
struct Missed<K> {
    shared: &'static Context,
    now: u64,
    key: K,
}

impl<K> Missed<K> {
    /// The second half of a begin, once the state is held.
    fn run<O, C>(self, op: &'static Op<O, C>, state: Held<O::State>, args: O::Args) -> Begin<O, C>
    where
        O: Operation,
        C: CachePolicy<O::Args, O::Output, Key = K>,
    {
        let running = Running {
            op,
            shared: self.shared,
            state,
            key: self.key,
            now: self.now,
        };
        Begin::Run(running, args)
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
    shared: &'static Context,
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
    /// # impl lmms::op::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::op::Op<Len> = lmms::op::Op::new(lmms::op::OpDef::new("text", "len"));
    /// if let lmms::op::Begin::Run(running, _) = LEN.begin(String::new())? {
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
    /// # impl lmms::op::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::op::Op<Len> = lmms::op::Op::new(lmms::op::OpDef::new("text", "len"));
    /// async fn measure() -> Result<usize, lmms::Error> {
    ///     match LEN.begin("abc".to_owned())? {
    ///         lmms::op::Begin::Done(output) => Ok(output),
    ///         lmms::op::Begin::Run(running, text) => {
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
                Err(payload) => Poll::Ready(Err(self.op.core.panicked(payload))),
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
    /// # impl lmms::op::Operation for Len {
    /// #     type State = (); type Args = String; type Output = usize;
    /// #     fn source() -> lmms::op::Source<()> { lmms::op::Source::Stateless(&()) }
    /// # }
    /// # static LEN: lmms::op::Op<Len> = lmms::op::Op::new(lmms::op::OpDef::new("text", "len"));
    /// if let lmms::op::Begin::Run(running, text) = LEN.begin("abc".to_owned())? {
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
