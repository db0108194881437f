//! The code the attributes generate. It names the runtime only through `::lmms::__private`.

use crate::ast::{ModuleInput, OperationInput};
use crate::valid;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn module(args: TokenStream, item: TokenStream) -> TokenStream {
    let checked = ModuleInput::parse(args, item.clone())
        .and_then(|input| valid::module(&input).map(|module| (input, module)));
    match checked {
        Ok((input, module)) => expand_module(&input, &module),
        Err(errors) => fallback(item, errors),
    }
}

pub fn operation(args: TokenStream, item: TokenStream) -> TokenStream {
    let checked =
        OperationInput::parse(args, item.clone()).and_then(|input| valid::operation(&input));
    match checked {
        Ok(operation) => expand_operation(&operation),
        Err(errors) => fallback(item, errors),
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
    quote! {
        #item

        impl ::lmms::__private::Module for #ident {
            #[inline]
            fn cell() -> &'static ::lmms::__private::ModuleCell<Self> {
                static CELL: ::lmms::__private::ModuleCell<#ident> = ::lmms::__private::ModuleCell::new(
                    ::lmms::__private::ModuleDef::new(#name)
                        .class(::lmms::__private::Class::#class)
                        #grace
                );
                &CELL
            }
        }

        impl #ident {
            /// Drops this module's state now if nothing holds it (see `lmms::ModuleCell::unload`).
            #[allow(dead_code)]
            #[inline]
            #vis fn unload() -> ::lmms::__private::Unload {
                <Self as ::lmms::__private::Module>::cell().unload()
            }

            /// Whether this module's state is loaded now.
            #[allow(dead_code)]
            #[inline]
            #vis fn is_resident() -> bool {
                <Self as ::lmms::__private::Module>::cell().is_resident()
            }

            /// This module's figures: loads, bytes, guards alive, last use.
            #[allow(dead_code)]
            #[inline]
            #vis fn stats() -> ::lmms::__private::ModuleStats {
                <Self as ::lmms::__private::Module>::cell().stats()
            }

            /// A guard on this module's state, loading it first if needed.
            #[allow(dead_code)]
            #[inline]
            #vis fn get() -> ::core::result::Result<
                ::lmms::__private::Guard<'static, Self>,
                ::lmms::__private::Error,
            > {
                <Self as ::lmms::__private::Module>::cell().get()
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
    let def = match &op.interface {
        Some(interface) => quote! { ::lmms::__private::OpDef::new(#interface, #name) },
        None => quote! { ::lmms::__private::OpDef::generated_in(::core::module_path!(), #name) },
    };
    let (state, source, run) = match &op.state {
        Some(state) => (
            quote! { #state },
            quote! {
                ::lmms::__private::Source::Module(
                    <#state as ::lmms::__private::Module>::cell(),
                )
            },
            quote! { super::#fn_name(state, #(#names),*) },
        ),
        None => (
            quote! { () },
            quote! { ::lmms::__private::Source::Stateless(&()) },
            quote! { { let () = *state; super::#fn_name(#(#names),*) } },
        ),
    };
    let args = quote! { (#(#types,)*) };
    let (op_ty, op_new) = match op.cache_ms {
        Some(ms) => (
            quote! { ::lmms::__private::Op<#marker, ::lmms::__private::Cached<#args, #output>> },
            quote! {
                ::lmms::__private::Op::cached(
                    #def,
                    ::lmms::__private::Duration::from_millis(#ms),
                    ::lmms::__private::DEFAULT_CACHE_CAPACITY,
                )
            },
        ),
        None => (
            quote! { ::lmms::__private::Op<#marker> },
            quote! { ::lmms::__private::Op::new(#def) },
        ),
    };
    let call = match split_result(output) {
        Some((ok, err)) => quote! {
            pub fn call(#(#names: #types),*) -> ::core::result::Result<#ok, ::lmms::__private::CallError<#err>> {
                match OP.call((#(#names,)*)) {
                    ::core::result::Result::Ok(::core::result::Result::Ok(value)) => ::core::result::Result::Ok(value),
                    ::core::result::Result::Ok(::core::result::Result::Err(error)) => {
                        ::core::result::Result::Err(::lmms::__private::CallError::Operation(error))
                    }
                    ::core::result::Result::Err(error) => {
                        ::core::result::Result::Err(::lmms::__private::CallError::Runtime(error))
                    }
                }
            }
        },
        None => quote! {
            pub fn call(#(#names: #types),*) -> ::core::result::Result<#output, ::lmms::__private::Error> {
                OP.call((#(#names,)*))
            }
        },
    };
    let doc_call = format!("The managed call of [`{fn_name}`](fn@super::{fn_name}): the direct path when hot, else the cache, else the module and the body.");
    let doc_op = format!(
        "The descriptor of [`{fn_name}`](fn@super::{fn_name}): its heat, cache and figures."
    );
    quote! {
        #func

        #[doc = concat!("The lmms operation around [`", stringify!(#fn_name), "`](fn@", stringify!(#fn_name), ").")]
        #[allow(unused_imports)]
        #vis mod #fn_name {
            use super::*;

            #[doc(hidden)]
            pub struct #marker;

            impl ::lmms::__private::Operation for #marker {
                type State = #state;
                type Args = #args;
                type Output = #output;

                #[inline]
                fn source() -> ::lmms::__private::Source<Self::State> {
                    #source
                }

                #[inline]
                fn run(state: &Self::State, (#(#names,)*): Self::Args) -> Self::Output {
                    #run
                }
            }

            #[doc = #doc_op]
            pub static OP: #op_ty = #op_new;

            #[doc = #doc_call]
            #[inline]
            #call
        }
    }
}

/// `Result<T, E>` (by its last path segment, with two type arguments) as `(T, E)`: such an
/// operation's `call` returns `Result<T, CallError<E>>`. An alias with one argument, like
/// `io::Result<T>`, is taken as a plain output.
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
