//! The generated Rust: a typed enum of the crate's operations and its build-time table,
//! registered for the runtime's drift check.

use crate::scan::Operation;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// The variant name for `interface.name`: `weather.forecast` → `WeatherForecast`.
pub fn variant(op: &Operation) -> String {
    let mut out = String::new();
    for word in op
        .interface
        .split(|c: char| !c.is_alphanumeric())
        .chain(op.name.split(|c: char| !c.is_alphanumeric()))
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if !out.starts_with(|c: char| c.is_alphabetic()) {
        out.insert_str(0, "Op");
    }
    out
}

pub fn registry(operations: &[Operation]) -> String {
    let variants: Vec<Ident> = operations
        .iter()
        .map(|op| Ident::new(&variant(op), Span::call_site()))
        .collect();
    let interfaces = operations.iter().map(|op| &op.interface);
    let names = operations.iter().map(|op| &op.name);
    let keys: Vec<String> = operations
        .iter()
        .map(|op| format!("{}.{}", op.interface, op.name))
        .collect();
    let docs = operations.iter().map(|op| {
        format!(
            "`{}.{}`: `{}` ({}:{})",
            op.interface, op.name, op.signature, op.file, op.line
        )
    });
    let indices = 0..operations.len();
    let entries = operations.iter().map(entry);
    quote! {
        /// The operations of this crate, as `lmms-build` found them in its sources.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(dead_code)]
        pub enum OpName {
            #(#[doc = #docs] #variants,)*
        }

        #[allow(dead_code)]
        impl OpName {
            /// Every operation, in source order.
            pub const ALL: &'static [OpName] = &[#(OpName::#variants),*];

            /// The operation's interface.
            pub const fn interface(self) -> &'static str {
                match self { #(OpName::#variants => #interfaces,)* }
            }

            /// The operation's name within its interface.
            pub const fn name(self) -> &'static str {
                match self { #(OpName::#variants => #names,)* }
            }

            /// The operation's row in this crate's build-time table.
            pub fn entry(self) -> &'static ::lmms::TableEntry {
                match self { #(OpName::#variants => &REGISTRY.operations[#indices],)* }
            }

            /// The operation as linked into the binary: what a call by name reaches.
            pub fn lookup(self) -> ::core::result::Result<&'static ::lmms::OpLink, ::lmms::Error> {
                ::lmms::lookup(self.interface(), self.name())
            }
        }

        impl ::core::fmt::Display for OpName {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(match self { #(OpName::#variants => #keys,)* })
            }
        }

        impl ::core::str::FromStr for OpName {
            type Err = ::lmms::Error;

            fn from_str(text: &str) -> ::core::result::Result<Self, ::lmms::Error> {
                match text {
                    #(#keys => ::core::result::Result::Ok(OpName::#variants),)*
                    _ => ::core::result::Result::Err(::lmms::__private::unknown_operation(
                        text,
                        OpName::ALL.iter().map(::std::string::ToString::to_string),
                    )),
                }
            }
        }

        /// This crate's build-time table of operations.
        pub static REGISTRY: ::lmms::Table = ::lmms::Table {
            module_path: ::core::module_path!(),
            operations: &[#(#entries),*],
        };

        #[::lmms::__private::linkme::distributed_slice(::lmms::__private::TABLES)]
        #[linkme(crate = ::lmms::__private::linkme)]
        static __LMMS_TABLE: &::lmms::Table = &REGISTRY;
    }
    .to_string()
}

fn entry(op: &Operation) -> TokenStream {
    let Operation {
        interface,
        name,
        module,
        class,
        cache_ttl_ms,
        signature,
        is_async,
        file,
        line,
    } = op;
    let line = u32::try_from(*line).unwrap_or(u32::MAX);
    let module = option(module.as_ref().map(|module| quote!(#module)));
    let class = option(class.map(|class| {
        let class = Ident::new(
            match class {
                "core" => "Core",
                "feature" => "Feature",
                _ => "Utility",
            },
            Span::call_site(),
        );
        quote!(::lmms::Class::#class)
    }));
    let cache_ttl_ms = option(cache_ttl_ms.map(|ms| quote!(#ms)));
    quote! {
        ::lmms::TableEntry {
            interface: #interface,
            name: #name,
            module: #module,
            class: #class,
            cache_ttl_ms: #cache_ttl_ms,
            signature: #signature,
            is_async: #is_async,
            file: #file,
            line: #line,
        }
    }
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}
