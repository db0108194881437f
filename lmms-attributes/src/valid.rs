//! The checks, in a pass of their own: every problem in one attribute is reported at once,
//! each at the tokens it is about, with what to write instead.

use crate::ast::{ModuleInput, OperationInput};
use crate::attr::{push, Arg};
use lmms_values::CLASS_VARIANTS;
use proc_macro2::Span;
use quote::ToTokens;
use syn::{FnArg, Ident, Item, ItemFn, Pat, ReturnType, Type, Visibility};

/// A module, checked.
pub struct Module {
    /// The state type.
    pub ident: Ident,
    /// Its visibility, given to the generated associated functions.
    pub vis: Visibility,
    /// The module's name in statistics: `name`, or the type's name in snake case.
    pub name: String,
    /// `Core`, `Utility` or `Feature`: the runtime's `Class` variant.
    pub class: Ident,
    /// The module's own grace period, if given.
    pub grace_ms: Option<u64>,
}

/// The class of a module whose attribute names none: `utility`, the runtime's
/// `Class::default()`; an index in `lmms_values::CLASSES`.
const DEFAULT_CLASS: usize = 1;

/// An operation, checked.
pub struct Operation {
    /// The function, as written.
    pub func: ItemFn,
    /// `None`: the enclosing Rust module's name.
    pub interface: Option<String>,
    /// The operation's name: `name`, or the function's.
    pub name: String,
    /// Its `cache_ttl`, if given.
    pub cache_ms: Option<u64>,
    /// `cache_errors = "true"`: a cached `Result`'s `Err`s are kept too (by default only
    /// its `Ok`s are).
    pub cache_errors: bool,
    /// The module state type, from a first parameter `&State`; `None` for a stateless one.
    pub state: Option<Type>,
    /// The parameters after the state, by name and type.
    pub params: Vec<(Ident, Type)>,
    /// The body's return type (`()` when it has none).
    pub output: Type,
    /// An `async fn`: `call` is async, and the module's guard is held across its awaits.
    pub is_async: bool,
}

/// The keys an attribute takes, each read once; errors for unknown and repeated keys.
struct Keys<'a> {
    attribute: &'static str,
    known: &'static [&'static str],
    args: &'a [Arg],
}

impl Keys<'_> {
    fn check(&self, errors: &mut Option<syn::Error>) {
        for (i, arg) in self.args.iter().enumerate() {
            let key = arg.key.to_string();
            if !self.known.contains(&key.as_str()) {
                let known = self
                    .known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                push(
                    errors,
                    syn::Error::new_spanned(
                        &arg.key,
                        format!(
                            "unknown key `{key}`: #[lmms::{}] takes {known}",
                            self.attribute
                        ),
                    ),
                );
            } else if self.args[..i].iter().any(|earlier| earlier.key == arg.key) {
                push(
                    errors,
                    syn::Error::new_spanned(&arg.key, format!("`{key}` is given twice; keep one")),
                );
            }
        }
    }

    fn get(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|arg| arg.key == key)
    }
}

/// An operation's or interface's name: one word of letters, digits and `_`, so that
/// `interface.name` reads one way and the build script's generated names compile.
fn word(arg: &Arg, what: &str, errors: &mut Option<syn::Error>) -> String {
    let text = name(arg, errors);
    let is_word = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !text.trim().is_empty() && !is_word {
        let why = if text.contains('.') {
            "; a `.` would make `interface.name` read two ways"
        } else {
            ""
        };
        push(
            errors,
            syn::Error::new_spanned(
                &arg.value,
                format!("`{text}` is not {what}: use ASCII letters, digits and `_`{why}"),
            ),
        );
    }
    text
}

/// A name given in an attribute: not empty.
fn name(arg: &Arg, errors: &mut Option<syn::Error>) -> String {
    let name = arg.value.value();
    if name.trim().is_empty() {
        push(
            errors,
            syn::Error::new_spanned(
                &arg.value,
                "the name is empty; give a word, like `\"weather\"`",
            ),
        );
    }
    name
}

/// A duration as the runtime's settings write it: `250ms`, `30s`, `5m`, `1h`.
fn duration_ms(arg: &Arg, errors: &mut Option<syn::Error>) -> Option<u64> {
    match lmms_values::duration_ms(&arg.value.value()) {
        Ok(ms) => Some(ms),
        Err(invalid) => {
            push(errors, invalid_at(&arg.value, &invalid));
            None
        }
    }
}

/// The error for a value the shared grammar turned down, at the tokens that wrote it.
fn invalid_at(tokens: impl ToTokens, invalid: &lmms_values::Invalid) -> syn::Error {
    syn::Error::new_spanned(tokens, invalid.reason())
}

fn finish<T>(value: T, errors: Option<syn::Error>) -> syn::Result<T> {
    match errors {
        Some(errors) => Err(errors),
        None => Ok(value),
    }
}

