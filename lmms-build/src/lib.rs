//! Build-script support for [lmms](https://docs.rs/lmms): scans a crate's sources for
//! `#[lmms::operation]` and `#[lmms::module]`, checks them all at build time, and writes
//! the crate's operation registry.
//!
//! ```toml
//! # Cargo.toml
//! [build-dependencies]
//! lmms-build = "0.1"
//! ```
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     lmms_build::generate().unwrap();
//! }
//! ```
//!
//! and once in the crate, `lmms::include_registry!();`, which brings in:
//! - `OpName`, an enum of the crate's operations (`weather.forecast` →
//!   `OpName::WeatherForecast`) with `Display`, `FromStr` (an unknown name is an
//!   `lmms::Error::UnknownOperation` with the closest names), `OpName::ALL`, and
//!   `interface()`, `name()`, `entry()`, `lookup()`: routing code cannot misspell an
//!   operation;
//! - `REGISTRY`, the crate's table: each operation's interface, name, module, module class,
//!   cache TTL, signature and source location, a `static` built at compile time (no
//!   start-up work). It also registers itself, so the runtime checks at the first call by
//!   name that the operations linked into the binary are the ones the table lists
//!   (`lmms::registry::check_registry`).
//!
//! It also writes the manifest, `$OUT_DIR/lmms_registry.json`, the same table as JSON for
//! documentation and deployment tools; the build sets `LMMS_MANIFEST` to its path, so the
//! crate can `include_str!(env!("LMMS_MANIFEST"))` or a later step can copy it.
//!
//! # What it checks
//! Every attribute is read by the same code as the macros (`lmms-attributes`), so what the
//! macro would reject stops the build script first, with the file, line and column; all
//! problems are reported together. The same `interface.name` twice is an error naming both places,
//! as is two operations whose enum variants would collide.
//!
//! # What it reads
//! The `mod` tree from `src/lib.rs` or `src/main.rs` (or the roots given to
//! [`Builder::root`]): `mod x;` as `x.rs` or `x/mod.rs`, `#[path = "..."]`, inline
//! `mod x { ... }`, and `#[cfg(...)]` on items, evaluated from the `CARGO_CFG_*` and
//! `CARGO_FEATURE_*` variables Cargo gives build scripts (`cfg(test)` is false there). It
//! prints `cargo::rerun-if-changed` for exactly the files it read, so editing any other
//! file does not rerun it. Cargo cannot rerun a build script when a file *appears*
//! (rust-lang/cargo#4213), so it also lists the files in `$OUT_DIR/lmms_files.txt`: an
//! operation in the crate's `src/` outside that list (a `src/main.rs` added to a lib-only
//! crate since the last run) is a compile error at its attribute that says to
//! `touch build.rs` once, instead of a binary whose calls by name fail.
//!
//! What a build script cannot see, and so is not in the table: items made by macros
//! (`macro_rules!` or another attribute), attributes applied through `cfg_attr`, and the
//! attributes imported and written bare (`#[operation]`; write `#[lmms::operation]`). Such
//! an operation still works and is still linked, and the drift check names it: keep
//! operations of a crate that uses `lmms-build` visible to it.

#![deny(missing_docs)]
// The examples are build scripts: their `fn main` is the point.
#![allow(clippy::needless_doctest_main)]

mod cfg;
mod emit;
mod error;
mod items;
mod manifest;
mod scan;

pub use crate::cfg::Cfg;
pub use crate::error::{Error, Problem};
pub use crate::scan::{Module, Operation};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Scans the crate Cargo is building and writes its registry to `OUT_DIR`: the whole
/// build script.
///
/// ```no_run
/// // build.rs
/// fn main() {
///     lmms_build::generate().unwrap();
/// }
/// ```
pub fn generate() -> Result<Registry, Error> {
    Builder::from_env()?.generate()
}

/// A scan of a crate's sources, with the paths spelled out (for tests and tools; a build
/// script calls [`generate`]).
///
/// ```
/// let dir = std::env::temp_dir().join("lmms-build-doc-builder");
/// std::fs::create_dir_all(dir.join("src")).unwrap();
/// std::fs::write(dir.join("src/lib.rs"), "mod weather;\n").unwrap();
/// std::fs::write(
///     dir.join("src/weather.rs"),
///     "#[lmms::operation(cache_ttl = \"5m\")]\npub fn forecast(days: u8) -> u8 { days }\n",
/// ).unwrap();
///
/// let registry = lmms_build::Builder::new(&dir).scan()?;
/// let op = &registry.operations[0];
/// assert_eq!((op.interface.as_str(), op.name.as_str()), ("weather", "forecast"));
/// assert_eq!((op.file.as_str(), op.line, op.cache_ttl_ms), ("src/weather.rs", 2, Some(300_000)));
/// # Ok::<(), lmms_build::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    manifest_dir: PathBuf,
    out_dir: Option<PathBuf>,
    roots: Vec<PathBuf>,
    cfg: Cfg,
    krate: String,
    cargo_output: bool,
}

