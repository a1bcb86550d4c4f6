#![no_main]
// A decoded slot must survive encode → decode unchanged: a mismatch is a finding, not a no.
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Err(e) = lintel_hal::fuzzing::register_codec(bytes) {
        assert!(!e.to_string().contains("round trip"), "{e}");
    }
});