/// Checks `#[lmms::module]`'s arguments and item; every problem is in the one error.
pub fn module(input: &ModuleInput) -> syn::Result<Module> {
    let mut errors = None;
    let keys = Keys {
        attribute: "module",
        known: &["class", "grace", "name"],
        args: &input.args,
    };
    keys.check(&mut errors);
    let (ident, vis, generics) = match &input.item {
        Item::Struct(item) => {
            repeated(&item.attrs, "module", &mut errors);
            (&item.ident, &item.vis, &item.generics)
        }
        Item::Enum(item) => {
            repeated(&item.attrs, "module", &mut errors);
            (&item.ident, &item.vis, &item.generics)
        }
        other => {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    other,
                    "#[lmms::module] goes on a struct or an enum: the type of the module's state",
                ),
            );
            return Err(errors.expect("just pushed"));
        }
    };
    if !generics.params.is_empty() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                generics,
                "a module's state cannot be generic: each module is one static; name a concrete type",
            ),
        );
    }
    let class = keys.get("class").map_or(DEFAULT_CLASS, |arg| {
        lmms_values::class(&arg.value.value()).unwrap_or_else(|invalid| {
            push(&mut errors, invalid_at(&arg.value, &invalid));
            DEFAULT_CLASS
        })
    });
    let name = keys.get("name").map_or_else(
        || to_snake(&ident.to_string()),
        |arg| name(arg, &mut errors),
    );
    let grace_ms = keys
        .get("grace")
        .and_then(|arg| duration_ms(arg, &mut errors));
    finish(
        Module {
            ident: ident.clone(),
            vis: vis.clone(),
            name,
            class: Ident::new(CLASS_VARIANTS[class], Span::call_site()),
            grace_ms,
        },
        errors,
    )
}

/// Checks `#[lmms::operation]`'s arguments and function; every problem is in the one error.
pub fn operation(input: &OperationInput) -> syn::Result<Operation> {
    let mut errors = None;
    let keys = Keys {
        attribute: "operation",
        known: &["interface", "name", "cache_ttl", "cache_errors"],
        args: &input.args,
    };
    keys.check(&mut errors);
    let Item::Fn(func) = &input.item else {
        push(
            &mut errors,
            syn::Error::new_spanned(&input.item, "#[lmms::operation] goes on a function"),
        );
        return Err(errors.expect("just pushed"));
    };
    repeated(&func.attrs, "operation", &mut errors);
    let sig = &func.sig;
    let cached = keys.get("cache_ttl").is_some();
    if !sig.generics.params.is_empty() {
        push(
            &mut errors,
            syn::Error::new_spanned(
                &sig.generics,
                "an operation cannot be generic: it is one static call path; name concrete types",
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        push(
            &mut errors,
            syn::Error::new_spanned(
                constness,
                "an operation cannot be `const fn`: remove `const`",
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        push(
            &mut errors,
            syn::Error::new_spanned(
                abi,
                "an operation is a Rust function: remove the `extern` ABI",
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        push(
            &mut errors,
            syn::Error::new_spanned(variadic, "an operation cannot be variadic"),
        );
    }
    let mut state = None;
    let mut params = Vec::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                push(
                    &mut errors,
                    syn::Error::new_spanned(
                        receiver,
                        "an operation takes no `self`: make the state its first parameter, `state: &State`",
                    ),
                );
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        if i == 0 {
            if let Type::Reference(reference) = &*typed.ty {
                if let Some(mutability) = &reference.mutability {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(
                            mutability,
                            "a module's state is shared by every call: take it as `&State`, not `&mut State`",
                        ),
                    );
                }
                if !may_be_module(&reference.elem) {
                    push(
                        &mut errors,
                        syn::Error::new_spanned(
                            reference,
                            "a borrowed first parameter is the operation's module state, a type with #[lmms::module]: take this argument by value (`String`, not `&str`)",
                        ),
                    );
                }
                state = Some((*reference.elem).clone());
                continue;
            }
        }
        let Pat::Ident(pat) = &*typed.pat else {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &typed.pat,
                    "name this argument with a plain identifier; the managed call takes it by that name",
                ),
            );
            continue;
        };
        if let Type::ImplTrait(ty) = &*typed.ty {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    ty,
                    "an operation's arguments need concrete types: replace `impl Trait` with a type",
                ),
            );
            continue;
        }
        if sig.asyncness.is_some() && borrows(&typed.ty) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &typed.ty,
                    "an async operation's arguments move into its future: take this one by value (`String`, not `&str`)",
                ),
            );
        } else if let Some(float) = cached.then(|| float_in(&typed.ty)).flatten() {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &typed.ty,
                    format!("a cached operation's arguments are its cache key, and `{float}` is neither `Eq` nor `Hash`: take the value as an integer (millimetres, cents) or in a type that is both"),
                ),
            );
        } else if cached && borrows(&typed.ty) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &typed.ty,
                    "a cached operation keeps its arguments as the cache key: take this one by value (`String`, not `&str`)",
                ),
            );
        } else if borrows(&typed.ty) {
            push(
                &mut errors,
                syn::Error::new_spanned(
                    &typed.ty,
                    "only the state may be borrowed: take this argument by value",
                ),
            );
        }
        params.push((pat.ident.clone(), (*typed.ty).clone()));
    }
    let output = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let name = keys.get("name").map_or_else(
        || sig.ident.to_string(),
        |arg| word(arg, "an operation name", &mut errors),
    );
    let interface = keys
        .get("interface")
        .map(|arg| word(arg, "an interface", &mut errors));
    let cache_ms = keys
        .get("cache_ttl")
        .and_then(|arg| duration_ms(arg, &mut errors));
    let cache_errors = keys
        .get("cache_errors")
        .is_some_and(|arg| cache_errors(arg, cached, &mut errors));
    finish(
        Operation {
            func: func.clone(),
            interface,
            name,
            cache_ms,
            cache_errors,
            state,
            params,
            output,
            is_async: sig.asyncness.is_some(),
        },
        errors,
    )
}