/// What a scan found, and where [`Builder::generate`] wrote it.
#[derive(Clone, Debug)]
pub struct Registry {
    /// The operations, in source order.
    pub operations: Vec<Operation>,
    /// The modules, in source order.
    pub modules: Vec<Module>,
    /// Every source file read.
    pub files: Vec<PathBuf>,
    /// The generated Rust, `OUT_DIR/lmms_registry.rs` (after `generate`).
    pub code: Option<PathBuf>,
    /// The manifest, `OUT_DIR/lmms_registry.json` (after `generate`).
    pub manifest: Option<PathBuf>,
}

impl Builder {
    /// A scan of the crate in `manifest_dir`, from `src/lib.rs` and `src/main.rs`, with no
    /// `cfg` set and nothing printed for Cargo.
    ///
    /// ```
    /// let builder = lmms_build::Builder::new("my-crate");
    /// ```
    pub fn new(manifest_dir: impl Into<PathBuf>) -> Self {
        let manifest_dir = manifest_dir.into();
        let krate = manifest_dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Builder {
            manifest_dir,
            out_dir: None,
            roots: Vec::new(),
            cfg: Cfg::default(),
            krate,
            cargo_output: false,
        }
    }

    /// The scan a build script wants: the paths, `cfg` and package name Cargo gives it,
    /// and `cargo::` lines printed.
    ///
    /// ```no_run
    /// let registry = lmms_build::Builder::from_env()?.generate()?;
    /// # Ok::<(), lmms_build::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &'static str| std::env::var_os(name).ok_or(Error::Env(name));
        let mut builder = Builder::new(PathBuf::from(var("CARGO_MANIFEST_DIR")?));
        builder.out_dir = Some(PathBuf::from(var("OUT_DIR")?));
        builder.cfg = Cfg::from_env();
        builder.krate = std::env::var("CARGO_PKG_NAME").unwrap_or(builder.krate);
        builder.cargo_output = true;
        Ok(builder)
    }

    /// Scans from this root file (relative to the manifest directory) instead of
    /// `src/lib.rs` and `src/main.rs`; call it once per root.
    ///
    /// ```
    /// let builder = lmms_build::Builder::new("my-crate").root("src/bin/tool.rs");
    /// ```
    pub fn root(mut self, path: impl Into<PathBuf>) -> Self {
        self.roots.push(path.into());
        self
    }

    /// Where [`generate`](Builder::generate) writes.
    ///
    /// ```
    /// let builder = lmms_build::Builder::new("my-crate").out_dir(std::env::temp_dir());
    /// ```
    pub fn out_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(path.into());
        self
    }

    /// Sets a `CARGO_CFG_*` or `CARGO_FEATURE_*` variable for `#[cfg]` evaluation.
    ///
    /// ```
    /// let builder = lmms_build::Builder::new("my-crate").cfg_var("CARGO_FEATURE_JSON", "1");
    /// ```
    pub fn cfg_var(mut self, key: &str, value: &str) -> Self {
        self.cfg.set_var(key, value);
        self
    }

    /// Scans and checks the sources; writes nothing.
    ///
    /// ```
    /// let error = lmms_build::Builder::new("/nonexistent").scan().unwrap_err();
    /// assert!(matches!(error, lmms_build::Error::NoRoot(_)));
    /// ```
    pub fn scan(&self) -> Result<Registry, Error> {
        let roots: Vec<PathBuf> = if self.roots.is_empty() {
            ["src/lib.rs", "src/main.rs"]
                .iter()
                .map(|root| self.manifest_dir.join(root))
                .filter(|root| root.is_file())
                .collect()
        } else {
            self.roots
                .iter()
                .map(|root| self.manifest_dir.join(root))
                .collect()
        };
        if roots.is_empty() {
            return Err(Error::NoRoot(self.manifest_dir.clone()));
        }
        let mut found = scan::walk(&self.manifest_dir, &self.cfg, &roots);
        if self.cargo_output {
            for file in &found.files {
                println!("cargo::rerun-if-changed={}", file.display());
            }
        }
        resolve_classes(&mut found.operations, &found.modules);
        found.problems.extend(duplicates(&found.operations));
        found.problems.extend(duplicate_modules(&found.modules));
        if !found.problems.is_empty() {
            return Err(Error::Source(found.problems));
        }
        Ok(Registry {
            operations: found.operations,
            modules: found.modules,
            files: found.files,
            code: None,
            manifest: None,
        })
    }

    /// Scans, checks, and writes `lmms_registry.rs` and `lmms_registry.json` to the output
    /// directory (`OUT_DIR` in a build script).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("lmms-build-doc-generate");
    /// std::fs::create_dir_all(dir.join("src")).unwrap();
    /// std::fs::write(dir.join("src/main.rs"), "#[lmms::operation]\nfn ping() {}\nfn main() {}\n").unwrap();
    ///
    /// let registry = lmms_build::Builder::new(&dir).out_dir(&dir).generate()?;
    /// let code = std::fs::read_to_string(registry.code.unwrap()).unwrap();
    /// assert!(code.contains("CratePing"));
    /// # Ok::<(), lmms_build::Error>(())
    /// ```
    pub fn generate(self) -> Result<Registry, Error> {
        let mut registry = self.scan()?;
        let out_dir = self.out_dir.clone().ok_or(Error::Env("OUT_DIR"))?;
        let code = out_dir.join("lmms_registry.rs");
        write(&code, emit::registry(&registry.operations))?;
        // Read by the operation attribute, which tells a source the scan never saw.
        let files: String = registry
            .files
            .iter()
            .map(|file| {
                let file = file.canonicalize().unwrap_or_else(|_| file.clone());
                format!("{}\n", file.display())
            })
            .collect();
        write(&out_dir.join(lmms_attributes::FILES_READ), files)?;
        let manifest = out_dir.join("lmms_registry.json");
        let json = manifest::manifest(&self.krate, &registry.operations, &registry.modules);
        write(&manifest, format!("{json:#}\n"))?;
        if self.cargo_output {
            println!("cargo::rustc-env=LMMS_MANIFEST={}", manifest.display());
        }
        registry.code = Some(code);
        registry.manifest = Some(manifest);
        Ok(registry)
    }
}

