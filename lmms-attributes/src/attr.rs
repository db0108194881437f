//! The attributes' arguments: `key = "value"` pairs, each kept with its tokens for errors.

use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

/// One `key = "value"` argument.
pub struct Arg {
    /// The key, as written.
    pub key: syn::Ident,
    /// The value, a string literal.
    pub value: LitStr,
}

/// Splits the attribute's arguments into `key = "value"` pairs. Every argument of another
/// shape is an error; all of them are reported together.
pub fn parse(args: proc_macro2::TokenStream) -> syn::Result<Vec<Arg>> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut parsed = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for pair in pairs {
        let key = pair.path.get_ident().cloned();
        let value = match &pair.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(value),
                ..
            }) => Some(value.clone()),
            _ => None,
        };
        match (key, value) {
            (Some(key), Some(value)) => parsed.push(Arg { key, value }),
            (None, _) => push(
                &mut errors,
                syn::Error::new_spanned(&pair.path, "expected a single word, like `name`"),
            ),
            (_, None) => push(
                &mut errors,
                syn::Error::new_spanned(&pair.value, "expected a string literal, like `\"5m\"`"),
            ),
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(parsed),
    }
}

/// Adds `error` to the errors so far, so one compile shows them all.
pub fn push(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}
