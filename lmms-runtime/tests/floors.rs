//! The crate's floors, as its docs ("How the crate is built") list them: every file is on
//! one floor and names only files of lower floors (`crate::<file>` anywhere in it, docs
//! included), so the files import each other in no circle.

use std::collections::BTreeMap;
use std::path::Path;

/// The floors of the crate docs' list: `N. ... `file`: ...` items, by file.
fn floors(lib: &str) -> BTreeMap<String, usize> {
    let section = lib
        .split("# How the crate is built")
        .nth(1)
        .expect("the crate docs have a \"How the crate is built\" section");
    let mut floors = BTreeMap::new();
    let mut floor = None;
    for line in section
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with("//!"))
    {
        let text = line.trim_start_matches("//!").trim_start();
        if let Some((number, _)) = text.split_once(". ") {
            if let Ok(number) = number.parse::<usize>() {
                floor = Some(number);
            }
        }
        let Some(floor) = floor else { continue };
        // Every "`name`:" on the line names a file of this floor.
        for piece in text.split('`').collect::<Vec<_>>().windows(2) {
            if piece[1].starts_with(':') && !piece[0].contains(' ') && !piece[0].is_empty() {
                floors.insert(piece[0].to_owned(), floor);
            }
        }
    }
    floors
}

#[test]
fn every_file_names_only_files_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let floors = floors(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if file == "lib" {
            continue;
        }
        let Some(&floor) = floors.get(&file) else {
            problems.push(format!("{file}.rs is on no floor of the crate docs"));
            continue;
        };
        // A file split into a folder (`module/`) is one floor: its pieces name each other
        // through `super::`, and what is below through `crate::`.
        let text = if path.is_dir() {
            let mut pieces: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|piece| piece.unwrap().path())
                .collect();
            pieces.sort();
            pieces
                .iter()
                .map(|piece| std::fs::read_to_string(piece).unwrap())
                .collect::<String>()
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        for used in text.split("crate::").skip(1) {
            let name: String = used
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            match floors.get(&name) {
                Some(&below) if below < floor || name == file => {}
                Some(&above) => problems.push(format!(
                    "{file}.rs (floor {floor}) names {name} (floor {above})"
                )),
                // lib.rs's own items and public modules (`crate::Runtime`, `crate::op`).
                None => {}
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
