#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = lintel::fuzzing::config(text);
});
