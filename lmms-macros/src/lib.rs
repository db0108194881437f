//! The `#[lmms::module]` and `#[lmms::operation]` attributes. Use them through the `lmms`
//! crate, which documents them; the code they generate names the runtime only through
//! `lmms::__private`.
//!
//! Each attribute is parsed into a typed view, checked in a pass of its own that reports
//! every problem at once (both in `lmms-attributes`, shared with the build script), and only
//! then expanded (`expand.rs`). On an error the item is emitted unchanged beside the errors,
//! so the user sees what is wrong with the attribute and nothing else.

#![deny(missing_docs)]

mod expand;
mod unseen;

use proc_macro::TokenStream;

/// Makes a struct or an enum the state of an lmms module: built on first use by its
/// `lmms::Load` impl, dropped by a sweep when idle, built again when needed.
///
/// ```
/// #[lmms::module(class = "utility", grace = "30s", name = "weather")]
/// pub struct Weather {
///     table: Vec<u64>,
/// }
///
/// impl lmms::Load for Weather {
///     type Error = std::convert::Infallible;
///     fn load() -> Result<Self, Self::Error> {
///         Ok(Weather { table: (0..365).collect() })
///     }
/// }
///
/// assert!(!Weather::is_resident());
/// assert_eq!(Weather::get()?.table[10], 10);
/// assert!(matches!(Weather::unload(), lmms::report::Unload::Unloaded { .. }));
/// # Ok::<(), lmms::Error>(())
/// ```
///
/// Keys, all optional:
/// - `class`: `"core"` (never unloaded), `"utility"` (after the grace period; the default) or
///   `"feature"` (right after use);
/// - `grace`: this module's grace period, as `"250ms"`, `"30s"`, `"5m"` or `"1h"` (default:
///   the runtime's, 30 s);
/// - `name`: the module's name in statistics and reports (default: the type's name in
///   snake case, `WeatherTables` → `"weather_tables"`).
///
/// It generates an `impl lmms::Module` (the type's static `lmms::ModuleCell`) and the
/// associated functions `get`, `get_async`, `unload`, `is_resident` and `stats`. The type
/// must implement `lmms::Load`, or `lmms::AsyncLoad` to build its state with `.await` (then
/// get it with `get_async().await`, and its operations are `async fn`s) — without either,
/// one error at the type's name says so — and cannot be generic (each module is one
/// static).
#[proc_macro_attribute]
pub fn module(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module(args.into(), input.into()).into()
}

