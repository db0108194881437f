//! The walk over a crate's sources: the `mod` tree from its root file, `#[path]` and
//! `#[cfg]` included, collecting every `#[lmms::operation]` and `#[lmms::module]` and
//! checking each with the attributes' own checks.

use crate::cfg::Cfg;
use crate::error::Problem;
use crate::items::{parse_items, placed, strip, Event};
use lmms_attributes::ast::{ModuleInput, OperationInput};
use lmms_attributes::{attr, tidy, valid};
use lmms_values::{CLASSES, CLASS_VARIANTS};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use syn::ext::IdentExt as _;

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

/// The stack of a scan worker: syn's parser recurses through the nesting of an item's
/// types and expressions, and `cfg` predicates nest too, which can go further than a
/// thread's default stack. (The nesting of inline modules costs no stack: see
/// [`parse_items`].)
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

/// Where the walk is in a file: the file, and the inline modules open around the item at
/// hand.
struct Place<'a> {
    file: &'a Path,
    /// A root, `mod.rs` or `#[path]` file: its children sit beside it.
    mod_rs: bool,
    /// The file's Rust module path inside the crate (empty at the root).
    module_path: &'a [String],
    /// The inline modules open, outermost first: a stack the walk pushes and pops, so a
    /// module nested n deep costs one entry, where a copy of the path above it at every
    /// level would grow with the square of the nesting.
    inline: Vec<Inline>,
}

/// An inline module the walk is in.
struct Inline {
    name: String,
    /// Its `#[path]`, which moves where the `mod child;` declarations inside it look.
    path: Option<String>,
}

impl Place<'_> {
    /// The name of the innermost module around the item (`None` at the crate root).
    fn module_name(&self) -> Option<&str> {
        self.inline
            .last()
            .map(|module| module.name.as_str())
            .or_else(|| self.module_path.last().map(String::as_str))
    }

    /// The Rust module path of the items here.
    fn module_path(&self) -> Vec<String> {
        let inline = self.inline.iter().map(|module| module.name.clone());
        self.module_path.iter().cloned().chain(inline).collect()
    }

    /// Where `mod child;` here looks for `child.rs` and `child/mod.rs` or, for a `#[path]`
    /// on it, what that path is relative to. Worked out when a declaration asks, in one
    /// pass over the open modules, rather than kept for every level.
    fn dir(&self, for_path: bool) -> PathBuf {
        let file_dir = self.file.parent().unwrap_or(Path::new(""));
        let mut dir = file_dir.to_owned();
        // In a file that is not a root, `mod.rs` or `#[path]` file, `a.rs`, the children
        // are in `a/`; a `#[path]` is still from the file's directory.
        let beside_the_file = self.mod_rs || for_path && self.inline.is_empty();
        if !beside_the_file {
            dir.push(self.file.file_stem().unwrap_or_default());
        }
        // An inline module's children live in a directory of its name inside its parent's,
        // or at its `#[path]`, which rustc takes from the parent's: the file's directory at
        // the top, the parent module's directory below. Inside an inline module both are
        // the same directory.
        for (level, module) in self.inline.iter().enumerate() {
            match &module.path {
                Some(path) => {
                    if level == 0 {
                        file_dir.clone_into(&mut dir);
                    }
                    dir.push(path);
                }
                None => dir.push(&module.name),
            }
        }
        dir
    }
}

