//! The annotated items, as the attributes see them.

use crate::attr::Arg;
use proc_macro2::TokenStream;

/// `#[lmms::module(...)]` on an item.
pub struct ModuleInput {
    /// The attribute's `key = "value"` arguments.
    pub args: Vec<Arg>,
    /// The item, without the attribute.
    pub item: syn::Item,
}

/// `#[lmms::operation(...)]` on an item.
pub struct OperationInput {
    /// The attribute's `key = "value"` arguments.
    pub args: Vec<Arg>,
    /// The item, without the attribute.
    pub item: syn::Item,
}

impl ModuleInput {
    /// The attribute's arguments and the item it is on, as a proc macro receives them.
    pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Self> {
        Ok(ModuleInput {
            args: crate::attr::parse(args)?,
            item: syn::parse2(item)?,
        })
    }
}

impl OperationInput {
    /// The attribute's arguments and the item it is on, as a proc macro receives them.
    pub fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Self> {
        Ok(OperationInput {
            args: crate::attr::parse(args)?,
            item: syn::parse2(item)?,
        })
    }
}
