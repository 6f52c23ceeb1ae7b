//! Fuzz target `scenario`: the property is `checks::scenario` (shared with the corpus replay test).
#![no_main]

// Each target uses one of the checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::scenario(data));
