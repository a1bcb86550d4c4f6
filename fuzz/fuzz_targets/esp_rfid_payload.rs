#![no_main]
use lintel_hal::mqtt::UidFormat;

libfuzzer_sys::fuzz_target!(|payload: &[u8]| {
    for format in [UidFormat::Hex, UidFormat::Decimal] {
        let _ = lintel_hal::fuzzing::esp_rfid_payload(payload, format);
    }
});
