//! The syntax of `#[lmms::module]` and `#[lmms::operation]`, shared by the attributes
//! (`lmms-macros`, which expand it) and the build script (`lmms-build`, which tables it):
//! both read an attribute the same way and reject the same mistakes with the same words.
//!
//! An attribute is parsed into a typed view ([`ast`]), its arguments apart ([`attr`]), and
//! checked in a pass of its own ([`valid`]) that reports every problem at once, each at the
//! tokens it is about.
//!
//! ```
//! let item: syn::Item = syn::parse_quote! {
//!     fn forecast(weather: &Weather, days: u8) -> u8 { days }
//! };
//! let input = lmms_attributes::ast::OperationInput {
//!     args: lmms_attributes::attr::parse(quote::quote!(cache_ttl = "5m")).unwrap(),
//!     item,
//! };
//! let op = lmms_attributes::valid::operation(&input).unwrap();
//! assert_eq!((op.name.as_str(), op.cache_ms), ("forecast", Some(300_000)));
//! ```

#![deny(missing_docs)]

pub mod ast;
pub mod attr;
pub mod valid;

/// The file in `OUT_DIR` where the build script lists the sources it read, one canonical
/// path a line: the operation attribute reads it to tell a file the build script never saw
/// (one that appeared after its last run, which Cargo does not rerun it for).
///
/// ```
/// assert_eq!(lmms_attributes::FILES_READ, "lmms_files.txt");
/// ```
pub const FILES_READ: &str = "lmms_files.txt";

/// Tokens as a person writes them, without the token stream's spaces: `Vec<String>`,
/// `&'static str`, `fn f(days: u8) -> u8`.
///
/// ```
/// let ty: syn::Type = syn::parse_quote!(std::collections::HashMap<String, Vec<&'static str>>);
/// assert_eq!(lmms_attributes::tidy(&ty), "std::collections::HashMap<String, Vec<&'static str>>");
/// let sig: syn::Signature = syn::parse_quote!(fn f(w: &mut W, x: (u8, [u8; 4])) -> Option<u8>);
/// assert_eq!(lmms_attributes::tidy(&sig), "fn f(w: &mut W, x: (u8, [u8; 4])) -> Option<u8>");
/// let ty: syn::Type = syn::parse_quote!(Box<dyn Fn(&'static [u8]) -> u8 + Send>);
/// assert_eq!(lmms_attributes::tidy(&ty), "Box<dyn Fn(&'static [u8]) -> u8 + Send>");
/// ```
pub fn tidy(tokens: &impl quote::ToTokens) -> String {
    let mut atoms = Vec::new();
    flatten(tokens.to_token_stream(), &mut atoms);
    let mut out = String::new();
    for (i, atom) in atoms.iter().enumerate() {
        if i > 0 && spaced(&atoms[i - 1], atom) {
            out.push(' ');
        }
        out.push_str(atom);
    }
    out
}

/// The tokens as words and punctuation, joint punctuation (`::`, `->`) and lifetimes
/// (`'a`) kept whole, delimiters as their own atoms.
fn flatten(tokens: proc_macro2::TokenStream, atoms: &mut Vec<String>) {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let mut joint = false;
    for token in tokens {
        let glue = std::mem::take(&mut joint);
        match token {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                atoms.push(open.to_owned());
                flatten(group.stream(), atoms);
                atoms.push(close.to_owned());
            }
            TokenTree::Punct(punct) => {
                joint = punct.spacing() == Spacing::Joint;
                match atoms.last_mut() {
                    Some(last) if glue => last.push(punct.as_char()),
                    _ => atoms.push(punct.as_char().to_string()),
                }
            }
            TokenTree::Ident(ident) => match atoms.last_mut() {
                Some(last) if glue && last == "'" => last.push_str(&ident.to_string()),
                _ => atoms.push(ident.to_string()),
            },
            TokenTree::Literal(literal) => atoms.push(literal.to_string()),
        }
    }
}

/// Whether a space goes between two atoms.
fn spaced(before: &str, after: &str) -> bool {
    let word = |atom: &str| {
        atom.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '\'' || c == '"')
    };
    match (before, after) {
        (_, "," | ";" | ")" | "]" | ">" | "::" | ":" | "?") => false,
        ("&" | "(" | "[" | "<" | "::" | "#" | "!" | "*", _) => false,
        (b, "(" | "<" | "[") if word(b) => {
            b.starts_with('\'') || matches!(b, "mut" | "dyn" | "impl" | "const")
        }
        ("," | ";" | ":" | "->" | "=" | "=>" | "+", _) | (_, "->" | "=" | "=>" | "{" | "+") => true,
        (b, a) => word(b) && word(a) || b == ">" && word(a),
    }
}
