//! The scan over a crate's sources: what it finds, what it rejects, and where it says so.

use lmms_build::{Builder, Error};
use std::path::Path;

/// A crate in a temporary directory, from `(path, text)` pairs.
fn krate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn problems(dir: &Path) -> Vec<String> {
    match Builder::new(dir).scan() {
        Err(Error::Source(problems)) => problems.iter().map(ToString::to_string).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn the_same_operation_twice_names_both_places() {
    let dir = krate(&[
        ("src/lib.rs", "mod a;\nmod b;\n"),
        (
            "src/a.rs",
            "#[lmms::operation(interface = \"weather\")]\nfn forecast() {}\n",
        ),
        (
            "src/b.rs",
            "\n\n#[lmms::operation(interface = \"weather\", name = \"forecast\")]\nfn other() {}\n",
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        ["src/b.rs:4: operation `weather.forecast` is defined twice: here and at src/a.rs:2; give one of them another `name` or `interface`"]
    );
}

#[test]
fn every_rejected_attribute_is_reported_with_its_file_line_and_column() {
    let dir = krate(&[
        ("src/main.rs", "mod ops;\nfn main() {}\n"),
        (
            "src/ops.rs",
            concat!(
                "#[lmms::operation(cache_ttl = \"5 parsecs\", nmae = \"x\")]\n",
                "fn a() {}\n",
                "#[lmms::module(class = \"sometimes\")]\n",
                "struct S;\n",
                "#[lmms::operation]\n",
                "fn generic<T>(t: T) {}\n",
            ),
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "src/ops.rs:1:44: unknown key `nmae`: #[lmms::operation] takes `interface`, `name`, `cache_ttl`, `cache_errors`",
            "src/ops.rs:1:31: `5 parsecs` is not a duration; write a whole number and a unit: `250ms`, `30s`, `5m` or `1h`",
            "src/ops.rs:3:24: `sometimes` is not a class; use `core`, `utility` or `feature`",
            "src/ops.rs:6:11: an operation cannot be generic: it is one static call path; name concrete types",
        ]
    );
}

#[test]
fn a_file_that_does_not_parse_or_a_missing_module_is_a_problem_not_a_panic() {
    let dir = krate(&[("src/lib.rs", "mod gone;\nfn broken( {}\n")]);
    let found = problems(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("src/lib.rs:2:"), "{found:?}");

    let dir = krate(&[("src/lib.rs", "\nmod gone;\n")]);
    assert_eq!(
        problems(dir.path()),
        ["src/lib.rs:2:5: module `gone` is declared here, but neither src/gone.rs nor src/gone/mod.rs exists"]
    );
}

#[test]
fn the_mod_tree_is_followed_through_path_inline_modules_and_cfg() {
    let dir = krate(&[
        (
            "src/lib.rs",
            concat!(
                "#[path = \"elsewhere/deep.rs\"] mod deep;\n",
                "mod nested;\n",
                "mod inline { #[lmms::operation] fn inside() {} }\n",
                "#[cfg(feature = \"extra\")] mod extra;\n",
                "#[cfg(not(feature = \"extra\"))] #[lmms::operation] fn fallback() {}\n",
                "#[lmms::operation] fn root() {}\n",
            ),
        ),
        (
            "src/elsewhere/deep.rs",
            "mod child;\n#[lmms::operation] fn deep_op() {}\n",
        ),
        (
            "src/elsewhere/child.rs",
            "#[lmms::operation] fn child_op() {}\n",
        ),
        ("src/nested/mod.rs", "mod leaf;\n"),
        (
            "src/nested/leaf.rs",
            "#[lmms::operation] async fn leaf_op(x: u8) -> u8 { x }\n",
        ),
        ("src/extra.rs", "#[lmms::operation] fn extra_op() {}\n"),
        ("src/unrelated.rs", "this file is not in the mod tree {{{"),
    ]);
    let keys = |registry: &lmms_build::Registry| {
        registry
            .operations
            .iter()
            .map(|op| format!("{}.{}", op.interface, op.name))
            .collect::<Vec<_>>()
    };
    let registry = Builder::new(dir.path()).scan().unwrap();
    assert_eq!(
        keys(&registry),
        [
            "child.child_op",
            "deep.deep_op",
            "leaf.leaf_op",
            "inline.inside",
            "crate.fallback",
            "crate.root"
        ]
    );
    assert!(registry.operations[2].is_async);
    // The files read are the ones it prints `rerun-if-changed` for: not the unrelated one.
    let mut files: Vec<String> = registry
        .files
        .iter()
        .map(|file| {
            file.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "src/elsewhere/child.rs",
            "src/elsewhere/deep.rs",
            "src/lib.rs",
            "src/nested/leaf.rs",
            "src/nested/mod.rs"
        ]
    );

    let with_extra = Builder::new(dir.path())
        .cfg_var("CARGO_FEATURE_EXTRA", "1")
        .scan()
        .unwrap();
    assert_eq!(
        keys(&with_extra),
        [
            "child.child_op",
            "deep.deep_op",
            "leaf.leaf_op",
            "inline.inside",
            "extra.extra_op",
            "crate.root"
        ]
    );
}

#[test]
fn colliding_enum_variants_are_a_problem() {
    let dir = krate(&[(
        "src/lib.rs",
        "#[lmms::operation(interface = \"a_b\", name = \"c\")] fn x() {}\n#[lmms::operation(interface = \"a\", name = \"b_c\")] fn y() {}\n",
    )]);
    assert_eq!(
        problems(dir.path()),
        ["src/lib.rs:2: operations `a.b_c` and `a_b.c` (src/lib.rs:1) would both be `OpName::ABC`; rename one"]
    );
}

#[test]
fn generate_writes_the_code_and_the_manifest_and_leaves_unchanged_files_alone() {
    let dir = krate(&[(
        "src/lib.rs",
        "#[lmms::module(class = \"feature\")] pub struct Table;\n#[lmms::operation(interface = \"t\")] fn look(table: &Table, key: String) -> u8 { 0 }\n",
    )]);
    let out = tempfile::tempdir().unwrap();
    let registry = Builder::new(dir.path())
        .out_dir(out.path())
        .generate()
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(registry.manifest.unwrap()).unwrap())
            .unwrap();
    assert_eq!(manifest["operations"][0]["class"], "feature");
    assert_eq!(manifest["operations"][0]["module_name"], "table");
    assert_eq!(manifest["modules"][0]["name"], "table");

    let code = registry.code.unwrap();
    let written = std::fs::metadata(&code).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    Builder::new(dir.path())
        .out_dir(out.path())
        .generate()
        .unwrap();
    assert_eq!(
        std::fs::metadata(&code).unwrap().modified().unwrap(),
        written
    );
}

/// The operations a scan finds, as `interface.name`.
fn found(dir: &Path) -> Vec<String> {
    let registry = Builder::new(dir)
        .scan()
        .unwrap_or_else(|error| panic!("{error}"));
    registry
        .operations
        .iter()
        .map(|op| format!("{}.{}", op.interface, op.name))
        .collect()
}

#[test]
fn valid_rust_that_rustc_accepts_is_accepted() {
    let dir = krate(&[
        (
            "src/lib.rs",
            concat!(
                "#!/usr/bin/env run-cargo-script\n",
                "#[path = \"elsewhere\"]\n",
                "mod inline {\n",
                "    mod deep;\n",
                "}\n",
                "#[cfg(false)]\n",
                "mod never;\n",
                "#[lmms::operation(interface = \"shapes\")]\n",
                "pub fn sized() -> [u8; { 2 + 2 }] { [0; 4] }\n",
                "pub struct Wrapper<const N: usize>;\n",
                "#[lmms::operation(interface = \"shapes\")]\n",
                "pub fn wrapped() -> Wrapper<{ 2 + 2 }> { Wrapper }\n",
            ),
        ),
        (
            "src/elsewhere/deep.rs",
            "#[lmms::operation(interface = \"shapes\")]\npub fn deep() {}\n",
        ),
    ]);
    assert_eq!(
        found(dir.path()),
        ["shapes.deep", "shapes.sized", "shapes.wrapped"]
    );
}

#[test]
fn six_hundred_nested_modules_in_a_lib_and_bin_crate_are_scanned() {
    let depth = 600;
    let mut lib = String::new();
    for level in 0..depth {
        lib.push_str(&format!("pub mod m{level} {{\n"));
    }
    lib.push_str("#[lmms::operation(interface = \"deep\")]\npub fn bottom() {}\n");
    lib.push_str(&"}\n".repeat(depth));
    let dir = krate(&[("src/lib.rs", &lib), ("src/main.rs", "fn main() {}\n")]);
    assert_eq!(found(dir.path()), ["deep.bottom"]);
}

#[test]
fn a_parse_error_at_the_end_of_an_item_is_reported_where_the_item_is() {
    let dir = krate(&[(
        "src/lib.rs",
        "\n\n#[lmms::operation(interface = \"x\")]\npub fn broken() -> Vec<u8\n",
    )]);
    let problems = problems(dir.path());
    assert!(problems[0].starts_with("src/lib.rs:3:"), "{problems:?}");
}

#[test]
fn a_path_cycle_is_followed_once() {
    let dir = krate(&[
        ("src/lib.rs", "mod a;\n"),
        (
            "src/a.rs",
            "#[path = \"x/../a.rs\"]\nmod again;\n#[lmms::operation(interface = \"cycle\")]\npub fn once() {}\n",
        ),
        ("src/x/keep.txt", ""),
    ]);
    match Builder::new(dir.path()).scan() {
        Ok(registry) => assert!(registry.operations.len() <= 2),
        Err(Error::Source(problems)) => assert!(problems.len() <= 1, "{} problems", problems.len()),
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn two_modules_of_one_name_name_both_places() {
    let dir = krate(&[(
        "src/lib.rs",
        concat!(
            "#[lmms::module(name = \"settings\")]\n",
            "struct Settings;\n",
            "#[lmms::module(name = \"settings\")]\n",
            "struct OtherSettings;\n",
        ),
    )]);
    assert_eq!(
        problems(dir.path()),
        ["src/lib.rs:4: module `settings` is declared twice: here and at src/lib.rs:2; give one of them another `name`"]
    );
}

#[test]
fn a_path_on_an_inline_module_of_a_non_mod_rs_file_is_from_the_file_s_directory() {
    let dir = krate(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", "#[path = \"x\"]\nmod m {\n    pub mod z;\n}\n"),
        (
            "src/x/z.rs",
            "#[lmms::operation(interface = \"paths\")]\npub fn z() {}\n",
        ),
    ]);
    assert_eq!(found(dir.path()), ["paths.z"]);
}

#[test]
fn an_attribute_argument_without_a_value_is_reported_at_the_attribute() {
    // Where the attribute macro reports it: its arguments end before the `=`, and the
    // macro's place for that is the attribute.
    let dir = krate(&[(
        "src/lib.rs",
        "pub fn before() {}\n\n#[lmms::operation(name)]\npub fn after() {}\n",
    )]);
    assert_eq!(problems(dir.path()), ["src/lib.rs:3:1: expected `=`"]);
}

#[test]
fn bad_attribute_shapes_are_reported_at_their_line_and_column() {
    let dir = krate(&[
        ("src/lib.rs", "mod ops;\n"),
        (
            "src/ops.rs",
            concat!(
                "#[lmms::operation(interface = \"ops\")]\n",
                "pub fn fine() {}\n",
                "\n",
                "/// A value missing after its `=`.\n",
                "    #[lmms::operation(cache_ttl = )]\n",
                "pub fn no_value() {}\n",
                "#[lmms::operation(cache_ttl = 5)]\n",
                "pub fn not_a_string() {}\n",
                "#[lmms::operation = \"x\"]\n",
                "pub fn name_value() {}\n",
                "pub mod outer {\n",
                "    pub fn unrelated() {}\n",
                "    pub mod inner {\n",
                "        #[lmms::module(class)]\n",
                "        pub struct State;\n",
                "        #[lmms::operation(name = \"a\" \"b\")]\n",
                "        pub fn two_values() {}\n",
                "    }\n",
                "}\n",
            ),
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [
            "src/ops.rs:5:5: unexpected end of input, expected an expression",
            "src/ops.rs:7:31: expected a string literal, like `\"5m\"`",
            "src/ops.rs:9:3: write #[lmms::operation(key = \"value\", ...)]",
            "src/ops.rs:14:9: expected `=`",
            "src/ops.rs:16:38: expected `,`",
        ]
    );
}

/// `src/lib.rs` with modules `m0` to `m{depth - 1}` nested inline, `bottom` at the bottom,
/// an operation on the way back out at every level, and one after them all.
fn nested_lib(depth: usize, bottom: &str) -> String {
    let mut lib = String::new();
    for level in 0..depth {
        lib.push_str(&format!("pub mod m{level} {{\n"));
    }
    lib.push_str(bottom);
    for level in (0..depth).rev() {
        lib.push_str(&format!(
            "#[lmms::operation(name = \"out{level}\")]\npub fn out() {{}}\n}}\n"
        ));
    }
    lib.push_str("#[lmms::operation]\npub fn top() {}\n");
    lib
}

#[test]
fn modules_nested_thousands_deep_are_scanned_with_their_whole_path() {
    let depth = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("src/moved");
    let bottom = format!(
        concat!(
            "#[lmms::operation]\n",
            "pub fn bottom() {{}}\n",
            "#[cfg(feature = \"off\")]\n",
            "pub mod off {{\n",
            "    pub mod deeper {{\n",
            "        #[lmms::operation]\n",
            "        pub fn never() {{}}\n",
            "    }}\n",
            "    #[lmms::operation]\n",
            "    pub fn never_either() {{}}\n",
            "}}\n",
            "#[lmms::operation]\n",
            "pub fn after_off() {{}}\n",
            "#[path = \"{}\"]\n",
            "pub mod elsewhere {{\n",
            "    pub mod leaf;\n",
            "}}\n",
        ),
        moved.display().to_string().replace('\\', "/"),
    );
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::write(
        moved.join("leaf.rs"),
        "#[lmms::operation]\npub fn leaf_op() {}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), nested_lib(depth, &bottom)).unwrap();

    let registry = Builder::new(dir.path())
        .scan()
        .unwrap_or_else(|error| panic!("{error}"));
    let ops: Vec<(String, usize)> = registry
        .operations
        .iter()
        .map(|op| (format!("{}.{}", op.interface, op.name), op.line))
        .collect();
    let last = depth - 1;
    assert_eq!(ops.len(), depth + 4, "{:?}", &ops[..4]);
    assert_eq!(
        ops[..4],
        [
            (format!("m{last}.bottom"), depth + 2),
            (format!("m{last}.after_off"), depth + 13),
            ("leaf.leaf_op".to_owned(), 2),
            (format!("m{last}.out{last}"), depth + 19),
        ]
    );
    // Each module's own operation, after its inner modules closed: the walk is back in it.
    for (level, (key, _)) in ops[4..depth + 3].iter().enumerate() {
        let level = last - 1 - level;
        assert_eq!(*key, format!("m{level}.out{level}"));
    }
    assert_eq!(ops[depth + 3].0, "crate.top");
    assert_eq!(registry.operations[2].file, "src/moved/leaf.rs");

    // A `mod gone;` at the bottom is looked for in the directory of every module above it.
    let dir = krate(&[("src/lib.rs", &nested_lib(depth, "    mod gone;\n"))]);
    let modules: String = (0..depth).map(|level| format!("m{level}/")).collect();
    assert_eq!(
        problems(dir.path()),
        [format!(
            "src/lib.rs:{}:9: module `gone` is declared here, but neither src/{modules}gone.rs nor src/{modules}gone/mod.rs exists",
            depth + 1
        )]
    );
}
