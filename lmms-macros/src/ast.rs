//! The annotated items, as the attributes see them.

use crate::attr::Arg;
use proc_macro2::TokenStream;

/// `#[lmms::module(...)]` on an item.
pub struct ModuleInput {
    pub args: Vec<Arg>,
    pub item: syn::Item,
}

/// `#[lmms::operation(...)]` on an item.
pub struct OperationInput {
    pub args: Vec<Arg>,
    pub item: syn::Item,
}

impl ModuleInput {
    pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Self> {
        Ok(ModuleInput {
            args: crate::attr::parse(args)?,
            item: syn::parse2(item)?,
        })
    }
}

impl OperationInput {
    pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Self> {
        Ok(OperationInput {
            args: crate::attr::parse(args)?,
            item: syn::parse2(item)?,
        })
    }
}
