//! The attributes' compile errors, each against its snapshot in `tests/ui/fail/*.stderr`,
//! and the shapes they accept (`tests/ui/pass/`). Regenerate snapshots with
//! `TRYBUILD=overwrite cargo test --test compiletest` and review the diff like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
