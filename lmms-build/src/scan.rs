//! The walk over a crate's sources: the `mod` tree from its root file, `#[path]` and
//! `#[cfg]` included, collecting every `#[lmms::operation]` and `#[lmms::module]` and
//! checking each with the attributes' own checks.

use crate::cfg::Cfg;
use crate::error::Problem;
use lmms_grammar::{CLASSES, CLASS_VARIANTS};
use lmms_syntax::ast::{ModuleInput, OperationInput};
use lmms_syntax::{attr, tidy, valid};
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use std::collections::HashMap;
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
    /// The crate root its file was reached from (`src/lib.rs`, `src/main.rs`, relative to
    /// the manifest directory): the target that compiles it.
    pub root: String,
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

/// One file's findings, in source order, with its child files in place: a file is scanned
/// on its own (in parallel with its siblings), and the results are joined in the order of
/// the `mod` declarations.
enum Entry {
    Operation(Operation),
    Module(Module),
    Problem(Problem),
    Child(Child),
}

/// A child module's file, as its `mod` declaration names it.
#[derive(Clone)]
struct Child {
    path: PathBuf,
    module_path: Vec<String>,
    /// A root, `mod.rs` or `#[path]` file: its own children sit beside it.
    mod_rs: bool,
    /// The canonical paths of the files that declared it, root first: a file that would
    /// be its own ancestor is a cycle, followed once.
    ancestors: Vec<PathBuf>,
}

/// Walks the crate from its root files: each level of the `mod` tree is scanned in
/// parallel (build scripts run unoptimized, and a large crate's files take a while to
/// lex), then the findings are joined in source order.
pub fn walk(manifest_dir: &Path, cfg: &Cfg, roots: &[PathBuf]) -> Found {
    let roots: Vec<Child> = roots
        .iter()
        .map(|path| Child {
            path: path.clone(),
            module_path: Vec::new(),
            mod_rs: true,
            ancestors: Vec::new(),
        })
        .collect();
    let mut scans: HashMap<PathBuf, Vec<Entry>> = HashMap::new();
    // A cycle may grow its path at every turn (`#[path = "x/../a.rs"]` in `a.rs`): files
    // are told apart by their canonical path when looking for one, while a file mounted
    // twice under two names (legal) is scanned as both.
    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut frontier = roots.clone();
    while !frontier.is_empty() {
        let scanned = in_parallel(&frontier, |child| scan_file(manifest_dir, cfg, child));
        let mut next = Vec::new();
        for (child, entries) in frontier.iter().zip(scanned) {
            for entry in &entries {
                if let Entry::Child(grandchild) = entry {
                    let mut ancestors = child.ancestors.clone();
                    ancestors.push(canonical(&child.path));
                    let cycle = ancestors.contains(&canonical(&grandchild.path));
                    if !cycle && !scans.contains_key(&grandchild.path) {
                        next.push(Child {
                            ancestors,
                            ..grandchild.clone()
                        });
                    }
                }
            }
            scans.insert(child.path.clone(), entries);
        }
        next.dedup_by(|a, b| a.path == b.path);
        frontier = next;
    }
    let mut found = Found::default();
    for root in &roots {
        let first = found.operations.len();
        join(&root.path, &mut scans, &mut found);
        let relative = relative_to(manifest_dir, &root.path);
        for op in &mut found.operations[first..] {
            op.root.clone_from(&relative);
        }
    }
    found
}

/// The stack of a scan worker: parsing follows the nesting of inline modules, which
/// rustc accepts hundreds deep, further than a thread's default stack goes.
const WORKER_STACK: usize = 256 << 20;

/// The most scan workers at once: each reserves a deep stack's address space.
const MAX_WORKERS: usize = 8;

/// Runs `scan` over `files` on the machine's cores, results in the files' order, each on
/// a worker thread with a deep stack; a chunk whose worker cannot be spawned (the address
/// space is limited) is scanned here instead.
fn in_parallel<T: Send>(files: &[Child], scan: impl Fn(&Child) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = files.len().div_ceil(threads.min(MAX_WORKERS)).max(1);
    let scan_chunk = |chunk: &[Child]| chunk.iter().map(&scan).collect::<Vec<T>>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|chunk| {
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, || scan_chunk(chunk))
                    .map_err(|_| chunk)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker {
                Ok(worker) => match worker.join() {
                    Ok(results) => results,
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(chunk) => scan_chunk(chunk),
            })
            .collect()
    })
}

/// Moves a file's findings, and its children's in their places, into `found`.
fn join(path: &Path, scans: &mut HashMap<PathBuf, Vec<Entry>>, found: &mut Found) {
    found.files.push(path.to_owned());
    // Taken out, so a file reached twice (two `#[path]`s) is joined once.
    let Some(entries) = scans.remove(path) else {
        return;
    };
    for entry in entries {
        match entry {
            Entry::Operation(op) => found.operations.push(op),
            Entry::Module(module) => found.modules.push(module),
            Entry::Problem(problem) => found.problems.push(problem),
            Entry::Child(child) => join(&child.path, scans, found),
        }
    }
}

