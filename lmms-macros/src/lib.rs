//! The `#[lmms::module]` and `#[lmms::operation]` attributes. Use them through the `lmms`
//! crate, which documents them; the code they generate names the runtime only through
//! `lmms::__private`.
//!
//! Each attribute is parsed into a typed view ([`ast`]), its arguments apart ([`attr`]),
//! checked in a pass of its own that reports every problem at once ([`valid`]), and only
//! then expanded ([`expand`]). On an error the item is emitted unchanged beside the errors,
//! so the user sees what is wrong with the attribute and nothing else.

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Turns a struct or enum into an lmms module's state; see `lmms::module`.
#[proc_macro_attribute]
pub fn module(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module(args.into(), input.into()).into()
}

/// Turns a function into an lmms operation; see `lmms::operation`.
#[proc_macro_attribute]
pub fn operation(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::operation(args.into(), input.into()).into()
}
