//! The register codec, FC16 frame planning and Wiegand (docs/BENCHMARKS.md):
//!
//! - `codec/encode_slot`, `codec/decode_slot`: one credential slot of the default profile, and
//!   of a 64-bit-card, low-word-first profile;
//! - `codec/table_checksum/8190`: the CRC the driver compares before reading a table back;
//! - `fc16/apply/{15,120,1000}`: `ModbusDriver::apply` of that many contiguous grants against an
//!   in-memory Modbus client (no I/O: every request is answered at once from a register array).
//!   It reads the header, plans FC16 frames (`modbus::frames::plan`, crate-private, so measured
//!   through `apply`), encodes every slot, writes each frame and bumps the generation. `apply/
//!   scattered/120` uses every other slot, so no two ops share a frame;
//! - `wiegand/{encode,decode}/{26,34,37}` and `wiegand/parse_card`.

use std::hint::black_box;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lintel::credentials::{CredentialFormat, decode_wiegand, encode_wiegand, parse_card};
use lintel_hal::modbus::{Connector, ModbusDriver};
use lintel_hal::profile::{HEADER_LEN, Header, MAGIC, PROFILE_VERSION};
use lintel_hal::{Change, Controller, Credential, Op, RegisterProfile, WordOrder};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::slave::SlaveContext;
use tokio_modbus::{Request, Response, Slave};

fn credential(card: u64) -> Credential {
    Credential {
        card,
        doors: 0b101,
        valid_from: 1_767_225_600,
        valid_until: Some(1_798_761_599),
        pin: Some(4321),
    }
}

fn wide_profile() -> RegisterProfile {
    RegisterProfile {
        card_registers: 4,
        valid_from_offset: 5,
        valid_until_offset: 7,
        pin_offset: 9,
        slot_registers: 10,
        word_order: WordOrder::LowFirst,
        max_write_registers: 120,
        ..RegisterProfile::default()
    }
}

fn slot_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for (name, profile) in [
        ("default", RegisterProfile::default()),
        ("card64_low_first", wide_profile()),
    ] {
        profile.validate().expect("profile");
        let cred = credential(0x00AB_CDEF_1234);
        let cred = if profile.card_registers == 2 {
            credential(0xABCD_1234)
        } else {
            cred
        };
        let regs = profile.encode_slot(Some(&cred));
        assert_eq!(profile.decode_slot(&regs).expect("decode"), Some(cred));
        group.bench_function(BenchmarkId::new("encode_slot", name), |b| {
            b.iter(|| black_box(profile.encode_slot(Some(black_box(&cred)))));
        });
        group.bench_function(BenchmarkId::new("decode_slot", name), |b| {
            b.iter(|| black_box(profile.decode_slot(black_box(&regs)).expect("decode")));
        });
    }
    let profile = RegisterProfile::default();
    let table: Vec<(u16, Credential)> = (0..8190u16)
        .map(|s| (s, credential(10_000 + u64::from(s))))
        .collect();
    group.throughput(Throughput::Elements(8190));
    group.bench_function("table_checksum/8190", |b| {
        b.iter(|| {
            black_box(
                profile
                    .table_checksum(8190, table.iter().map(|(s, c)| (*s, c)))
                    .expect("checksum"),
            )
        });
    });
    group.finish();
}

/// A Modbus device as a plain register array, answering FC03 and FC16 at once.
struct Memory {
    registers: Vec<u16>,
}

impl SlaveContext for Memory {
    fn set_slave(&mut self, _: Slave) {}
}

#[async_trait]
impl Client for Memory {
    async fn call(&mut self, request: Request<'_>) -> tokio_modbus::Result<Response> {
        Ok(Ok(match request {
            Request::ReadHoldingRegisters(address, count) => {
                let a = usize::from(address);
                Response::ReadHoldingRegisters(self.registers[a..a + usize::from(count)].to_vec())
            }
            Request::WriteMultipleRegisters(address, values) => {
                let a = usize::from(address);
                self.registers[a..a + values.len()].copy_from_slice(&values);
                Response::WriteMultipleRegisters(address, values.len() as u16)
            }
            other => panic!("unexpected request {other:?}"),
        }))
    }

    async fn disconnect(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
struct InMemory {
    profile: RegisterProfile,
    slots: u16,
}

#[async_trait]
impl Connector for InMemory {
    async fn connect(&self) -> Result<Context, lintel_hal::Error> {
        let p = &self.profile;
        let mut registers = vec![0u16; 65_536];
        let header = p.encode_header(&Header {
            magic: MAGIC,
            version: PROFILE_VERSION,
            slots: self.slots,
            slot_registers: p.slot_registers,
            generation: 0,
            checksum: 0,
            command: 0,
            status: 0,
        });
        assert_eq!(header.len(), usize::from(HEADER_LEN));
        let base = usize::from(p.header_base);
        registers[base..base + header.len()].copy_from_slice(&header);
        let client: Box<dyn Client> = Box::new(Memory { registers });
        Ok(Context::from(client))
    }

    fn describe(&self) -> String {
        "in-memory".into()
    }
}

fn fc16(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let profile = RegisterProfile::default();
    let mut driver = ModbusDriver::with_connector(
        InMemory {
            profile: profile.clone(),
            slots: 8190,
        },
        profile,
        Duration::from_secs(1),
    )
    .expect("driver");
    let grants = |n: u16, step: u16| -> Vec<Op> {
        (0..n)
            .map(|i| Op {
                slot: i * step,
                change: Change::Grant(credential(50_000 + u64::from(i))),
            })
            .collect()
    };
    let mut group = c.benchmark_group("fc16");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for n in [15u16, 120, 1000] {
        let ops = grants(n, 1);
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_with_input(BenchmarkId::new("apply", n), &ops, |b, ops| {
            b.iter(|| {
                rt.block_on(driver.apply(black_box(ops))).expect("apply");
            });
        });
    }
    let ops = grants(120, 2);
    group.throughput(Throughput::Elements(120));
    group.bench_with_input(BenchmarkId::new("apply_scattered", 120), &ops, |b, ops| {
        b.iter(|| rt.block_on(driver.apply(black_box(ops))).expect("apply"));
    });
    // The table as written reads back as what was granted.
    let table = rt.block_on(driver.read_table()).expect("read back");
    assert_eq!(table.len(), 1000, "slots 0..1000 hold grants");
    group.finish();
}

fn wiegand(c: &mut Criterion) {
    let mut group = c.benchmark_group("wiegand");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for (format, fc, cn) in [
        (CredentialFormat::Wiegand26, 123u32, 45_678u32),
        (CredentialFormat::Wiegand34, 40_000, 65_000),
        (CredentialFormat::Wiegand37, 50_000, 500_000),
    ] {
        let bits = format.wiegand_bits().expect("wiegand");
        let frame = encode_wiegand(format, fc, cn).expect("encode");
        assert_eq!(decode_wiegand(frame, bits).expect("decode"), (fc, cn));
        group.bench_function(BenchmarkId::new("encode", bits), |b| {
            b.iter(|| encode_wiegand(black_box(format), black_box(fc), black_box(cn)));
        });
        group.bench_function(BenchmarkId::new("decode", bits), |b| {
            b.iter(|| decode_wiegand(black_box(frame), black_box(bits)));
        });
    }
    group.bench_function("parse_card/w26", |b| {
        b.iter(|| parse_card(black_box("w26:123:45678")).expect("card"));
    });
    group.finish();
}

criterion_group!(benches, slot_codec, fc16, wiegand);
criterion_main!(benches);
