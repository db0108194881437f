#![allow(missing_docs)]
//! The default budget from Lambda's environment, and a value it cannot read.

#[global_allocator]
static ALLOC: lmms::memory::CountingAlloc = lmms::memory::CountingAlloc;

// One test: the environment is the process's.
#[test]
fn the_budget_comes_from_the_memory_size_and_a_bad_size_is_an_error_naming_it() {
    std::env::remove_var("LMMS_MEMORY_BUDGET");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    let (runtime, source) = lmms_lambda::runtime_and_budget_from_env().unwrap();
    let budget = runtime
        .config()
        .memory_budget()
        .expect("a budget from the memory size");
    // Half of 512 MiB less the process's resident set, a few MiB.
    assert!(budget > 200 << 20 && budget < 256 << 20, "{budget}");
    assert!(
        matches!(source, lmms_lambda::Budget::MemorySize { bytes, memory_mib: 512, .. } if bytes == budget),
        "{source:?}"
    );
    assert!(
        source
            .to_string()
            .contains("(AWS_LAMBDA_FUNCTION_MEMORY_SIZE)"),
        "{source}"
    );

    // `LMMS_MEMORY_BUDGET` wins.
    std::env::set_var("LMMS_MEMORY_BUDGET", "64MiB");
    let (runtime, source) = lmms_lambda::runtime_and_budget_from_env().unwrap();
    assert_eq!(runtime.config().memory_budget(), Some(64 << 20));
    assert_eq!(source, lmms_lambda::Budget::Variable { bytes: 64 << 20 });
    std::env::remove_var("LMMS_MEMORY_BUDGET");

    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots");
    let error = lmms_lambda::runtime_from_env().unwrap_err().to_string();
    assert_eq!(
        error,
        "invalid configuration for `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: \"lots\" is not a whole number of MiB"
    );
    std::env::remove_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    assert_eq!(
        lmms_lambda::runtime_from_env()
            .unwrap()
            .config()
            .memory_budget(),
        None
    );

    // Pre-warming would load modules after each invocation for uses a frozen sandbox may
    // never see: refused, naming the setting.
    std::env::set_var("LMMS_ADAPTIVE", "on+prewarm");
    let error = lmms_lambda::runtime_from_env().unwrap_err().to_string();
    assert!(
        error.starts_with("invalid configuration for `LMMS_ADAPTIVE`: pre-warming (25%)"),
        "{error}"
    );
    std::env::set_var("LMMS_ADAPTIVE", "on");
    assert!(lmms_lambda::runtime_from_env().is_ok());
    std::env::remove_var("LMMS_ADAPTIVE");
}
