#![no_main]
libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    let _ = lintel::fuzzing::appfolio_reports(body);
});
