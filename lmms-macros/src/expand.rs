//! The code the attributes generate. It names the runtime only through `::lmms::__private`.

use lmms_attributes::ast::{ModuleInput, OperationInput};
use lmms_attributes::valid;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;

pub fn module(args: TokenStream, item: TokenStream) -> TokenStream {
    let checked = ModuleInput::parse(args, item.clone())
        .and_then(|input| valid::module(&input).map(|module| (input, module)));
    match checked {
        Ok((input, module)) => expand_module(&input, &module),
        Err(errors) => fallback(item, errors),
    }
}

/// `unseen` is the operation's file when the build script's last run did not read it.
pub fn operation(args: TokenStream, item: TokenStream, unseen: Option<PathBuf>) -> TokenStream {
    let checked =
        OperationInput::parse(args, item.clone()).and_then(|input| valid::operation(&input));
    match checked {
        Ok(operation) => {
            let expanded = expand_operation(&operation);
            let stale = unseen.map(|file| stale_registry(&file));
            quote! { #expanded #stale }
        }
        Err(errors) => fallback(item, errors),
    }
}

/// The error for an operation in a file the build script has not read: its registry does
/// not list the operation. Not under `cfg(test)`, which the build script does not see, so
/// it skips a `#[cfg(test)] mod` a test build compiles.
fn stale_registry(file: &Path) -> TokenStream {
    let message = format!(
        "the build script has not read `{}`, so the registry it wrote does not list this \
         operation and calls by name would fail: Cargo does not rerun a build script when a \
         file appears (rust-lang/cargo#4213); run `touch build.rs` once and build again (a \
         root it does not scan by default, like `src/bin/*.rs`, it reads once named with \
         `lmms_build::Builder::root`)",
        file.display()
    );
    quote! {
        #[cfg(not(test))]
        ::core::compile_error! { #message }
    }
}

/// The item as written, beside the errors: the user sees what is wrong with the attribute,
/// not a cascade of errors about an item that vanished.
fn fallback(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    quote! { #errors #item }
}

fn expand_module(input: &ModuleInput, module: &valid::Module) -> TokenStream {
    let item = &input.item;
    let valid::Module {
        ident,
        vis,
        name,
        class,
        grace_ms,
    } = module;
    let grace = grace_ms.map(|ms| quote! { .grace(::lmms::__private::Duration::from_millis(#ms)) });
    let line = quote_spanned!(ident.span()=> ::core::line!());
    // The one place that asks whether the type says how to build its state, spanned at its
    // name: everything else reaches the cell through `ModuleState`, and `Module`'s own
    // `AsyncLoad` bound holds inside its impl (see `Loads`), so a module without `Load` is
    // this one error.
    let new_cell = quote_spanned!(ident.span()=> ::lmms::__private::new_cell::<#ident>);
    quote! {
        #item

        impl ::lmms::__private::Module for #ident
        where
            for<'a> #ident: ::lmms::__private::Loads,
        {
            #[inline]
            fn cell() -> &'static ::lmms::__private::ModuleCell<Self> {
                <Self as ::lmms::__private::ModuleState>::cell()
            }
        }

        impl ::lmms::__private::ModuleState for #ident {
            #[inline]
            fn cell() -> &'static ::lmms::__private::ModuleCell<Self> {
                static CELL: ::lmms::__private::ModuleCell<#ident> = #new_cell(
                    ::lmms::__private::ModuleDef::new(#name)
                        .class(::lmms::__private::Class::#class)
                        #grace
                );
                &CELL
            }
        }

        const _: () = {
            #[::lmms::__private::linkme::distributed_slice(::lmms::__private::MODULES)]
            #[linkme(crate = ::lmms::__private::linkme)]
            static LINK: ::lmms::__private::ModuleLink = ::lmms::__private::ModuleLink::new::<#ident>(
                #name,
                ::lmms::__private::Class::#class,
                ::core::file!(),
                #line,
            );
        };

        impl #ident {
            /// Drops this module's state now if nothing holds it (see `lmms::ModuleCell::unload`).
            #[allow(dead_code)]
            #[inline]
            #vis fn unload() -> ::lmms::__private::Unload {
                <Self as ::lmms::__private::ModuleState>::cell().unload()
            }

            /// Whether this module's state is loaded now.
            #[allow(dead_code)]
            #[inline]
            #vis fn is_resident() -> bool {
                <Self as ::lmms::__private::ModuleState>::cell().is_resident()
            }

            /// This module's figures: loads, bytes, guards alive, last use.
            #[allow(dead_code)]
            #[inline]
            #vis fn stats() -> ::lmms::__private::ModuleStats {
                <Self as ::lmms::__private::ModuleState>::cell().stats()
            }

            /// A guard on this module's state, loading it first if needed (an
            /// `lmms::AsyncLoad` module must be loaded by `get_async` first).
            #[allow(dead_code)]
            #[inline]
            #vis fn get() -> ::core::result::Result<
                ::lmms::__private::Guard<'static, Self>,
                ::lmms::__private::Error,
            > {
                <Self as ::lmms::__private::ModuleState>::cell().get()
            }

            /// A guard on this module's state from async code, loading it first if
            /// needed (with `.await`, once, for an `lmms::AsyncLoad` module).
            #[allow(dead_code)]
            #vis async fn get_async() -> ::core::result::Result<
                ::lmms::__private::Guard<'static, Self>,
                ::lmms::__private::Error,
            > {
                <Self as ::lmms::__private::ModuleState>::cell().get_async().await
            }
        }
    }
}

fn expand_operation(op: &valid::Operation) -> TokenStream {
    let func = &op.func;
    let vis = &func.vis;
    let fn_name = &func.sig.ident;
    let marker = format_ident!("__Operation");
    let name = &op.name;
    let names: Vec<_> = op.params.iter().map(|(name, _)| name).collect();
    let types: Vec<_> = op.params.iter().map(|(_, ty)| ty).collect();
    let output = &op.output;
    let private = quote! { ::lmms::__private };
    let def = match &op.interface {
        Some(interface) => quote! { #private::OpDef::new(#interface, #name) },
        None => quote! { #private::OpDef::generated_in(::core::module_path!(), #name) },
    };
    let (state, source, state_arg) = match &op.state {
        Some(state) => (
            quote! { #state },
            quote! { #private::Source::Module(<#state as #private::ModuleState>::cell()) },
            Some(quote! { state, }),
        ),
        None => (
            quote! { () },
            quote! { #private::Source::Stateless(&()) },
            None,
        ),
    };
    let args = quote! { (#(#types,)*) };
    let (op_ty, op_new) = match op.cache_ms {
        Some(ms) => {
            // A `Result`'s errors are not kept unless asked: one transient failure would
            // otherwise be the answer for a whole TTL. Whether the output is one, its type
            // says (`OutputProbe`), whatever the signature calls it.
            let keep = if op.cache_errors {
                quote! { ::core::option::Option::None }
            } else {
                quote! { <#private::OutputProbe<#output>>::KEEP }
            };
            let cache = quote! {
                #private::cached_by(
                    #private::Duration::from_millis(#ms),
                    #private::DEFAULT_CACHE_CAPACITY,
                    #keep,
                )
            };
            (
                quote! { #private::Op<#marker, #private::Cached<#args, #output, #marker>> },
                quote! { #private::Op::caching(#def, #cache) },
            )
        }
        None => (
            quote! { #private::Op<#marker> },
            quote! { #private::Op::new(#def) },
        ),
    };
    // The body: on the direct or managed path (sync), or between `begin_async` and
    // `finish` with the guard held across its awaits (async), in a managed call of its own
    // that a call by name awaits too.
    let (body, managed) = if op.is_async {
        let state = if state_arg.is_some() {
            quote! { running.state(), }
        } else {
            quote! {}
        };
        (
            quote! {
                #[doc(hidden)]
                pub async fn __managed(
                    (#(#names,)*): #args,
                ) -> ::core::result::Result<#output, #private::Error> {
                    match OP.begin_async((#(#names,)*)).await {
                        ::core::result::Result::Ok(#private::Begin::Done(output)) => {
                            ::core::result::Result::Ok(output)
                        }
                        ::core::result::Result::Ok(#private::Begin::Run(running, (#(#names,)*))) => {
                            match running.guard(super::#fn_name(#state #(#names),*)).await {
                                ::core::result::Result::Ok(output) => ::core::result::Result::Ok(running.finish(output)),
                                ::core::result::Result::Err(error) => ::core::result::Result::Err(error),
                            }
                        }
                        ::core::result::Result::Err(error) => ::core::result::Result::Err(error),
                    }
                }
            },
            quote! { __managed((#(#names,)*)).await },
        )
    } else {
        let state_param = if state_arg.is_some() {
            quote! { state }
        } else {
            quote! { _ }
        };
        (
            quote! {
                impl #private::Body for #marker {
                    #[inline]
                    fn run(#state_param: &Self::State, (#(#names,)*): Self::Args) -> Self::Output {
                        super::#fn_name(#state_arg #(#names),*)
                    }
                }
            },
            quote! { OP.call((#(#names,)*)) },
        )
    };
    let (returns, managed) = match split_result(output) {
        Some((ok, err)) => (
            quote! { ::core::result::Result<#ok, #private::CallError<#err>> },
            quote! { #private::CallError::flatten(#managed) },
        ),
        None => (
            quote! { ::core::result::Result<#output, #private::Error> },
            managed,
        ),
    };
    let asyncness = &func.sig.asyncness;
    let copier = op.cache_ms.map(|_| copier(&marker, output));
    let state_check = by_value_state(op);
    let sync_check = sync_module(op);
    let link = link(op);
    let doc_call = format!("The managed call of [`{fn_name}`](fn@super::{fn_name}): the direct path when hot, else the cache, else the module and the body.");
    let doc_mod = format!("The lmms operation around [`{fn_name}`](fn@{fn_name}).");
    let doc_op = format!(
        "The descriptor of [`{fn_name}`](fn@super::{fn_name}): its heat, cache and figures."
    );
    quote! {
        #func

        #[doc = #doc_mod]
        #[allow(unused_imports)]
        #vis mod #fn_name {
            use super::*;
            // `OutputProbe`'s fallback: the output's type answers whether it is a `Result`.
            use #private::NotResult as _;

            #[doc(hidden)]
            pub struct #marker;

            impl #private::Operation for #marker {
                type State = #state;
                type Args = #args;
                type Output = #output;

                #[inline]
                fn source() -> #private::Source<Self::State> {
                    #state_check
                    #sync_check
                    #source
                }
            }

            #body

            #copier

            #[doc = #doc_op]
            pub static OP: #op_ty = #op_new;

            #[doc = #doc_call]
            #[inline]
            pub #asyncness fn call(#(#names: #types),*) -> #returns {
                #managed
            }

            #link
        }
    }
}

/// How a cached operation's cache hands its output out again: the output's `Clone`, required
/// here alone and spanned at the output's type, so that an output that is not `Clone` is one
/// error that says so rather than one at every bound of the cache.
fn copier(marker: &syn::Ident, output: &syn::Type) -> TokenStream {
    let private = quote! { ::lmms::__private };
    let clone = quote_spanned!(output.span()=> <#output as #private::CachedOutput>::copy(output));
    quote! {
        impl #private::CloneOutput<#output> for #marker {
            #[inline]
            fn clone_output(output: &#output) -> #output {
                #clone
            }
        }
    }
}

/// The operation's entry in the linked registry: what a call by name reaches.
fn link(op: &valid::Operation) -> TokenStream {
    let private = quote! { ::lmms::__private };
    let params = op.params.iter().map(|(name, ty)| {
        let name = name.to_string();
        let ty = lmms_attributes::tidy(ty);
        quote! { #private::Param { name: #name, ty: #ty } }
    });
    let line = quote_spanned!(op.func.sig.ident.span()=> ::core::line!());
    let new_link = quote! {
        #private::OpLink::new(
            &OP,
            ::core::module_path!(),
            &[#(#params),*],
            ::core::file!(),
            #line,
        )
    };
    // By name, a `Result`'s `Ok` is the answer and its `Err` an error: the output's type
    // says whether it is one (`OutputProbe`), whatever the signature calls it.
    let output = &op.output;
    let new_link = quote! { #new_link.fallible(<#private::OutputProbe<#output>>::IS_RESULT) };
    // Whether a call by name is compiled in is the facade's `json` feature, so its macro
    // decides; an async operation has no sync entry point to give it.
    let new_link = if op.is_async {
        quote! { #private::json_link_async!(#new_link.asynchronous(), __managed, OP) }
    } else {
        quote! { #private::json_link!(#new_link, OP) }
    };
    quote! {
        #[#private::linkme::distributed_slice(#private::OPERATIONS)]
        #[linkme(crate = #private::linkme)]
        static LINK: #private::OpLink = #new_link;
    }
}

/// A compile-time check that a by-value first parameter is not a module's state: a
/// module's type taken by value is almost surely a missing `&`, and without this check it
/// would become an ordinary argument of a stateless operation.
fn by_value_state(op: &valid::Operation) -> TokenStream {
    match op.params.first().filter(|_| op.state.is_none()) {
        Some((_, ty)) => probe_check(ty, quote!(StateProbe), quote!(NotState)),
        None => TokenStream::new(),
    }
}

/// A compile-time check that a synchronous operation's module loads without `.await`: an
/// `lmms::AsyncLoad` module's operations must be `async fn`s, and this says so at the state's
/// type rather than failing at run time.
fn sync_module(op: &valid::Operation) -> TokenStream {
    match op.state.as_ref().filter(|_| !op.is_async) {
        Some(state) => probe_check(state, quote!(SyncProbe), quote!(NotModule)),
        None => TokenStream::new(),
    }
}

/// `probe::<ty>::new().check()` as a block, spanned at `ty`: the inherent `check`, whose
/// bound fails with the probe's message, when `ty` is what the probe looks for, and
/// `fallback`'s (empty) otherwise. It sits in the operation's `source()`, which exists
/// anyway, rather than in an item of its own: each item an operation expands to is paid
/// for on every build of the user's crate.
fn probe_check(ty: &syn::Type, probe: TokenStream, fallback: TokenStream) -> TokenStream {
    quote_spanned! {ty.span()=>
        {
            #[allow(unused_imports)]
            use ::lmms::__private::#fallback as _;
            ::lmms::__private::#probe::<#ty>::new().check();
        }
    }
}

/// `Result<T, E>` (by its last path segment, with two type arguments) as `(T, E)`: such an
/// operation's `call` returns `Result<T, CallError<E>>`. By its spelling, since `call`'s
/// signature is written here, before any type is known: an alias (`Reply`, `io::Result<T>`)
/// is a plain output to `call`, which hands it back whole. Whether its `Err` is an error by
/// name, and whether a cache keeps it, the type decides (`OutputProbe`).
fn split_result(ty: &syn::Type) -> Option<(&syn::Type, &syn::Type)> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next(), types.next()) {
        (Some(ok), Some(err), None) => Some((ok, err)),
        _ => None,
    }
}
