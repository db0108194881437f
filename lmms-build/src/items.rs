//! A file's items as the scan needs them: lexed, and parsed only where an `#[lmms::...]`
//! attribute or a `mod` is, as a flat run of events that opens and closes the inline
//! modules around their content; and an attribute taken off its item as the attribute
//! macro would receive it.

use lmms_attributes::attr;
use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use syn::spanned::Spanned;

/// One step through a file's `mod` tree, in source order.
pub(crate) enum Event {
    /// An item with an `#[lmms::...]` attribute (its body emptied), or a `mod name;`.
    Item(Box<syn::Item>),
    /// An inline module opens (without its content): the events up to its `Close` are in
    /// it.
    Open(syn::ItemMod),
    /// The innermost open module ends.
    Close,
}

/// The items of a file that the scan needs, parsed, as a flat run of events: `mod`
/// declarations, inline modules opening and closing around their content (filtered the
/// same way), and items under an `#[lmms::...]` attribute with function bodies left empty.
/// Everything else is only lexed: build scripts run unoptimized, and parsing every item
/// and every body's expressions was most of the scan's time. A file that does not lex is
/// reported; an item the scan does not need is left for rustc to judge.
///
/// Inline modules are read with a stack of the pieces left at each level, not by
/// recursion, so the nesting costs no stack however deep it goes (rustc itself takes a
/// file nested thousands deep with a larger `RUST_MIN_STACK`).
pub(crate) fn parse_items(text: &str) -> syn::Result<Vec<Event>> {
    let tokens: TokenStream = without_shebang(text).parse().map_err(syn::Error::from)?;
    let mut events = Vec::new();
    let mut errors = None;
    let mut levels = vec![pieces(tokens).into_iter()];
    while let Some(level) = levels.last_mut() {
        let Some(piece) = level.next() else {
            levels.pop();
            if !levels.is_empty() {
                events.push(Event::Close);
            }
            continue;
        };
        // An error at the end of the item's tokens has no place of its own: give it the
        // item's.
        let start = piece.first().map_or_else(Span::call_site, TokenTree::span);
        let parsed = match kind(&piece) {
            Kind::Other => continue,
            Kind::Lmms => syn::parse2(empty_body(piece)).map(|item| Event::Item(Box::new(item))),
            Kind::Mod => module_header(piece).map(|(module, content)| match content {
                Some(content) => {
                    levels.push(pieces(content).into_iter());
                    Event::Open(module)
                }
                None => Event::Item(Box::new(syn::Item::Mod(module))),
            }),
        };
        match parsed {
            Ok(event) => events.push(event),
            Err(error) => attr::push(&mut errors, placed(error, start)),
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(events),
    }
}

/// The text with a first-line shebang (`#!/usr/bin/env ...`, not an inner attribute
/// `#![...]`) blanked, as rustc skips it; the lines keep their numbers.
fn without_shebang(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(rest) = text.strip_prefix("#!") else {
        return text.into();
    };
    if rest.trim_start().starts_with('[') {
        return text.into();
    }
    let end = text.find('\n').unwrap_or(text.len());
    format!("{}{}", " ".repeat(end), &text[end..]).into()
}

/// What a piece of a file is, for the scan.
enum Kind {
    Mod,
    Lmms,
    Other,
}

/// The top-level items of `tokens`, as token runs: an item ends at a `;`, or at a brace
/// group unless an `=` came first (`static X: T = T { .. };`); an inner attribute
/// (`#![...]`) stands alone. An `=` or a brace group inside `<...>` (a default type
/// parameter, an associated type binding, a const argument) does not count.
fn pieces(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut pieces = Vec::new();
    let mut piece: Vec<TokenTree> = Vec::new();
    let (mut assigned, mut angles) = (false, 0usize);
    let mut previous = ' ';
    for token in tokens {
        let ends = match &token {
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                match c {
                    '<' => angles += 1,
                    '>' if previous != '-' && previous != '=' => angles = angles.saturating_sub(1),
                    '=' if angles == 0 => assigned = true,
                    _ => {}
                }
                previous = c;
                c == ';'
            }
            TokenTree::Group(group) => {
                previous = ' ';
                // A brace inside `<...>` is a const argument (`Wrapper<{ N + 1 }>`).
                group.delimiter() == Delimiter::Brace && !assigned && angles == 0
            }
            TokenTree::Ident(_) | TokenTree::Literal(_) => {
                previous = ' ';
                false
            }
        };
        piece.push(token);
        let inner_attribute = matches!(
            piece.as_slice(),
            [TokenTree::Punct(hash), TokenTree::Punct(bang), TokenTree::Group(_)]
                if hash.as_char() == '#' && bang.as_char() == '!'
        );
        if ends || inner_attribute {
            // A lone `;` (after `use a::{b, c}`, split at its brace) is nothing.
            if piece.len() > 1 || !ends || !matches!(&piece[0], TokenTree::Punct(_)) {
                pieces.push(std::mem::take(&mut piece));
            }
            piece.clear();
            assigned = false;
            angles = 0;
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

/// A `mod` (before any brace group), or an item with an `#[lmms::...]` attribute.
fn kind(piece: &[TokenTree]) -> Kind {
    let mut lmms = false;
    let mut tokens = piece.iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(hash) if hash.as_char() == '#' => {
                if let Some(TokenTree::Group(attribute)) = tokens.peek() {
                    let mut inside = attribute.stream().into_iter();
                    lmms |= matches!(
                        (inside.next(), inside.next()),
                        (Some(TokenTree::Ident(first)), Some(TokenTree::Punct(colon)))
                            if first == "lmms" && colon.as_char() == ':'
                    );
                    tokens.next();
                }
            }
            TokenTree::Ident(ident) if ident == "mod" => return Kind::Mod,
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => break,
            _ => {}
        }
    }
    if lmms {
        Kind::Lmms
    } else {
        Kind::Other
    }
}

/// A function's body emptied (the last brace group of a piece holding `fn`).
fn empty_body(mut piece: Vec<TokenTree>) -> TokenStream {
    let is_fn = piece
        .iter()
        .any(|token| matches!(token, TokenTree::Ident(ident) if ident == "fn"));
    if let (true, Some(TokenTree::Group(body))) = (is_fn, piece.last_mut()) {
        if body.delimiter() == Delimiter::Brace {
            let mut empty = Group::new(Delimiter::Brace, TokenStream::new());
            empty.set_span(body.span());
            *body = empty;
        }
    }
    piece.into_iter().collect()
}

/// A `mod` item, and an inline module's content apart (`None` for `mod name;`), for
/// [`parse_items`] to read as it reads a file.
fn module_header(mut piece: Vec<TokenTree>) -> syn::Result<(syn::ItemMod, Option<TokenStream>)> {
    let braces = match piece.pop() {
        Some(TokenTree::Group(braces)) if braces.delimiter() == Delimiter::Brace => braces,
        last => {
            piece.extend(last);
            return syn::parse2(piece.into_iter().collect()).map(|module| (module, None));
        }
    };
    let mut semi = proc_macro2::Punct::new(';', proc_macro2::Spacing::Alone);
    semi.set_span(braces.span());
    piece.push(TokenTree::Punct(semi));
    let mut module: syn::ItemMod = syn::parse2(piece.into_iter().collect())?;
    module.semi = None;
    Ok((module, Some(braces.stream())))
}

/// The first `#[lmms::<name>(...)]` among `attrs`: its arguments, the item without it
/// (as the attribute macro receives it), and where the attribute is. `None` when there is
/// no such attribute.
pub(crate) fn strip(
    mut item: syn::Item,
    name: &str,
) -> Option<(syn::Result<Vec<attr::Arg>>, syn::Item, Span)> {
    let attrs = match &mut item {
        syn::Item::Fn(item) => &mut item.attrs,
        syn::Item::Struct(item) => &mut item.attrs,
        syn::Item::Enum(item) => &mut item.attrs,
        _ => return None,
    };
    let index = attrs.iter().position(|attr| is_lmms(attr, name))?;
    let attribute = attrs.remove(index);
    let place = attribute.span();
    let args = match attribute.meta {
        syn::Meta::Path(_) => Ok(Vec::new()),
        syn::Meta::List(list) => attr::parse(list.tokens),
        syn::Meta::NameValue(pair) => Err(syn::Error::new(
            pair.span(),
            format!("write #[lmms::{name}(key = \"value\", ...)]"),
        )),
    };
    Some((args, item, place))
}

/// `#[lmms::<name>]`: the build script recognises the attributes by that path.
fn is_lmms(attr: &syn::Attribute, name: &str) -> bool {
    let segments = &attr.path().segments;
    segments.len() == 2 && segments[0].ident == "lmms" && segments[1].ident == name
}

/// `error` with each message that has no place in the file moved to `place`. Such a
/// message is one at the end of tokens parsed on their own (an attribute's arguments, an
/// item's tokens), which syn puts at `Span::call_site()`: in the attribute macro that is
/// the attribute, in a build script it is nowhere.
pub(crate) fn placed(error: syn::Error, place: Span) -> syn::Error {
    error
        .into_iter()
        .map(|one| match one.span().source_text() {
            Some(_) => one,
            None => syn::Error::new(place, one),
        })
        .reduce(|mut all, one| {
            all.combine(one);
            all
        })
        .expect("a syn::Error has a message")
}
