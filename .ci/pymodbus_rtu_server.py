#!/usr/bin/env python3
"""A third-party Modbus RTU device for lintel's interop test: pymodbus serving lintel's
credential register profile exactly as docs/registers.md describes it (default profile,
version 1), on a serial port (one end of a socat pty pair).

After every write it decodes its own slots per docs/registers.md and writes the table as JSON
to --dump, so the Rust side can check what pymodbus holds without trusting its own decoder.
"""

import argparse
import json
import os
import zlib

from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.framer import FramerType
from pymodbus.server import StartSerialServer

MAGIC = 0x4143
VERSION = 1
SLOTS_BASE = 16
SLOT_REGS = 8
NO_END = 0xFFFFFFFF
NO_PIN = 0xFFFF


def u32(hi, lo):
    return (hi << 16) | lo


class Table(ModbusSequentialDataBlock):
    """Holding registers 0.. with the header kept current like firmware would."""

    def __init__(self, slots, dump):
        self.slots = slots
        self.dump = dump
        # pymodbus 3.8 adds 1 to every PDU address before looking it up, so the block starts
        # at 1 for PDU address 0 to be register 0, as docs/registers.md numbers them.
        super().__init__(1, [0] * (SLOTS_BASE + slots * SLOT_REGS))
        self.refresh()

    def slot_registers(self):
        return self.values[SLOTS_BASE:SLOTS_BASE + self.slots * SLOT_REGS]

    def refresh(self):
        crc = zlib.crc32(b"".join(r.to_bytes(2, "big") for r in self.slot_registers()))
        header = [MAGIC, VERSION, self.slots, SLOT_REGS]
        self.values[0:4] = header
        self.values[6] = crc >> 16
        self.values[7] = crc & 0xFFFF
        self.values[8] = 0
        self.values[9] = 0

    def setValues(self, address, values):
        super().setValues(address, values)
        self.refresh()
        self.write_dump()

    def decoded(self):
        table = []
        regs = self.slot_registers()
        for slot in range(self.slots):
            r = regs[slot * SLOT_REGS:(slot + 1) * SLOT_REGS]
            flags = r[0]
            if not flags & 1:
                continue
            until = u32(r[5], r[6])
            pin = r[7]
            table.append({
                "slot": slot,
                "card": u32(r[1], r[2]),
                "doors": (flags >> 8) if flags & 2 else 0,
                "valid_from": u32(r[3], r[4]),
                "valid_until": None if until == NO_END else until,
                "pin": None if pin == NO_PIN else pin,
            })
        return table

    def write_dump(self):
        if not self.dump:
            return
        info = {
            "generation": u32(self.values[4], self.values[5]),
            "checksum": u32(self.values[6], self.values[7]),
            "table": self.decoded(),
        }
        tmp = self.dump + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, self.dump)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", required=True)
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--slots", type=int, default=64)
    p.add_argument("--baud", type=int, default=19200)
    p.add_argument("--dump")
    a = p.parse_args()
    table = Table(a.slots, a.dump)
    table.write_dump()
    device = ModbusSlaveContext(hr=table)
    context = ModbusServerContext(slaves={a.unit: device}, single=False)
    StartSerialServer(
        context=context,
        framer=FramerType.RTU,
        port=a.port,
        baudrate=a.baud,
        bytesize=8,
        # No parity and two stop bits (the spec's alternative to even parity): a Linux pty
        # refuses PARENB in some kernels, and ignores the framing anyway.
        parity="N",
        stopbits=2,
    )


if __name__ == "__main__":
    main()
