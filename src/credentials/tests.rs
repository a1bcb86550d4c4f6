use std::cell::Cell;
use std::collections::HashSet;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::CredentialFormat::{Pin, Raw, Uid, Wiegand26, Wiegand34, Wiegand37};
use super::*;

const WIEGAND: [CredentialFormat; 3] = [Wiegand26, Wiegand34, Wiegand37];

fn parse(input: &str) -> Credential {
    match parse_card(input) {
        Ok(c) => c,
        Err(e) => panic!("`{input}` should parse: {e}"),
    }
}

fn parse_err(input: &str) -> String {
    match parse_card(input) {
        Ok(c) => panic!("`{input}` should be refused, got {c}"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Wiegand encodings

/// Hand-computed 26-bit H10301 frame for FC 1, CN 1.
///
/// ```text
/// position   0   1-8        9-24               25
///            E   FC=1       CN=1               O
///            ?   00000001   0000000000000001   ?
/// E covers positions 1-12  = 00000001 0000 -> one 1 (odd) -> E = 1 makes it even
/// O covers positions 13-24 = 000000000001  -> one 1 (odd) -> O = 0 keeps it odd
/// frame = 1 00000001 0000000000000001 0
///       = 1<<25 | 1<<17 | 1<<1 = 33554432 + 131072 + 2 = 33685506 = 0x2020002
/// card number (data bits, parity stripped) = 1<<16 | 1 = 65537
/// ```
#[test]
fn w26_fc1_cn1_by_hand() {
    assert_eq!(encode_wiegand(Wiegand26, 1, 1), Ok(0x202_0002));
    assert_eq!(decode_wiegand(33_685_506, 26), Ok((1, 1)));
    let card = parse("w26:1:1");
    assert_eq!(card.wiegand_frame(), Some(0x202_0002));
    assert_eq!(card.card_number(), Some(65_537));
}

/// (format, fc, cn, frame, card number). The frames were computed independently of this
/// module (a script following HID's published layouts); two are also worked here:
///
/// - W26 0:1: data `00000000 0000000000000001`; E covers twelve zeros -> 0; O covers
///   `000000000001`, already odd -> 0; frame = `0 … 1 0` = 0x2.
/// - W26 255:65535: all 24 data bits set; E covers twelve ones (even) -> 0; O covers twelve
///   ones (even) -> 1; frame = `0 1×24 1` = 0x1FFFFFF.
const VECTORS: &[(CredentialFormat, u32, u32, u64, u64)] = &[
    (Wiegand26, 1, 1, 0x202_0002, 65_537),
    (Wiegand26, 123, 4567, 0x2F6_23AE, 8_065_495),
    (Wiegand26, 0, 1, 0x2, 1),
    (Wiegand26, 255, 65_535, 0x1FF_FFFF, 16_777_215),
    (Wiegand26, 128, 4567, 0x100_23AE, 8_393_175),
    (Wiegand26, 42, 0, 0x254_0001, 2_752_512),
    (Wiegand34, 1, 1, 0x2_0002_0002, 65_537),
    (Wiegand34, 1234, 56_789, 0x2_09A5_BBAA, 80_928_213),
    (Wiegand34, 0, 1, 0x2, 1),
    (Wiegand34, 65_535, 65_535, 0x1_FFFF_FFFF, 4_294_967_295),
    (Wiegand37, 1, 1, 0x10_0010_0002, 524_289),
    (Wiegand37, 1000, 300_000, 0x10_3E89_27C0, 524_588_000),
    (Wiegand37, 0, 1, 0x2, 1),
    (Wiegand37, 65_535, 524_287, 0xF_FFFF_FFFF, 34_359_738_367),
    (Wiegand37, 0x1234, 0x5678, 0x11_2340_ACF1, 2_443_204_216),
];

#[test]
fn known_encodings() {
    for &(format, fc, cn, frame, number) in VECTORS {
        let label = format!("{format} {fc}:{cn}");
        let bits = format.wiegand_bits().expect("wiegand");
        assert_eq!(encode_wiegand(format, fc, cn), Ok(frame), "{label} encode");
        assert_eq!(decode_wiegand(frame, bits), Ok((fc, cn)), "{label} decode");
        let card = Credential::wiegand(format, fc, cn).expect("valid");
        assert_eq!(card.card_number(), Some(number), "{label} card number");
        assert_eq!(card.wiegand_frame(), Some(frame), "{label} frame");
        assert_eq!(card.to_string(), label);
        assert_eq!(
            Credential::from_wiegand_frame(frame, bits).as_ref(),
            Ok(&card),
            "{label} from frame"
        );
        assert_eq!(
            Credential::wiegand_from_card_number(format, number).as_ref(),
            Ok(&card),
            "{label} from card number"
        );
        let typed = format!("w{bits}:{fc}:{cn}");
        assert_eq!(parse(&typed), card, "{typed}");
        assert_eq!(parse(&format!("w{bits}:frame={frame:#x}")), card);
        assert_eq!(parse(&format!("W{bits}:FRAME={frame}")), card);
    }
}

#[test]
fn format_limits_and_lengths() {
    assert_eq!(Wiegand26.wiegand_limits(), Some((255, 65_535)));
    assert_eq!(Wiegand34.wiegand_limits(), Some((65_535, 65_535)));
    assert_eq!(Wiegand37.wiegand_limits(), Some((65_535, 524_287)));
    for format in [Uid, Pin, Raw] {
        assert_eq!(format.wiegand_limits(), None);
        assert_eq!(format.wiegand_bits(), None);
    }
    for format in WIEGAND {
        let bits = format.wiegand_bits().expect("wiegand");
        assert_eq!(CredentialFormat::from_wiegand_bits(bits), Some(format));
    }
    assert_eq!(CredentialFormat::from_wiegand_bits(35), None);
}

#[test]
fn decode_errors() {
    let cases: &[(u64, u32, &str)] = &[
        // W26 1:1 with the leading parity bit cleared.
        (
            0x002_0002,
            26,
            "W26 frame 0x20002 fails its leading even parity check (misread, or not a W26 card)",
        ),
        // W26 1:1 with the trailing parity bit set.
        (
            0x202_0003,
            26,
            "W26 frame 0x2020003 fails its trailing odd parity check (misread, or not a W26 card)",
        ),
        (0x400_0000, 26, "W26 frame 0x4000000 has more than 26 bits"),
        (
            0x2_0002_0003,
            34,
            "W34 frame 0x200020003 fails its trailing odd parity check (misread, or not a W34 card)",
        ),
        (
            0x10_0010_0003,
            37,
            "W37 frame 0x1000100003 fails its trailing odd parity check (misread, or not a W37 card)",
        ),
        (
            1,
            35,
            "35-bit Wiegand is not supported; lintel knows 26, 34 and 37 bits",
        ),
        (
            1,
            64,
            "64-bit Wiegand is not supported; lintel knows 26, 34 and 37 bits",
        ),
    ];
    for &(frame, len, want) in cases {
        match decode_wiegand(frame, len) {
            Ok(v) => panic!("{frame:#x}/{len} decoded to {v:?}"),
            Err(e) => assert_eq!(e.to_string(), want),
        }
    }
}

#[test]
fn encode_errors() {
    let cases: &[(CredentialFormat, u32, u32, &str)] = &[
        (
            Wiegand26,
            256,
            1,
            "facility code 256 is out of range for W26 (0–255)",
        ),
        (
            Wiegand26,
            1,
            65_536,
            "card number 65536 is out of range for W26 (0–65535)",
        ),
        (
            Wiegand34,
            65_536,
            1,
            "facility code 65536 is out of range for W34 (0–65535)",
        ),
        (
            Wiegand34,
            1,
            65_536,
            "card number 65536 is out of range for W34 (0–65535)",
        ),
        (
            Wiegand37,
            65_536,
            1,
            "facility code 65536 is out of range for W37 (0–65535)",
        ),
        (
            Wiegand37,
            1,
            524_288,
            "card number 524288 is out of range for W37 (0–524287)",
        ),
        (Uid, 1, 1, "UID is not a Wiegand format"),
        (Pin, 1, 1, "PIN is not a Wiegand format"),
        (Raw, 1, 1, "CARD is not a Wiegand format"),
    ];
    for &(format, fc, cn, want) in cases {
        assert_eq!(
            encode_wiegand(format, fc, cn).map_err(|e| e.to_string()),
            Err(want.to_string()),
            "{format} {fc}:{cn}"
        );
        assert_eq!(
            Credential::wiegand(format, fc, cn).map_err(|e| e.to_string()),
            Err(want.to_string()),
            "{format} {fc}:{cn}"
        );
    }
}

#[test]
fn from_card_number_errors() {
    let err = |format, n| {
        Credential::wiegand_from_card_number(format, n)
            .map_err(|e| e.to_string())
            .expect_err("should fail")
    };
    assert_eq!(
        err(Wiegand26, 1 << 24),
        "card number 16777216 is too large for W26 (at most 16777215)"
    );
    assert_eq!(
        err(Wiegand34, 1 << 32),
        "card number 4294967296 is too large for W34 (at most 4294967295)"
    );
    assert_eq!(
        err(Wiegand37, 1 << 35),
        "card number 34359738368 is too large for W37 (at most 34359738367)"
    );
    assert_eq!(err(Uid, 5), "UID is not a Wiegand format");
    assert_eq!(
        err(Wiegand26, 0),
        "W26 0:0 has card number 0, which controllers use for an empty slot"
    );
    assert_eq!(
        Credential::wiegand_from_card_number(Wiegand26, 8_392_263).map(|c| c.to_string()),
        Ok("W26 128:3655".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Parsing what operators type

#[test]
fn parses_good_input() {
    // (input, display, card number)
    let cases: &[(&str, &str, Option<u64>)] = &[
        ("w26:123:4567", "W26 123:4567", Some(8_065_495)),
        ("W26:123:04567", "W26 123:4567", Some(8_065_495)),
        ("  w26:123:4567\n", "W26 123:4567", Some(8_065_495)),
        ("w26: 123 : 4567", "W26 123:4567", Some(8_065_495)),
        ("w26:0:1", "W26 0:1", Some(1)),
        ("w34:1234:56789", "W34 1234:56789", Some(80_928_213)),
        ("w37:1000:300000", "W37 1000:300000", Some(524_588_000)),
        ("w26:frame=0x2F623AE", "W26 123:4567", Some(8_065_495)),
        ("w26:frame=49685422", "W26 123:4567", Some(8_065_495)),
        ("uid:04A1B2C3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("UID:04a1b2c3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("uid:04:a1:b2:c3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("04:a1:b2:c3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("04:A1:B2:C3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("00:00:00:01", "UID 00000001", Some(1)),
        (
            "uid:04A1B2C3D4E5F6",
            "UID 04A1B2C3D4E5F6",
            Some(0x0004_A1B2_C3D4_E5F6),
        ),
        (
            "04:a1:b2:c3:d4:e5:f6",
            "UID 04A1B2C3D4E5F6",
            Some(0x0004_A1B2_C3D4_E5F6),
        ),
        ("8392263", "CARD 8392263", Some(8_392_263)),
        // What lintel displays parses back.
        ("W26 123:4567", "W26 123:4567", Some(8_065_495)),
        ("w37  1000:300000", "W37 1000:300000", Some(524_588_000)),
        ("UID 04A1B2C3", "UID 04A1B2C3", Some(0x04A1_B2C3)),
        ("CARD 8392263", "CARD 8392263", Some(8_392_263)),
        ("0008392263", "CARD 8392263", Some(8_392_263)),
        (
            "18446744073709551615",
            "CARD 18446744073709551615",
            Some(u64::MAX),
        ),
    ];
    for &(input, display, number) in cases {
        let card = parse(input);
        assert_eq!(card.to_string(), display, "{input:?}");
        assert_eq!(card.card_number(), number, "{input:?}");
        assert_eq!(
            input.parse::<Credential>().as_ref(),
            Ok(&card),
            "FromStr {input:?}"
        );
    }
    assert_eq!(parse("w26:123:4567").format(), Wiegand26);
    assert_eq!(parse("w26:123:4567").wiegand_fields(), Some((123, 4567)));
    assert_eq!(parse("04:a1:b2:c3").format(), Uid);
    assert_eq!(
        parse("04:a1:b2:c3").uid_bytes(),
        Some(&[0x04, 0xA1, 0xB2, 0xC3][..])
    );
    assert_eq!(parse("8392263").format(), Raw);
    assert_eq!(parse("8392263").wiegand_fields(), None);
}

#[test]
fn refuses_bad_input_with_exact_errors() {
    const EXPECTED: &str = "expected w26:FC:CN, w34:FC:CN, w37:FC:CN, wNN:frame=VALUE, uid:HEX or a decimal card number";
    let cases: Vec<(&str, String)> = vec![
        ("", format!("no card given; {EXPECTED}")),
        ("   ", format!("no card given; {EXPECTED}")),
        ("abc", format!("`abc` is not a card; {EXPECTED}")),
        ("-5", format!("`-5` is not a card; {EXPECTED}")),
        ("12 34", format!("`12 34` is not a card; {EXPECTED}")),
        ("card", format!("`card` is not a card; {EXPECTED}")),
        ("card x", format!("`card x` is not a card; {EXPECTED}")),
        ("PIN ****", format!("`PIN ****` is not a card; {EXPECTED}")),
        (
            "W26 123 4567",
            "`W26 123 4567`: expected w26:FC:CN (facility code and card number, e.g. \
             w26:123:4567) or w26:frame=VALUE (the whole frame with parity)"
                .into(),
        ),
        ("0x1234", format!("`0x1234` is not a card; {EXPECTED}")),
        (
            "26:123:4567",
            format!("`26:123:4567` is not a card; {EXPECTED}"),
        ),
        ("04a1b2c3", format!("`04a1b2c3` is not a card; {EXPECTED}")),
        (
            "w32:1:2",
            "`w32:1:2` is not a supported Wiegand format; use w26, w34 or w37 (e.g. w26:FC:CN)"
                .into(),
        ),
        (
            "wx:1:2",
            "`wx:1:2` is not a supported Wiegand format; use w26, w34 or w37 (e.g. w26:FC:CN)"
                .into(),
        ),
        (
            "w+26:1:2",
            "`w+26:1:2` is not a supported Wiegand format; use w26, w34 or w37 (e.g. w26:FC:CN)"
                .into(),
        ),
        (
            "w26:4567",
            "`w26:4567`: expected w26:FC:CN (facility code and card number, e.g. w26:123:4567) \
             or w26:frame=VALUE (the whole frame with parity)"
                .into(),
        ),
        (
            "W34:1:2:3",
            "`W34:1:2:3`: expected w34:FC:CN (facility code and card number, e.g. w34:123:4567) \
             or w34:frame=VALUE (the whole frame with parity)"
                .into(),
        ),
        (
            "w26:frame=",
            "`w26:frame=`: expected w26:FC:CN (facility code and card number, e.g. w26:123:4567) \
             or w26:frame=VALUE (the whole frame with parity)"
                .into(),
        ),
        (
            "w26:frame=0xZZ",
            "`w26:frame=0xZZ`: expected w26:FC:CN (facility code and card number, e.g. \
             w26:123:4567) or w26:frame=VALUE (the whole frame with parity)"
                .into(),
        ),
        (
            "w26:frame=99999999999999999999",
            "card number 99999999999999999999 does not fit in 64 bits".into(),
        ),
        (
            "w26::4567",
            "facility code `` is not a decimal number".into(),
        ),
        (
            "w26:12a:4567",
            "facility code `12a` is not a decimal number".into(),
        ),
        (
            "w26:123:-1",
            "card number `-1` is not a decimal number".into(),
        ),
        (
            "w26:256:1",
            "facility code 256 is out of range for W26 (0–255)".into(),
        ),
        (
            "w26:1:65536",
            "card number 65536 is out of range for W26 (0–65535)".into(),
        ),
        (
            "w34:65536:1",
            "facility code 65536 is out of range for W34 (0–65535)".into(),
        ),
        (
            "w34:1:70000",
            "card number 70000 is out of range for W34 (0–65535)".into(),
        ),
        (
            "w37:65536:1",
            "facility code 65536 is out of range for W37 (0–65535)".into(),
        ),
        (
            "w37:1:524288",
            "card number 524288 is out of range for W37 (0–524287)".into(),
        ),
        (
            "w26:99999999999999999999999:1",
            "facility code 99999999999999999999999 is out of range for W26 (0–255)".into(),
        ),
        (
            "w26:0:0",
            "W26 0:0 has card number 0, which controllers use for an empty slot".into(),
        ),
        (
            "w26:frame=0x2020003",
            "W26 frame 0x2020003 fails its trailing odd parity check (misread, or not a W26 card)"
                .into(),
        ),
        (
            "w26:frame=0x0020002",
            "W26 frame 0x20002 fails its leading even parity check (misread, or not a W26 card)"
                .into(),
        ),
        (
            "w26:frame=0x4000000",
            "W26 frame 0x4000000 has more than 26 bits".into(),
        ),
        ("uid:", "UID `uid:` is not hex: no hex digits".into()),
        (
            "uid:04A1B2G3",
            "UID `uid:04A1B2G3` is not hex: `g` is not a hex digit (0–9, A–F)".into(),
        ),
        (
            "uid:04A1B2C",
            "UID `uid:04A1B2C` is not hex: 7 hex digits is not a whole number of bytes".into(),
        ),
        (
            "uid:04:A1B2:C3",
            "UID `uid:04:A1B2:C3` is not hex: byte `a1b2` is not two hex digits (separate bytes \
             with `:` as in 04:a1:b2:c3, or leave the separators out)"
                .into(),
        ),
        (
            "uid:04A1B2",
            "UID `uid:04A1B2` is 3 bytes; a card UID is 4 or 7 bytes (8 or 14 hex digits)".into(),
        ),
        (
            "04:a1:b2:c3:d4",
            "UID `04:a1:b2:c3:d4` is 5 bytes; a card UID is 4 or 7 bytes (8 or 14 hex digits)"
                .into(),
        ),
        (
            "uid:04A1B2C3D4E5F6070809",
            "UID `uid:04A1B2C3D4E5F6070809` is 10 bytes, but a controller stores a card number as \
             a 64-bit value (8 bytes), so a 10-byte UID cannot be represented; lintel refuses it \
             rather than truncating it (use the card's 4- or 7-byte UID or a Wiegand number \
             instead)"
                .into(),
        ),
        (
            "uid:00000000",
            "UID 00000000 has card number 0, which controllers use for an empty slot".into(),
        ),
        (
            "0",
            "CARD 0 has card number 0, which controllers use for an empty slot".into(),
        ),
        (
            "18446744073709551616",
            "card number 18446744073709551616 does not fit in 64 bits".into(),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parse_err(input), want, "{input:?}");
    }
}

#[test]
fn uid_constructor() {
    let c = Credential::uid(&[0x04, 0xA1, 0xB2, 0xC3]).expect("4 bytes");
    assert_eq!(c.card_number(), Some(0x04A1_B2C3));
    assert_eq!(c.to_string(), "UID 04A1B2C3");
    assert_eq!(
        Credential::uid(&[1; 10]).map_err(|e| e.to_string()),
        Err(
            "UID `01010101010101010101` is 10 bytes, but a controller stores a card number as \
             a 64-bit value (8 bytes), so a 10-byte UID cannot be represented; lintel refuses it \
             rather than truncating it (use the card's 4- or 7-byte UID or a Wiegand number \
             instead)"
                .to_string()
        )
    );
    assert_eq!(
        Credential::uid(&[1; 8]).map_err(|e| e.to_string()),
        Err(
            "UID `0101010101010101` is 8 bytes; a card UID is 4 or 7 bytes (8 or 14 hex digits)"
                .to_string()
        )
    );
    assert!(Credential::raw(0).is_err());
    assert_eq!(Credential::raw(7).map(|c| c.card_number()), Ok(Some(7)));
}

// ---------------------------------------------------------------------------------------------
// PINs

#[test]
fn pins_are_never_shown() {
    let pin = parse_pin("4821", &PinPolicy::default()).expect("valid");
    assert_eq!(pin.format(), Pin);
    assert_eq!(pin.to_string(), "PIN ****");
    assert_eq!(format!("{pin:?}"), "Credential(PIN ****)");
    assert_eq!(pin.card_number(), None);
    assert_eq!(pin.wiegand_frame(), None);
    assert_eq!(pin.pin_digits(), Some("4821"));
    let long = parse_pin(
        "482193",
        &PinPolicy {
            max_len: 6,
            ..PinPolicy::default()
        },
    )
    .expect("valid");
    assert_eq!(
        long.to_string(),
        "PIN ****",
        "length is not revealed either"
    );
    assert_eq!(parse_pin(" 4821\n", &PinPolicy::default()), Ok(pin));
}

#[test]
fn pin_policy_errors() {
    assert_eq!(
        PinPolicy::default(),
        PinPolicy {
            min_len: 4,
            max_len: 4,
            reject_weak: true
        }
    );
    let default = PinPolicy {
        max_len: 6,
        ..PinPolicy::default()
    };
    let lax = PinPolicy {
        reject_weak: false,
        ..default
    };
    let cases: &[(&str, PinPolicy, &str)] = &[
        ("", default, "no PIN given"),
        ("48a1", default, "a PIN must be digits only (0–9)"),
        ("48 21", default, "a PIN must be digits only (0–9)"),
        ("-4821", default, "a PIN must be digits only (0–9)"),
        ("٤٨٢١", default, "a PIN must be digits only (0–9)"),
        (
            "482",
            default,
            "the PIN has 3 digits; the PIN policy allows 4–6",
        ),
        (
            "4821937",
            default,
            "the PIN has 7 digits; the PIN policy allows 4–6",
        ),
        (
            "1111",
            default,
            "the PIN is too easy to guess (all one digit); choose another, or turn off the \
             policy's reject_weak",
        ),
        (
            "1234",
            default,
            "the PIN is too easy to guess (an ascending run); choose another, or turn off the \
             policy's reject_weak",
        ),
        (
            "012345",
            default,
            "the PIN is too easy to guess (an ascending run); choose another, or turn off the \
             policy's reject_weak",
        ),
        (
            "9876",
            default,
            "the PIN is too easy to guess (a descending run); choose another, or turn off the \
             policy's reject_weak",
        ),
        (
            "4821",
            PinPolicy {
                min_len: 0,
                ..default
            },
            "PIN policy: min_len must be at least 1",
        ),
        (
            "4821",
            PinPolicy {
                min_len: 6,
                max_len: 4,
                ..default
            },
            "PIN policy: min_len 6 is greater than max_len 4",
        ),
        (
            "4821",
            PinPolicy {
                max_len: 13,
                ..default
            },
            "PIN policy: max_len 13 is above the supported 12 digits",
        ),
    ];
    for &(pin, policy, want) in cases {
        let got = parse_pin(pin, &policy).map_err(|e| e.to_string());
        assert_eq!(got, Err(want.to_string()), "{pin:?} under {policy:?}");
        if !pin.is_empty() {
            assert!(!want.contains(pin), "error text must not contain the PIN");
        }
    }
    for ok in ["1111", "1234", "9876", "4821"] {
        assert!(parse_pin(ok, &lax).is_ok(), "{ok} with reject_weak off");
    }
    for ok in ["4821", "1235", "0000123", "1243"] {
        let policy = PinPolicy {
            max_len: 8,
            ..default
        };
        assert!(parse_pin(ok, &policy).is_ok(), "{ok}");
    }
    assert_eq!(
        Credential::pin("1234567890123").map_err(|e| e.to_string()),
        Err("the PIN has 13 digits; lintel accepts at most 12".to_string())
    );
}

#[test]
fn pin_policy_from_config() {
    let p: PinPolicy = serde_json::from_str(r#"{"max_len": 8}"#).expect("partial");
    assert_eq!(
        p,
        PinPolicy {
            min_len: 4,
            max_len: 8,
            reject_weak: true
        }
    );
    assert!(serde_json::from_str::<PinPolicy>(r#"{"min": 4}"#).is_err());
}

#[test]
fn generated_pin_skips_taken_ones() {
    let policy = PinPolicy::default();
    // Everything but one 4-digit PIN is taken.
    let free = "5830";
    let taken = |p: &str| p != free;
    let mut rng = StdRng::seed_from_u64(7);
    // 9000 candidates, one free: the bounded search may miss it, but must never return a taken one.
    for _ in 0..20 {
        match generate_pin(&policy, &taken, &mut rng) {
            Ok(pin) => assert_eq!(pin, free),
            Err(e) => assert_eq!(
                e.to_string(),
                "no free 4-digit PIN found in 1000 tries: almost all are taken; raise the PIN \
                 policy's min_len"
            ),
        }
    }
}

#[test]
fn generated_pin_gives_up_after_bounded_tries() {
    let calls = Cell::new(0u32);
    let all_taken = |_: &str| {
        calls.set(calls.get() + 1);
        true
    };
    let mut rng = StdRng::seed_from_u64(1);
    let got = generate_pin(&PinPolicy::default(), &all_taken, &mut rng);
    assert_eq!(
        got,
        Err(CredentialError::PinSpaceExhausted {
            tries: GENERATE_PIN_TRIES,
            len: 4
        })
    );
    assert!(calls.get() <= GENERATE_PIN_TRIES);
    assert!(calls.get() > 0);
}

#[test]
fn generate_pin_checks_the_policy() {
    let mut rng = StdRng::seed_from_u64(1);
    let bad = PinPolicy {
        min_len: 7,
        max_len: 6,
        reject_weak: true,
    };
    assert_eq!(
        generate_pin(&bad, &|_| false, &mut rng).map_err(|e| e.to_string()),
        Err("PIN policy: min_len 7 is greater than max_len 6".to_string())
    );
}

#[test]
fn generated_pins_fill_a_site_without_duplicates() {
    let policy = PinPolicy::default();
    let issued = std::cell::RefCell::new(HashSet::new());
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..2000 {
        let pin =
            generate_pin(&policy, &|p| issued.borrow().contains(p), &mut rng).expect("plenty left");
        assert!(issued.borrow_mut().insert(pin), "duplicate PIN");
    }
}

// ---------------------------------------------------------------------------------------------
// Storage

#[test]
fn json_shapes() {
    let cases: &[(&str, &str)] = &[
        (
            "w26:123:4567",
            r#"{"format":"wiegand26","fc":123,"cn":4567}"#,
        ),
        (
            "w34:1234:56789",
            r#"{"format":"wiegand34","fc":1234,"cn":56789}"#,
        ),
        (
            "w37:1000:300000",
            r#"{"format":"wiegand37","fc":1000,"cn":300000}"#,
        ),
        ("04:a1:b2:c3", r#"{"format":"uid","uid":"04A1B2C3"}"#),
        ("8392263", r#"{"format":"raw","number":8392263}"#),
    ];
    for &(input, json) in cases {
        let card = parse(input);
        assert_eq!(serde_json::to_string(&card).expect("serialize"), json);
        assert_eq!(
            serde_json::from_str::<Credential>(json).expect("deserialize"),
            card
        );
    }
    let pin = Credential::pin("4821").expect("pin");
    let json = serde_json::to_string(&pin).expect("serialize");
    assert_eq!(json, r#"{"format":"pin","pin":"4821"}"#);
    assert_eq!(serde_json::from_str::<Credential>(&json).ok(), Some(pin));
    assert_eq!(
        serde_json::to_string(&Wiegand37).expect("format"),
        r#""wiegand37""#
    );
}

#[test]
fn json_is_checked_when_read_back() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"format":"wiegand26","fc":256,"cn":1}"#,
            "facility code 256 is out of range for W26 (0–255)",
        ),
        (
            r#"{"format":"wiegand37","fc":1,"cn":524288}"#,
            "card number 524288 is out of range for W37 (0–524287)",
        ),
        (
            r#"{"format":"uid","uid":"04A1B2"}"#,
            "UID `04A1B2` is 3 bytes; a card UID is 4 or 7 bytes (8 or 14 hex digits)",
        ),
        (
            r#"{"format":"raw","number":0}"#,
            "CARD 0 has card number 0, which controllers use for an empty slot",
        ),
        (
            r#"{"format":"pin","pin":"48x1"}"#,
            "a PIN must be digits only (0–9)",
        ),
        (
            r#"{"format":"wiegand26","fc":1,"cn":1,"x":2}"#,
            "unknown field `x`",
        ),
        (
            r#"{"format":"wiegand99","fc":1,"cn":1}"#,
            "unknown variant `wiegand99`",
        ),
    ];
    for &(json, want) in cases {
        let err = serde_json::from_str::<Credential>(json)
            .expect_err(json)
            .to_string();
        assert!(err.starts_with(want), "{json}: {err}");
    }
}

#[test]
fn compact_form_reads_back_and_is_checked() {
    for input in ["w26:123:4567", "w37:1000:300000", "04:a1:b2:c3", "8392263"] {
        let card = parse(input);
        let bytes = postcard::to_allocvec(&card).expect("serialize");
        assert_eq!(postcard::from_bytes::<Credential>(&bytes), Ok(card));
    }
    let pin = Credential::pin("0042").expect("pin");
    let bytes = postcard::to_allocvec(&pin).expect("serialize");
    assert_eq!(postcard::from_bytes::<Credential>(&bytes), Ok(pin));
    // Bytes a valid card never writes: each is refused as its JSON twin is. The layout they
    // assume is the one a valid card reads from:
    assert_eq!(
        postcard::from_bytes::<Credential>(&[0, 0, 0xff, 0x01, 0x01]),
        Ok(parse("w26:255:1"))
    );
    let wiegand26_fc_256 = [0u8, 0, 0x80, 0x02, 0x01];
    let uid_of_3_bytes = [1u8, 3, 0x04, 0xa1, 0xb2];
    let raw_0 = [2u8, 0];
    let pin_with_letter = [3u8, 4, b'4', b'8', b'x', b'1'];
    let wiegand_uid_format = [0u8, 3, 1, 1];
    for bytes in [
        &wiegand26_fc_256[..],
        &uid_of_3_bytes,
        &raw_0,
        &pin_with_letter,
        &wiegand_uid_format,
    ] {
        assert!(
            postcard::from_bytes::<Credential>(bytes).is_err(),
            "{bytes:?} read as a credential"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

fn wiegand_card() -> impl Strategy<Value = (CredentialFormat, u32, u32)> {
    prop::sample::select(WIEGAND.to_vec()).prop_flat_map(|format| {
        let (fc_max, cn_max) = format.wiegand_limits().expect("wiegand");
        (Just(format), 0..=fc_max, 0..=cn_max)
    })
}

proptest! {
    #[test]
    fn encode_decode_round_trip((format, fc, cn) in wiegand_card()) {
        let bits = format.wiegand_bits().expect("wiegand");
        let frame = encode_wiegand(format, fc, cn).expect("in range");
        prop_assert!(frame >> bits == 0, "frame fits {} bits", bits);
        prop_assert_eq!(decode_wiegand(frame, bits), Ok((fc, cn)));
        // The card number is the frame without its two parity bits.
        if let Ok(card) = Credential::wiegand(format, fc, cn) {
            let number = card.card_number().expect("card");
            prop_assert_eq!(number, (frame >> 1) & ((1 << (bits - 2)) - 1));
            prop_assert_eq!(Credential::wiegand_from_card_number(format, number), Ok(card));
        }
    }

    #[test]
    fn any_single_flipped_bit_is_caught(
        (format, fc, cn) in wiegand_card(),
        flip in 0u32..37,
    ) {
        let bits = format.wiegand_bits().expect("wiegand");
        let frame = encode_wiegand(format, fc, cn).expect("in range");
        let flipped = frame ^ (1 << (flip % bits));
        match decode_wiegand(flipped, bits) {
            Err(CredentialError::Parity { .. }) => {}
            Ok(decoded) => prop_assert_ne!(decoded, (fc, cn), "flip went unnoticed"),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        // With this module's layouts every data bit is covered, so it is always a parity error.
        let is_parity_error = matches!(
            decode_wiegand(flipped, bits),
            Err(CredentialError::Parity { .. })
        );
        prop_assert!(is_parity_error);
    }

    #[test]
    fn typed_wiegand_round_trips((format, fc, cn) in wiegand_card()) {
        let bits = format.wiegand_bits().expect("wiegand");
        let typed = format!("w{bits}:{fc}:{cn}");
        match parse_card(&typed) {
            Ok(card) => {
                prop_assert_eq!(card.to_string(), format!("{format} {fc}:{cn}"));
                prop_assert_eq!(card.wiegand_fields(), Some((fc, cn)));
                prop_assert_eq!(parse_card(&card.to_string()).ok(), Some(card.clone()));
                let json = serde_json::to_string(&card).expect("serialize");
                prop_assert_eq!(serde_json::from_str::<Credential>(&json).ok(), Some(card));
            }
            Err(e) => {
                prop_assert_eq!((fc, cn), (0, 0));
                prop_assert!(matches!(e, CredentialError::ZeroCard(_)));
            }
        }
    }

    #[test]
    fn uid_round_trips(bytes in prop::sample::select(vec![4usize, 7]).prop_flat_map(|n| {
        prop::collection::vec(any::<u8>(), n)
    })) {
        prop_assume!(bytes.iter().any(|b| *b != 0));
        let colon: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let card = parse_card(&colon.join(":")).expect("valid uid");
        let expected = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        prop_assert_eq!(card.card_number(), Some(expected));
        prop_assert_eq!(card.uid_bytes(), Some(&bytes[..]));
        let shown = card.to_string();
        let hex = shown.trim_start_matches("UID ");
        prop_assert_eq!(parse_card(&format!("uid:{hex}")).ok(), Some(card.clone()));
        prop_assert_eq!(parse_card(&shown).ok(), Some(card.clone()));
        let json = serde_json::to_string(&card).expect("serialize");
        prop_assert_eq!(serde_json::from_str::<Credential>(&json).ok(), Some(card));
    }

    #[test]
    fn raw_numbers_round_trip(n in 1u64..) {
        let card = parse_card(&n.to_string()).expect("valid");
        prop_assert_eq!(card.card_number(), Some(n));
        prop_assert_eq!(card.to_string(), format!("CARD {n}"));
        prop_assert_eq!(parse_card(&card.to_string()).ok(), Some(card));
    }

    #[test]
    fn parse_card_never_panics(input in "\\PC{0,40}") {
        let _ = parse_card(&input);
    }

    #[test]
    fn generated_pins_respect_policy_and_taken(
        min_len in 1usize..=8,
        extra in 0usize..=4,
        reject_weak in any::<bool>(),
        seed in any::<u64>(),
        taken_seed in any::<u64>(),
    ) {
        let policy = PinPolicy { min_len, max_len: min_len + extra, reject_weak };
        // A pseudo-random half of all PINs is taken.
        let taken = move |p: &str| {
            let mut h = taken_seed;
            for b in p.bytes() {
                h = h.wrapping_mul(0x100_0000_01B3).wrapping_add(u64::from(b));
            }
            h.count_ones() % 2 == 0
        };
        let mut rng = StdRng::seed_from_u64(seed);
        match generate_pin(&policy, &taken, &mut rng) {
            Ok(pin) => {
                prop_assert!(!taken(&pin));
                prop_assert_eq!(pin.len(), min_len);
                prop_assert!(!pin.starts_with('0'));
                prop_assert!(policy.check(&pin).is_ok());
                prop_assert!(pin::weakness(&pin).is_none());
                prop_assert!(parse_pin(&pin, &policy).is_ok());
            }
            // Only one-digit PINs (nine candidates) can run out here.
            Err(e) => prop_assert!(
                min_len == 1 && matches!(e, CredentialError::PinSpaceExhausted { .. }),
                "{}", e
            ),
        }
    }
}
