#![allow(missing_docs)]
//! A function on the system allocator: nothing measures a module's bytes, so no budget is
//! set from the memory size, the start-up line says why, and one asked for is refused.

// One test: the environment is the process's.
#[test]
fn no_budget_is_set_on_figures_nothing_measures_and_the_line_says_why() {
    std::env::remove_var("LMMS_MEMORY_BUDGET");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    let (runtime, budget) = lmms_lambda::runtime_and_budget_from_env().unwrap();
    assert_eq!(runtime.config().memory_budget(), None);
    assert_eq!(budget, lmms_lambda::Budget::Unmeasured { memory_mib: 512 });
    assert!(
        budget
            .to_string()
            .contains("install the counting allocator"),
        "{budget}"
    );
    std::env::set_var("LMMS_MEMORY_BUDGET", "64MiB");
    let error = lmms_lambda::runtime_from_env().unwrap_err().to_string();
    std::env::remove_var("LMMS_MEMORY_BUDGET");
    std::env::remove_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    assert!(
        error.starts_with(
            "invalid configuration for `LMMS_MEMORY_BUDGET`: nothing measures a module's bytes"
        ),
        "{error}"
    );
}
