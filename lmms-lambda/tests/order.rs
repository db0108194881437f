//! A layer built before the global runtime is set (the custom-runtime route, in whatever
//! order `main` writes it) leaves the runtime for the program to set.

#[test]
fn building_a_layer_does_not_set_the_global_runtime() {
    let layer = lmms_lambda::Lifecycle::in_namespace("shop")
        .and_then(|layer| layer.dimension("stage", "prod"))
        .unwrap();
    let runtime = lmms::Runtime::builder()
        .grace(std::time::Duration::from_secs(7))
        .build()
        .unwrap();
    lmms::Runtime::set_global(runtime).expect("the global runtime is still the program's to set");
    assert_eq!(
        lmms::Runtime::global().config().grace(),
        std::time::Duration::from_secs(7)
    );
    drop(layer);
}
