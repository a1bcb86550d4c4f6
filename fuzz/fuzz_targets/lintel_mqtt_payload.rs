#![no_main]
libfuzzer_sys::fuzz_target!(|payload: &[u8]| {
    let _ = lintel_hal::fuzzing::lintel_mqtt_payload(payload);
});
