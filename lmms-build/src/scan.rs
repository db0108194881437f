//! The walk over a crate's sources: the `mod` tree from its root file, `#[path]` and
//! `#[cfg]` included, collecting every `#[lmms::operation]` and `#[lmms::module]` and
//! checking each with the attributes' own checks.

use crate::cfg::Cfg;
use crate::error::Problem;
use lmms_syntax::ast::{ModuleInput, OperationInput};
use lmms_syntax::{attr, tidy, valid};
use std::path::{Path, PathBuf};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned;

/// An operation found in the sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Its interface: `interface`, or the enclosing Rust module's name (`crate` at the root).
    pub interface: String,
    /// Its name.
    pub name: String,
    /// Its module's state type as written, unless it is stateless.
    pub module: Option<String>,
    /// That module's class (`core`, `utility`, `feature`), when its `#[lmms::module]` was
    /// found by the type's name.
    pub class: Option<&'static str>,
    /// Its `cache_ttl` in milliseconds.
    pub cache_ttl_ms: Option<u64>,
    /// Its signature, as written.
    pub signature: String,
    /// Whether it is an `async fn`.
    pub is_async: bool,
    /// The file, relative to the manifest directory, with `/` separators.
    pub file: String,
    /// The line of the function's name.
    pub line: usize,
}

/// A module found in the sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// The state type's name.
    pub ident: String,
    /// The module's name.
    pub name: String,
    /// `core`, `utility` or `feature`.
    pub class: &'static str,
    /// The file, relative to the manifest directory.
    pub file: String,
    /// The line of the type's name.
    pub line: usize,
}

/// What a walk found: items, the files read, and every problem.
#[derive(Default)]
pub struct Found {
    pub operations: Vec<Operation>,
    pub modules: Vec<Module>,
    pub files: Vec<PathBuf>,
    pub problems: Vec<Problem>,
}

pub struct Walker<'a> {
    manifest_dir: &'a Path,
    cfg: &'a Cfg,
    pub found: Found,
}

/// Where the items of one module are, for resolving the `mod` declarations among them.
struct Place<'a> {
    file: &'a Path,
    /// Where `mod child;` looks for `child.rs` and `child/mod.rs`.
    children: PathBuf,
    /// Where `#[path = "..."]` is relative to.
    path_base: PathBuf,
    /// The Rust module path inside the crate (empty at the root).
    module_path: Vec<String>,
}

impl<'a> Walker<'a> {
    pub fn new(manifest_dir: &'a Path, cfg: &'a Cfg) -> Self {
        Walker {
            manifest_dir,
            cfg,
            found: Found::default(),
        }
    }

    /// Walks the crate whose root file is `root`.
    pub fn root(&mut self, root: &Path) {
        self.file(root, Vec::new(), true);
    }

