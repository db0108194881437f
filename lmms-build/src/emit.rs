//! The generated Rust: a typed enum of the crate's operations and its build-time table,
//! registered for the runtime's drift check. Written as text (string literals through
//! `{:?}`, which escapes as Rust does): build scripts run unoptimized, and building the
//! same code with `quote` took most of the script's time on a large crate.

use crate::scan::Operation;
use lmms_values::CLASS_VARIANTS;
use std::fmt::Write as _;

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

/// One `match self { OpName::A => <value of a>, ... }` arm per operation.
fn arms(variants: &[String], value: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    for (i, variant) in variants.iter().enumerate() {
        let _ = write!(out, "OpName::{variant} => {}, ", value(i));
    }
    out
}

pub fn registry(operations: &[Operation]) -> String {
    let variants: Vec<String> = operations.iter().map(variant).collect();
    let key = |i: usize| format!("{}.{}", operations[i].interface, operations[i].name);
    let mut out = String::with_capacity(1024 + operations.len() * 600);
    out.push_str(
        "/// The operations of this crate, as `lmms-build` found them in its sources.\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         #[allow(dead_code)]\npub enum OpName {\n",
    );
    for (i, variant) in variants.iter().enumerate() {
        let op = &operations[i];
        let doc = format!("`{}`: `{}` ({}:{})", key(i), op.signature, op.file, op.line);
        let _ = writeln!(out, "    #[doc = {doc:?}]\n    {variant},");
    }
    let all: Vec<String> = variants.iter().map(|v| format!("OpName::{v}")).collect();
    let _ = write!(
        out,
        "}}\n\n#[allow(dead_code)]\nimpl OpName {{\n\
         /// Every operation, in source order.\n\
         pub const ALL: &'static [OpName] = &[{all}];\n\n\
         /// The operation's interface.\n\
         pub const fn interface(self) -> &'static str {{ match self {{ {interfaces} }} }}\n\n\
         /// The operation's name within its interface.\n\
         pub const fn name(self) -> &'static str {{ match self {{ {names} }} }}\n\n\
         /// The operation's row in this crate's build-time table.\n\
         pub fn entry(self) -> &'static ::lmms::__private::TableEntry {{ match self {{ {entries} }} }}\n\n\
         /// The operation as linked into the binary: what a call by name reaches.\n\
         pub fn lookup(self) -> ::core::result::Result<&'static ::lmms::__private::OpLink, ::lmms::__private::Error> {{\n\
         ::lmms::__private::lookup(self.interface(), self.name())\n}}\n}}\n\n",
        all = all.join(", "),
        interfaces = arms(&variants, |i| format!("{:?}", operations[i].interface)),
        names = arms(&variants, |i| format!("{:?}", operations[i].name)),
        entries = arms(&variants, |i| format!("&REGISTRY.operations[{i}]")),
    );
    let _ = write!(
        out,
        "impl ::core::fmt::Display for OpName {{\n\
         fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{\n\
         f.write_str(match self {{ {keys} }})\n}}\n}}\n\n\
         impl ::core::str::FromStr for OpName {{\n\
         type Err = ::lmms::__private::Error;\n\
         fn from_str(text: &str) -> ::core::result::Result<Self, ::lmms::__private::Error> {{\n\
         match text {{\n{parse}\
         _ => ::core::result::Result::Err(::lmms::__private::unknown_operation(\n\
         text, OpName::ALL.iter().map(::std::string::ToString::to_string))),\n}}\n}}\n}}\n\n",
        keys = arms(&variants, |i| format!("{:?}", key(i))),
        parse = variants
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:?} => ::core::result::Result::Ok(OpName::{v}),\n", key(i)))
            .collect::<String>(),
    );
    out.push_str(
        "/// This crate's build-time table of operations.\n\
         pub static REGISTRY: ::lmms::__private::Table = ::lmms::__private::Table {\n\
         module_path: ::core::module_path!(),\noperations: &[\n",
    );
    for op in operations {
        entry(&mut out, op);
    }
    out.push_str(
        "],\n};\n\n\
         #[::lmms::__private::linkme::distributed_slice(::lmms::__private::TABLES)]\n\
         #[linkme(crate = ::lmms::__private::linkme)]\n\
         static __LMMS_TABLE: &::lmms::__private::Table = &REGISTRY;\n",
    );
    out
}

fn entry(out: &mut String, op: &Operation) {
    let option = |value: Option<String>| match value {
        Some(value) => format!("::core::option::Option::Some({value})"),
        None => "::core::option::Option::None".to_owned(),
    };
    let class = op.class.map(|class| {
        let index = lmms_values::class(class).expect("a scanned class is one of CLASSES");
        format!("::lmms::__private::Class::{}", CLASS_VARIANTS[index])
    });
    let _ = writeln!(
        out,
        "::lmms::__private::TableEntry {{ interface: {:?}, name: {:?}, module: {}, class: {}, \
         cache_ttl_ms: {}, signature: {:?}, is_async: {}, file: {:?}, line: {}, root: {:?} }},",
        op.interface,
        op.name,
        option(op.module.as_ref().map(|module| format!("{module:?}"))),
        option(class),
        option(op.cache_ttl_ms.map(|ms| format!("{ms}"))),
        op.signature,
        op.is_async,
        op.file,
        u32::try_from(op.line).unwrap_or(u32::MAX),
        op.root,
    );
}