/// Makes a function an lmms operation: a managed call with heat and a direct path, an
/// optional result cache, and its module loaded on demand.
///
/// ```
/// # #[lmms::module]
/// # pub struct Weather { table: Vec<u64> }
/// # impl lmms::Load for Weather {
/// #     type Error = std::convert::Infallible;
/// #     fn load() -> Result<Self, Self::Error> { Ok(Weather { table: (0..365).collect() }) }
/// # }
/// #[lmms::operation(interface = "weather", name = "forecast", cache_ttl = "5m")]
/// pub fn forecast(weather: &Weather, city: String, days: u16) -> u64 {
///     weather.table[usize::from(days)] + city.len() as u64
/// }
///
/// fn main() -> Result<(), lmms::Error> {
///     // The function stays as written: its body can be tested with any `&Weather`.
///     assert_eq!(forecast(&Weather { table: vec![1; 7] }, "Oslo".into(), 3), 5);
///     // `forecast::call` is the managed call; `forecast::OP` its descriptor.
///     assert_eq!(forecast::call("Oslo".into(), 3)?, 7);
///     assert_eq!(forecast::OP.stats().interface, "weather");
///     Ok(())
/// }
/// ```
///
/// Keys, all optional:
/// - `interface`: default, the name of the enclosing Rust module (`crate` at the root);
/// - `name`: default, the function's name (both one word of ASCII letters, digits and `_`);
/// - `cache_ttl`: cache results for this long (`"250ms"`, `"300s"`, `"5m"`, `"1h"`), keyed
///   by the arguments, up to 1,024 results; without it, nothing is cached. An operation
///   that returns a `Result` caches its `Ok` values only, so that one transient error is
///   not the answer for a whole TTL — whatever the signature calls it (`Result<T, E>`, an
///   alias, a renamed import, `io::Result<T>`): the output's type decides, not its name;
/// - `cache_errors = "true"`: with `cache_ttl`, keep its `Err`s too.
///
/// The shapes it takes:
/// - a first parameter `&State` ties the operation to the module `State` (a type with
///   `#[lmms::module]`; the compiler says so if it is not). Without one, the operation is
///   stateless: heat and the cache still apply;
/// - the other parameters are named plainly (`city: String`) and owned: only the state is
///   borrowed. A cached operation's arguments are its cache key: `Hash + Eq + Clone`, and its
///   output `Clone`;
/// - a return type written `Result<T, E>` (a path ending in `Result`, with two type
///   arguments) makes `call` return `Result<T, lmms::CallError<E>>`: the operation's own
///   error stays typed, lmms's failures arrive beside it, and the caller unwraps once. Any
///   other return type `T` gives `Result<T, lmms::Error>`, and so does a `Result` spelled
///   otherwise — an alias (`type Reply = Result<u32, String>`), a renamed import,
///   `io::Result<T>`: `call`'s signature is written as the attribute expands, before any
///   type is known, so it follows the spelling, and hands such a `Result` back whole inside
///   its `Ok`. Everything else asks the type: called by name, any `Result`'s `Err` is an
///   error, and a cache keeps its `Ok`s only.
///
/// ```
/// type Reply = Result<u32, String>;
///
/// #[lmms::operation(interface = "math", cache_ttl = "5m")]
/// fn half(x: u32) -> Reply {
///     if x % 2 == 0 { Ok(x / 2) } else { Err(format!("{x} is odd")) }
/// }
///
/// # fn main() -> Result<(), lmms::Error> {
/// assert_eq!(half::call(8)?, Ok(4)); // `Result<Reply, lmms::Error>`
/// assert_eq!(half::call(7)?, Err("7 is odd".to_owned())); // not kept: runs again next time
/// # Ok(())
/// # }
/// ```
///
/// - an `async fn` gives an `async fn call`: the module's guard is held across the body's
///   awaits (the state cannot be unloaded under it; the future stays `Send`), heat and the
///   cache apply, and the direct path does not (it cannot span an await; a hot async
///   operation keeps its module pinned instead). Dropping the future mid-await releases the
///   guard and counts nothing. Its arguments move into the future, so none is borrowed. Its
///   module may be an `lmms::AsyncLoad` one, loaded with `.await`; a synchronous operation
///   on such a module is a compile error at the state's type. By name it is called with
///   `lmms::execute_async`.
///
/// ```
/// # #[lmms::module]
/// # pub struct Pages { bodies: Vec<String> }
/// # impl lmms::Load for Pages {
/// #     type Error = std::convert::Infallible;
/// #     fn load() -> Result<Self, Self::Error> { Ok(Pages { bodies: vec!["<p>".into()] }) }
/// # }
/// # async fn fetch_headers() {}
/// #[lmms::operation(interface = "web")]
/// pub async fn page_len(pages: &Pages, index: usize) -> Option<usize> {
///     fetch_headers().await; // `pages` stays loaded across this
///     pages.bodies.get(index).map(String::len)
/// }
///
/// async fn handler() -> Result<Option<usize>, lmms::Error> {
///     page_len::call(0).await
/// }
/// # fn main() {}
/// ```
///
/// Not supported (each a compile error that says so): generic, `const` or `extern`
/// functions, `self` receivers, `impl Trait` or pattern arguments, borrowed arguments other
/// than the state, `&mut State`, and a module's state taken by value (`weather: Weather`
/// where `&Weather` is meant).
/// The operation is a module-level item: the generated module `use`s its parent module's
/// names, so the signature's types resolve as they do for the function (a type written as
/// `super::X` does not), and a function declared inside another function's body is not
/// reachable from it.
#[proc_macro_attribute]
pub fn operation(args: TokenStream, input: TokenStream) -> TokenStream {
    let unseen = unseen::unseen(proc_macro::Span::call_site().local_file());
    expand::operation(args.into(), input.into(), unseen).into()
}