    /// One source file: `mod_rs` for a root, a `mod.rs` or a `#[path]` file, whose child
    /// modules sit beside it rather than in a directory named after it.
    fn file(&mut self, path: &Path, module_path: Vec<String>, mod_rs: bool) {
        self.found.files.push(path.to_owned());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                let problem = Problem::new(
                    self.relative(path),
                    0,
                    0,
                    format!("cannot read it: {error}"),
                );
                self.found.problems.push(problem);
                return;
            }
        };
        let file = match syn::parse_file(&text) {
            Ok(file) => file,
            Err(error) => {
                self.syn_problems(path, error);
                return;
            }
        };
        let dir = path.parent().unwrap_or(Path::new("")).to_owned();
        let children = if mod_rs {
            dir.clone()
        } else {
            let stem = path.file_stem().unwrap_or_default();
            dir.join(stem)
        };
        let place = Place {
            file: path,
            children,
            path_base: dir,
            module_path,
        };
        self.items(&file.items, &place);
    }

    fn items(&mut self, items: &[syn::Item], place: &Place<'_>) {
        for item in items {
            match item {
                syn::Item::Mod(module) if self.cfg.enabled(&module.attrs) => {
                    self.module_decl(module, place)
                }
                syn::Item::Fn(func) if self.cfg.enabled(&func.attrs) => self.operation(func, place),
                syn::Item::Struct(item) if self.cfg.enabled(&item.attrs) => self.module(
                    &item.attrs,
                    &item.ident,
                    syn::Item::Struct(item.clone()),
                    place,
                ),
                syn::Item::Enum(item) if self.cfg.enabled(&item.attrs) => self.module(
                    &item.attrs,
                    &item.ident,
                    syn::Item::Enum(item.clone()),
                    place,
                ),
                _ => {}
            }
        }
    }

    fn module_decl(&mut self, module: &syn::ItemMod, place: &Place<'_>) {
        let name = module.ident.unraw().to_string();
        let mut module_path = place.module_path.clone();
        module_path.push(name.clone());
        let path_attr = module.attrs.iter().find_map(|attr| match &attr.meta {
            syn::Meta::NameValue(pair) if pair.path.is_ident("path") => match &pair.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(path),
                    ..
                }) => Some(path.value()),
                _ => None,
            },
            _ => None,
        });
        if let Some((_, items)) = &module.content {
            let inner = Place {
                file: place.file,
                children: place.children.join(&name),
                path_base: place.children.join(&name),
                module_path,
            };
            self.items(items, &inner);
            return;
        }
        if let Some(path) = path_attr {
            self.file(&place.path_base.join(path), module_path, true);
            return;
        }
        let flat = place.children.join(format!("{name}.rs"));
        let nested = place.children.join(&name).join("mod.rs");
        if flat.is_file() {
            self.file(&flat, module_path, false);
        } else if nested.is_file() {
            self.file(&nested, module_path, true);
        } else {
            let line = module.ident.span().start();
            self.found.problems.push(Problem::new(
                self.relative(place.file),
                line.line,
                line.column + 1,
                format!(
                    "module `{name}` is declared here, but neither {} nor {} exists",
                    self.relative(&flat),
                    self.relative(&nested)
                ),
            ));
        }
    }

    fn operation(&mut self, func: &syn::ItemFn, place: &Place<'_>) {
        let Some((args, item)) = strip(&func.attrs, "operation", || syn::Item::Fn(func.clone()))
        else {
            return;
        };
        let input = args.map(|args| OperationInput { args, item });
        let op = match input.and_then(|input| valid::operation(&input)) {
            Ok(op) => op,
            Err(error) => return self.syn_problems(place.file, error),
        };
        let interface = op.interface.clone().unwrap_or_else(|| {
            place
                .module_path
                .last()
                .cloned()
                .unwrap_or_else(|| "crate".to_owned())
        });
        self.found.operations.push(Operation {
            interface,
            name: op.name,
            module: op.state.as_ref().map(tidy),
            class: None,
            cache_ttl_ms: op.cache_ms,
            signature: tidy(&func.sig),
            is_async: op.is_async,
            file: self.relative(place.file),
            line: func.sig.ident.span().start().line,
        });
    }

    fn module(
        &mut self,
        attrs: &[syn::Attribute],
        ident: &syn::Ident,
        item: syn::Item,
        place: &Place<'_>,
    ) {
        let Some((args, item)) = strip(attrs, "module", || item) else {
            return;
        };
        let input = args.map(|args| ModuleInput { args, item });
        let module = match input.and_then(|input| valid::module(&input)) {
            Ok(module) => module,
            Err(error) => return self.syn_problems(place.file, error),
        };
        self.found.modules.push(Module {
            ident: ident.to_string(),
            name: module.name,
            class: match module.class.to_string().as_str() {
                "Core" => "core",
                "Feature" => "feature",
                _ => "utility",
            },
            file: self.relative(place.file),
            line: ident.span().start().line,
        });
    }

    /// Every message of `error`, at its line and column in `file`.
    fn syn_problems(&mut self, file: &Path, error: syn::Error) {
        for error in error {
            let start = error.span().start();
            let problem = Problem::new(
                self.relative(file),
                start.line,
                start.column + 1,
                error.to_string(),
            );
            self.found.problems.push(problem);
        }
    }

    /// `path` relative to the manifest directory, with `/` separators on every platform.
    fn relative(&self, path: &Path) -> String {
        let relative = path.strip_prefix(self.manifest_dir).unwrap_or(path);
        relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The first `#[lmms::<name>(...)]` among `attrs`: its arguments, and the item without it
/// (as the attribute macro receives it). `None` when there is no such attribute.
fn strip(
    attrs: &[syn::Attribute],
    name: &str,
    item: impl FnOnce() -> syn::Item,
) -> Option<(syn::Result<Vec<attr::Arg>>, syn::Item)> {
    let index = attrs.iter().position(|attr| is_lmms(attr, name))?;
    let args = match &attrs[index].meta {
        syn::Meta::Path(_) => Ok(Vec::new()),
        syn::Meta::List(list) => attr::parse(list.tokens.clone()),
        syn::Meta::NameValue(pair) => Err(syn::Error::new(
            pair.span(),
            format!("write #[lmms::{name}(key = \"value\", ...)]"),
        )),
    };
    let mut item = item();
    let attrs = match &mut item {
        syn::Item::Fn(item) => &mut item.attrs,
        syn::Item::Struct(item) => &mut item.attrs,
        syn::Item::Enum(item) => &mut item.attrs,
        _ => return None,
    };
    attrs.remove(index);
    Some((args, item))
}

/// `#[lmms::<name>]`: the build script recognises the attributes by that path.
fn is_lmms(attr: &syn::Attribute, name: &str) -> bool {
    let segments = &attr.path().segments;
    segments.len() == 2 && segments[0].ident == "lmms" && segments[1].ident == name
}
