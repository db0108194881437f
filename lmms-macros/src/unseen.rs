//! Whether the build script saw the file an operation is written in.
//!
//! lmms-build watches the files it read, so Cargo reruns it when one of them changes; but
//! Cargo cannot rerun a build script when a file *appears* (rust-lang/cargo#4213), and
//! watching the folders instead would rerun it on every edit of any file in them. So a
//! `src/main.rs` added to a lib-only crate is compiled against a registry that does not
//! list its operations, and every call by name would fail with a drift error. The attribute
//! catches that at compile time: the build script lists what it read in `OUT_DIR`, and an
//! operation in the crate's `src/` outside that list is an error that says what to do.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// `file` relative to the crate (`src/main.rs`), if it lies in the crate's `src/`, the
/// crate's build script ran lmms-build, and that run did not read it. Anything this cannot
/// tell (no `OUT_DIR`, no list, a file rustc names that is not on disk) is not an error.
pub fn unseen(file: Option<PathBuf>) -> Option<PathBuf> {
    let file = file?.canonicalize().ok()?;
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let within = file
        .strip_prefix(manifest.join("src").canonicalize().ok()?)
        .ok()?;
    let list = PathBuf::from(std::env::var_os("OUT_DIR")?).join(lmms_attributes::FILES_READ);
    let seen = seen(&list, &file.display().to_string())?;
    (!seen).then(|| Path::new("src").join(within))
}

/// Whether the list at `list` holds `file`, or `None` without a list. Each list is read
/// once per modification: one compilation expands every operation of the crate.
fn seen(list: &Path, file: &str) -> Option<bool> {
    type Lists = HashMap<PathBuf, (SystemTime, HashSet<String>)>;
    static LISTS: Mutex<Option<Lists>> = Mutex::new(None);
    let modified = std::fs::metadata(list)
        .and_then(|meta| meta.modified())
        .ok()?;
    let mut lists = LISTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lists = lists.get_or_insert_with(HashMap::new);
    let fresh = lists.get(list).is_some_and(|(when, _)| *when == modified);
    if !fresh {
        let text = std::fs::read_to_string(list).ok()?;
        let files = text.lines().map(str::to_owned).collect();
        lists.insert(list.to_owned(), (modified, files));
    }
    Some(lists[list].1.contains(file))
}