fn scan_file(manifest_dir: &Path, cfg: &Cfg, child: &Child) -> Vec<Entry> {
    let mut walker = Walker {
        manifest_dir,
        cfg,
        entries: Vec::new(),
    };
    walker.file(child);
    walker.entries
}

/// The scan of one file.
struct Walker<'a> {
    manifest_dir: &'a Path,
    cfg: &'a Cfg,
    entries: Vec<Entry>,
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

impl Walker<'_> {
    /// One source file: `mod_rs` for a root, a `mod.rs` or a `#[path]` file, whose child
    /// modules sit beside it rather than in a directory named after it.
    fn file(&mut self, child: &Child) {
        let Child {
            path,
            module_path,
            mod_rs,
            ..
        } = child;
        let (path, module_path, mod_rs) = (path.as_path(), module_path.clone(), *mod_rs);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                let problem = Problem::new(
                    self.relative(path),
                    0,
                    0,
                    format!("cannot read it: {error}"),
                );
                self.entries.push(Entry::Problem(problem));
                return;
            }
        };
        let items = match parse_items(&text) {
            Ok(items) => items,
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
        self.items(items, &place);
    }

    fn items(&mut self, items: Vec<syn::Item>, place: &Place<'_>) {
        for item in items {
            let attrs = match &item {
                syn::Item::Mod(item) => &item.attrs,
                syn::Item::Fn(item) => &item.attrs,
                syn::Item::Struct(item) => &item.attrs,
                syn::Item::Enum(item) => &item.attrs,
                _ => continue,
            };
            if !self.cfg.enabled(attrs) {
                continue;
            }
            match item {
                syn::Item::Mod(module) => self.module_decl(module, place),
                syn::Item::Fn(_) => self.operation(item, place),
                _ => self.module(item, place),
            }
        }
    }

    fn module_decl(&mut self, module: syn::ItemMod, place: &Place<'_>) {
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
        if let Some((_, items)) = module.content {
            // An inline module's children live in a directory of its name beside the file's
            // children, or at its `#[path]`, which rustc takes from the file's directory.
            let dir = path_attr.as_deref().map_or_else(
                || place.children.join(&name),
                |path| place.path_base.join(path),
            );
            let inner = Place {
                file: place.file,
                children: dir.clone(),
                path_base: dir,
                module_path,
            };
            self.items(items, &inner);
            return;
        }
        if let Some(path) = path_attr {
            self.entries.push(Entry::Child(Child {
                path: place.path_base.join(path),
                module_path,
                mod_rs: true,
                ancestors: Vec::new(),
            }));
            return;
        }
        let flat = place.children.join(format!("{name}.rs"));
        let nested = place.children.join(&name).join("mod.rs");
        if flat.is_file() {
            self.entries.push(Entry::Child(Child {
                path: flat,
                module_path,
                mod_rs: false,
                ancestors: Vec::new(),
            }));
        } else if nested.is_file() {
            self.entries.push(Entry::Child(Child {
                path: nested,
                module_path,
                mod_rs: true,
                ancestors: Vec::new(),
            }));
        } else {
            let line = module.ident.span().start();
            self.entries.push(Entry::Problem(Problem::new(
                self.relative(place.file),
                line.line,
                line.column + 1,
                format!(
                    "module `{name}` is declared here, but neither {} nor {} exists",
                    self.relative(&flat),
                    self.relative(&nested)
                ),
            )));
        }
    }

    fn operation(&mut self, item: syn::Item, place: &Place<'_>) {
        let Some((args, item)) = strip(item, "operation") else {
            return;
        };
        let input = args.map(|args| OperationInput { args, item });
        let op = match input.and_then(|input| valid::operation(&input)) {
            Ok(op) => op,
            Err(error) => return self.syn_problems(place.file, error),
        };
        let func = &op.func;
        let interface = op.interface.clone().unwrap_or_else(|| {
            place
                .module_path
                .last()
                .cloned()
                .unwrap_or_else(|| "crate".to_owned())
        });
        self.entries.push(Entry::Operation(Operation {
            interface,
            name: op.name,
            module: op.state.as_ref().map(tidy),
            class: None,
            cache_ttl_ms: op.cache_ms,
            signature: tidy(&func.sig),
            is_async: op.is_async,
            file: self.relative(place.file),
            line: func.sig.ident.span().start().line,
            root: String::new(),
        }));
    }

    fn module(&mut self, item: syn::Item, place: &Place<'_>) {
        let Some((args, item)) = strip(item, "module") else {
            return;
        };
        let input = args.map(|args| ModuleInput { args, item });
        let module = match input.and_then(|input| valid::module(&input)) {
            Ok(module) => module,
            Err(error) => return self.syn_problems(place.file, error),
        };
        let ident = &module.ident;
        self.entries.push(Entry::Module(Module {
            ident: ident.to_string(),
            name: module.name,
            class: CLASS_VARIANTS
                .iter()
                .position(|variant| module.class == variant)
                .map(|index| CLASSES[index])
                .expect("valid::module names one of CLASS_VARIANTS"),
            file: self.relative(place.file),
            line: ident.span().start().line,
        }));
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
            self.entries.push(Entry::Problem(problem));
        }
    }

    /// `path` relative to the manifest directory, with `/` separators on every platform.
    fn relative(&self, path: &Path) -> String {
        relative_to(self.manifest_dir, path)
    }
}

