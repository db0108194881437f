//! Build-script support for lmms: scanning a crate for `#[lmms::operation]` and writing its
//! registry. The scanner arrives with the registry issue; this crate holds its place in
//! the workspace.