/// Writes `text` to `path` unless it holds it already, so an unchanged registry does not
/// make Cargo rebuild the crate.
fn write(path: &Path, text: String) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Each operation's module class, found by its state type's name among the modules.
fn resolve_classes(operations: &mut [Operation], modules: &[Module]) {
    for op in operations {
        let Some(ty) = &op.module else { continue };
        let ident = ty.rsplit("::").next().unwrap_or(ty);
        let mut matching = modules.iter().filter(|module| module.ident == ident);
        // Two modules with the same type name in different Rust modules: leave it unknown
        // rather than guess.
        if let (Some(module), None) = (matching.next(), matching.next()) {
            op.class = Some(module.class);
        }
    }
}

/// Two modules of one name: whichever is used second would be refused at run time, so
/// each is an error at the second place, naming the first.
fn duplicate_modules(modules: &[Module]) -> Vec<Problem> {
    let mut names: HashMap<&str, &Module> = HashMap::new();
    modules
        .iter()
        .filter_map(|module| {
            let first = names.insert(&module.name, module)?;
            Some(Problem::new(
                module.file.clone(),
                module.line,
                0,
                format!(
                    "module `{}` is declared twice: here and at {}:{}; give one of them another `name`",
                    module.name, first.file, first.line
                ),
            ))
        })
        .collect()
}

/// The same `interface.name` twice, or two names whose enum variants collide: each an
/// error at the second place, naming the first.
fn duplicates(operations: &[Operation]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut keys: HashMap<String, &Operation> = HashMap::new();
    let mut variants: HashMap<String, &Operation> = HashMap::new();
    for op in operations {
        let key = format!("{}.{}", op.interface, op.name);
        if let Some(first) = keys.insert(key.clone(), op) {
            problems.push(Problem::new(
                op.file.clone(),
                op.line,
                0,
                format!(
                    "operation `{key}` is defined twice: here and at {}:{}; give one of them another `name` or `interface`",
                    first.file, first.line
                ),
            ));
            continue;
        }
        let variant = emit::variant(op);
        if let Some(first) = variants.insert(variant.clone(), op) {
            problems.push(Problem::new(
                op.file.clone(),
                op.line,
                0,
                format!(
                    "operations `{key}` and `{}.{}` ({}:{}) would both be `OpName::{variant}`; rename one",
                    first.interface, first.name, first.file, first.line
                ),
            ));
        }
    }
    problems
}