impl Walker<'_> {
    /// One source file: `mod_rs` for a root, a `mod.rs` or a `#[path]` file, whose child
    /// modules sit beside it rather than in a directory named after it.
    fn file(&mut self, child: &Child) {
        let path = child.path.as_path();
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
        let events = match parse_items(&text) {
            Ok(events) => events,
            Err(error) => {
                self.syn_problems(path, error);
                return;
            }
        };
        let mut place = Place {
            file: path,
            mod_rs: child.mod_rs,
            module_path: &child.module_path,
            inline: Vec::new(),
        };
        self.items(events, &mut place);
    }

    /// The file's items in source order, keeping `place.inline` to the modules open around
    /// each: a loop, not recursion, so nesting costs no stack.
    fn items(&mut self, events: Vec<Event>, place: &mut Place<'_>) {
        let mut events = events.into_iter();
        while let Some(event) = events.next() {
            let item = match event {
                Event::Open(module) => {
                    if self.cfg.enabled(&module.attrs) {
                        place.inline.push(Inline {
                            name: module.ident.unraw().to_string(),
                            path: path_attr(&module.attrs),
                        });
                    } else {
                        skip_module(&mut events);
                    }
                    continue;
                }
                Event::Close => {
                    place.inline.pop();
                    continue;
                }
                Event::Item(item) => *item,
            };
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

    /// `mod name;`: the file it names, as a child to scan.
    fn module_decl(&mut self, module: syn::ItemMod, place: &Place<'_>) {
        let name = module.ident.unraw().to_string();
        let mut module_path = place.module_path();
        module_path.push(name.clone());
        if let Some(path) = path_attr(&module.attrs) {
            self.entries.push(Entry::Child(Child {
                path: place.dir(true).join(path),
                module_path,
                mod_rs: true,
                ancestors: Vec::new(),
            }));
            return;
        }
        let children = place.dir(false);
        let flat = children.join(format!("{name}.rs"));
        let nested = children.join(&name).join("mod.rs");
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

    /// `#[lmms::operation]` on a function.
    fn operation(&mut self, item: syn::Item, place: &Place<'_>) {
        self.attributed(
            item,
            place,
            "operation",
            |args, item| valid::operation(&OperationInput { args, item }),
            |op, file| {
                let func = &op.func;
                let interface = op
                    .interface
                    .clone()
                    .unwrap_or_else(|| place.module_name().unwrap_or("crate").to_owned());
                Entry::Operation(Operation {
                    interface,
                    name: op.name,
                    module: op.state.as_ref().map(tidy),
                    class: None,
                    cache_ttl_ms: op.cache_ms,
                    signature: tidy(&func.sig),
                    is_async: op.is_async,
                    file,
                    line: func.sig.ident.span().start().line,
                    root: String::new(),
                })
            },
        );
    }

    /// `#[lmms::module]` on a state type.
    fn module(&mut self, item: syn::Item, place: &Place<'_>) {
        self.attributed(
            item,
            place,
            "module",
            |args, item| valid::module(&ModuleInput { args, item }),
            |module, file| {
                let ident = &module.ident;
                Entry::Module(Module {
                    ident: ident.to_string(),
                    name: module.name,
                    class: CLASS_VARIANTS
                        .iter()
                        .position(|variant| module.class == variant)
                        .map(|index| CLASSES[index])
                        .expect("valid::module names one of CLASS_VARIANTS"),
                    file,
                    line: ident.span().start().line,
                })
            },
        );
    }

    /// An item under `#[lmms::<name>]`, read as the attribute macro reads it: the attribute
    /// taken off, its arguments parsed and the whole checked by the macro's own `check`;
    /// then what `found` makes of it (given the file's relative path) is an entry, or each
    /// message of the checks is a problem. An item without the attribute is not ours.
    fn attributed<T>(
        &mut self,
        item: syn::Item,
        place: &Place<'_>,
        name: &str,
        check: impl FnOnce(Vec<attr::Arg>, syn::Item) -> syn::Result<T>,
        found: impl FnOnce(T, String) -> Entry,
    ) {
        let Some((args, item, attribute)) = strip(item, name) else {
            return;
        };
        match args.and_then(|args| check(args, item)) {
            Ok(checked) => {
                let entry = found(checked, self.relative(place.file));
                self.entries.push(entry);
            }
            // The macro's call site, where it reports what has no tokens of its own, is
            // its attribute.
            Err(error) => self.syn_problems(place.file, placed(error, attribute)),
        }
    }

    /// Every message of `error`, at its line and column in `file`; one with no place in
    /// the file is about the whole file (line 0), never its first character.
    fn syn_problems(&mut self, file: &Path, error: syn::Error) {
        for error in error {
            let span = error.span();
            let (line, column) = match span.source_text() {
                Some(_) => (span.start().line, span.start().column + 1),
                None => (0, 0),
            };
            let problem = Problem::new(self.relative(file), line, column, error.to_string());
            self.entries.push(Entry::Problem(problem));
        }
    }

    /// `path` relative to the manifest directory, with `/` separators on every platform.
    fn relative(&self, path: &Path) -> String {
        relative_to(self.manifest_dir, path)
    }
}

/// Moves `events` past the end of the module just opened, whose content is compiled out.
fn skip_module(events: &mut impl Iterator<Item = Event>) {
    let mut depth = 1usize;
    for event in events {
        match event {
            Event::Open(_) => depth += 1,
            Event::Close if depth == 1 => return,
            Event::Close => depth -= 1,
            Event::Item(_) => {}
        }
    }
}

/// A `mod`'s `#[path = "..."]`.
fn path_attr(attrs: &[syn::Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(pair) if pair.path.is_ident("path") => match &pair.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(path),
                ..
            }) => Some(path.value()),
            _ => None,
        },
        _ => None,
    })
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
