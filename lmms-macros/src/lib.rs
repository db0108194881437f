//! The `#[lmms::module]` and `#[lmms::operation]` attributes. They generate what a user
//! now writes by hand with `lmms::ModuleCell` and `lmms::Load`; the attributes themselves
//! arrive with the macros issue, and this crate holds its place in the workspace.