/// `path` relative to `manifest_dir` with `/` separators (absolute, if it lies outside).
fn relative_to(manifest_dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(manifest_dir).unwrap_or(path);
    let parts: Vec<_> = relative
        .components()
        .filter(|part| !matches!(part, std::path::Component::RootDir))
        .map(|part| part.as_os_str().to_string_lossy())
        .collect();
    let root = if relative.has_root() { "/" } else { "" };
    format!("{root}{}", parts.join("/"))
}

/// The items of a file that the scan needs, parsed: `mod` declarations (an inline
/// module's content filtered the same way) and items under an `#[lmms::...]` attribute,
/// with function bodies left empty. Everything else is only lexed: build scripts run
/// unoptimized, and parsing every item and every body's expressions was most of the
/// scan's time. A file that does not lex is reported; an item the scan does not need is
/// left for rustc to judge.
fn parse_items(text: &str) -> syn::Result<Vec<syn::Item>> {
    let tokens: TokenStream = without_shebang(text).parse().map_err(syn::Error::from)?;
    items_of_interest(tokens)
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

fn items_of_interest(tokens: TokenStream) -> syn::Result<Vec<syn::Item>> {
    let mut items = Vec::new();
    let mut errors = None;
    for piece in pieces(tokens) {
        let start = piece.first().map(TokenTree::span);
        let parsed = match kind(&piece) {
            Kind::Other => continue,
            Kind::Lmms => syn::parse2(empty_body(piece)),
            Kind::Mod => inline_module(piece),
        };
        match parsed {
            Ok(item) => items.push(item),
            Err(error) => {
                // An error at the end of the item's tokens has no place of its own: give it
                // the item's.
                match start {
                    Some(start)
                        if error.span().start() == proc_macro2::Span::call_site().start() =>
                    {
                        for one in error {
                            attr::push(&mut errors, syn::Error::new(start, one));
                        }
                    }
                    _ => attr::push(&mut errors, error),
                }
            }
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(items),
    }
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

/// A `mod` item; an inline module's content is filtered like a file's.
fn inline_module(mut piece: Vec<TokenTree>) -> syn::Result<syn::Item> {
    let body = match piece.last() {
        Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace => body.clone(),
        _ => return syn::parse2(piece.into_iter().collect()),
    };
    piece.pop();
    let mut semi = proc_macro2::Punct::new(';', proc_macro2::Spacing::Alone);
    semi.set_span(body.span());
    piece.push(TokenTree::Punct(semi));
    let mut module: syn::ItemMod = syn::parse2(piece.into_iter().collect())?;
    module.semi = None;
    let content = items_of_interest(body.stream())?;
    module.content = Some((syn::token::Brace(body.delim_span()), content));
    Ok(syn::Item::Mod(module))
}

/// The first `#[lmms::<name>(...)]` among `attrs`: its arguments, and the item without it
/// (as the attribute macro receives it). `None` when there is no such attribute.
fn strip(mut item: syn::Item, name: &str) -> Option<(syn::Result<Vec<attr::Arg>>, syn::Item)> {
    let attrs = match &mut item {
        syn::Item::Fn(item) => &mut item.attrs,
        syn::Item::Struct(item) => &mut item.attrs,
        syn::Item::Enum(item) => &mut item.attrs,
        _ => return None,
    };
    let index = attrs.iter().position(|attr| is_lmms(attr, name))?;
    let args = match attrs.remove(index).meta {
        syn::Meta::Path(_) => Ok(Vec::new()),
        syn::Meta::List(list) => attr::parse(list.tokens),
        syn::Meta::NameValue(pair) => Err(syn::Error::new(
            pair.span(),
            format!("write #[lmms::{name}(key = \"value\", ...)]"),
        )),
    };
    Some((args, item))
}

/// `#[lmms::<name>]`: the build script recognises the attributes by that path.
fn is_lmms(attr: &syn::Attribute, name: &str) -> bool {
    let segments = &attr.path().segments;
    segments.len() == 2 && segments[0].ident == "lmms" && segments[1].ident == name
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    #[test]
    fn paths_are_relative_to_the_manifest_or_absolute_with_one_slash() {
        let manifest = Path::new("/work/app");
        assert_eq!(
            relative_to(manifest, Path::new("/work/app/src/lib.rs")),
            "src/lib.rs"
        );
        assert_eq!(
            relative_to(manifest, Path::new("/tmp/gen/ops.rs")),
            "/tmp/gen/ops.rs"
        );
    }
}
