//! `#[cfg(...)]` as the build script can read it: from the `CARGO_CFG_*` and
//! `CARGO_FEATURE_*` variables Cargo sets for build scripts.

use std::collections::HashMap;

/// The configuration the crate is being compiled for.
#[derive(Clone, Debug, Default)]
pub struct Cfg {
    /// `CARGO_CFG_TARGET_OS` → `["linux"]`, `CARGO_CFG_UNIX` → `[""]`.
    values: HashMap<String, Vec<String>>,
    features: Vec<String>,
}

impl Cfg {
    /// The configuration Cargo gives this build script.
    pub fn from_env() -> Self {
        let mut cfg = Cfg::default();
        for (key, value) in std::env::vars() {
            cfg.set_var(&key, &value);
        }
        cfg
    }

    /// Takes one `CARGO_CFG_*` or `CARGO_FEATURE_*` variable; ignores any other.
    pub fn set_var(&mut self, key: &str, value: &str) {
        if let Some(feature) = key.strip_prefix("CARGO_FEATURE_") {
            self.features.push(feature.to_owned());
        } else if let Some(name) = key.strip_prefix("CARGO_CFG_") {
            let values = value.split(',').map(str::to_owned).collect();
            self.values.insert(name.to_owned(), values);
        }
    }

    /// Whether the item with these attributes is compiled: every `#[cfg]` on it holds.
    pub fn enabled(&self, attrs: &[syn::Attribute]) -> bool {
        attrs
            .iter()
            .filter(|attr| attr.path().is_ident("cfg"))
            .all(|attr| match attr.parse_args::<Predicate>() {
                Ok(predicate) => self.holds(&predicate),
                // Not a predicate we can parse: rustc will say so; keep the item.
                Err(_) => true,
            })
    }

    fn holds(&self, predicate: &Predicate) -> bool {
        let meta = match predicate {
            Predicate::Literal(value) => return *value,
            Predicate::Meta(meta) => meta,
        };
        let name = meta
            .path()
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match &**meta {
            syn::Meta::List(list) => {
                let nested = list.parse_args_with(
                    syn::punctuated::Punctuated::<Predicate, syn::Token![,]>::parse_terminated,
                );
                let Ok(nested) = nested else { return true };
                match name.as_str() {
                    "all" => nested.iter().all(|nested| self.holds(nested)),
                    "any" => nested.iter().any(|nested| self.holds(nested)),
                    "not" => !nested.iter().all(|nested| self.holds(nested)),
                    _ => true,
                }
            }
            syn::Meta::NameValue(pair) => {
                let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }) = &pair.value
                else {
                    return true;
                };
                let value = value.value();
                if name == "feature" {
                    let wanted = value.to_uppercase().replace('-', "_");
                    return self.features.contains(&wanted);
                }
                self.values
                    .get(&name.to_uppercase())
                    .is_some_and(|values| values.contains(&value))
            }
            // `test` is never set for a build script; `unix`, `debug_assertions` ... are.
            syn::Meta::Path(_) => name != "test" && self.values.contains_key(&name.to_uppercase()),
        }
    }
}

/// A `cfg` predicate: an option (`unix`, `feature = "x"`, `all(...)`), or `true` / `false`.
enum Predicate {
    Literal(bool),
    Meta(Box<syn::Meta>),
}

impl syn::parse::Parse for Predicate {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::LitBool) {
            Ok(Predicate::Literal(input.parse::<syn::LitBool>()?.value))
        } else {
            input.parse().map(|meta| Predicate::Meta(Box::new(meta)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Cfg {
        let mut cfg = Cfg::default();
        cfg.set_var("CARGO_CFG_UNIX", "");
        cfg.set_var("CARGO_CFG_TARGET_OS", "linux");
        cfg.set_var("CARGO_CFG_TARGET_FAMILY", "unix");
        cfg.set_var("CARGO_FEATURE_FAST_PATH", "1");
        cfg
    }

    fn enabled(attr: syn::Attribute) -> bool {
        cfg().enabled(&[attr])
    }

    #[test]
    fn predicates_read_cargo_s_variables() {
        assert!(enabled(syn::parse_quote!(#[cfg(unix)])));
        assert!(!enabled(syn::parse_quote!(#[cfg(windows)])));
        assert!(enabled(syn::parse_quote!(#[cfg(target_os = "linux")])));
        assert!(enabled(syn::parse_quote!(#[cfg(feature = "fast-path")])));
        assert!(!enabled(syn::parse_quote!(#[cfg(feature = "slow")])));
        assert!(enabled(syn::parse_quote!(#[cfg(all(unix, not(test)))])));
        assert!(!enabled(syn::parse_quote!(#[cfg(any(windows, test))])));
        assert!(enabled(syn::parse_quote!(#[cfg(target_family = "unix")])));
    }
}