/// `cache_errors`: `"true"` or `"false"`, and only beside a `cache_ttl`.
fn cache_errors(arg: &Arg, cached: bool, errors: &mut Option<syn::Error>) -> bool {
    let text = arg.value.value();
    let keep = match text.trim() {
        "true" => true,
        "false" => false,
        _ => {
            push(
                errors,
                syn::Error::new_spanned(
                    &arg.value,
                    format!("`{text}` is not `\"true\"` or `\"false\"`"),
                ),
            );
            return false;
        }
    };
    if !cached {
        push(
            errors,
            syn::Error::new_spanned(
                &arg.key,
                "`cache_errors` says which results a cache keeps: add a `cache_ttl`",
            ),
        );
    }
    keep
}

/// An error for a second `#[lmms::<attribute>]` on the same item.
fn repeated(attrs: &[syn::Attribute], attribute: &str, errors: &mut Option<syn::Error>) {
    for attr in attrs {
        let path = attr.path();
        let last = path
            .segments
            .last()
            .map(|segment| segment.ident.to_string());
        let lmms = path.segments.len() == 1 || path.segments[0].ident == "lmms";
        if lmms && last.as_deref() == Some(attribute) {
            push(
                errors,
                syn::Error::new_spanned(
                    attr,
                    format!("#[lmms::{attribute}] is given twice on this item; keep one"),
                ),
            );
        }
    }
}

/// Whether a type could be a module's state: a named type, not a primitive, `str`, a
/// slice or a trait object.
fn may_be_module(ty: &Type) -> bool {
    const PRIMITIVES: &[&str] = &[
        "str", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    match ty {
        Type::Path(path) => !PRIMITIVES
            .iter()
            .any(|primitive| path.path.is_ident(primitive)),
        _ => false,
    }
}

/// Whether a type holds a borrow (a reference, or a lifetime anywhere in it).
/// A bare `f32` or `f64`, or one in a tuple, array or slice (`(f32, u8)`, `[f64; 2]`): not
/// a cache key's part. A float inside another type's generic arguments is that type's
/// business (`OrderedFloat<f64>` is `Eq + Hash`), left to the trait bounds.
fn float_in(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let ident = path.path.get_ident()?;
            ["f32", "f64"].into_iter().find(|float| ident == float)
        }
        Type::Tuple(tuple) => tuple.elems.iter().find_map(float_in),
        Type::Array(array) => float_in(&array.elem),
        Type::Slice(slice) => float_in(&slice.elem),
        Type::Paren(paren) => float_in(&paren.elem),
        Type::Group(group) => float_in(&group.elem),
        _ => None,
    }
}

fn borrows(ty: &Type) -> bool {
    matches!(ty, Type::Reference(_))
        || ty
            .to_token_stream()
            .into_iter()
            .any(|token| matches!(token, proc_macro2::TokenTree::Punct(p) if p.as_char() == '\''))
}

/// `WeatherTables` → `weather_tables`: a module's default name.
fn to_snake(ident: &str) -> String {
    let mut name = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.extend(c.to_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(args: proc_macro2::TokenStream) -> syn::Result<Module> {
        module(&ModuleInput {
            args: crate::attr::parse(args)?,
            item: syn::parse_quote!(
                struct WeatherTables;
            ),
        })
    }

    #[test]
    fn the_default_class_is_utility() {
        assert_eq!(lmms_values::CLASSES[DEFAULT_CLASS], "utility");
        let module = module_with(quote::quote!()).unwrap();
        assert_eq!(module.class, "Utility");
        assert_eq!(module.name, "weather_tables");
    }

    #[test]
    fn classes_and_durations_through_the_shared_grammar() {
        let module = module_with(quote::quote!(class = "core", grace = " 5m ")).unwrap();
        assert_eq!(
            (module.class.to_string(), module.grace_ms),
            ("Core".to_owned(), Some(300_000))
        );
    }

    #[test]
    fn the_shared_grammar_words_the_errors() {
        let Err(error) = module_with(quote::quote!(class = "sometimes", grace = "-5s")) else {
            panic!("a bad class and a negative grace are errors");
        };
        let messages: Vec<String> = error.into_iter().map(|error| error.to_string()).collect();
        assert_eq!(
            messages,
            [
                "`sometimes` is not a class; use `core`, `utility` or `feature`",
                "`-5s` is negative; a duration counts up from zero",
            ]
        );
    }
}
