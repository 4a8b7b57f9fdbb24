// Hardware CRC-32C for Axis's journal frames.
//
// Swift cannot emit the SSE4.2 `crc32` instruction (or the ARMv8 CRC32C one), and the software
// table in CRC32C.swift runs at ~1.7 GB/s against ~8.5 GB/s in hardware — on the journal's hot
// path (every frame written and every frame replayed) that difference is a fifth of the writer's
// CPU. This file is the whole of Axis's C: two functions, no state.
#ifndef AXIS_CCRC32C_H
#define AXIS_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction the functions below use, else 0.
int axis_crc32c_hardware_available(void);

/// Extends `crc` (already inverted by the caller, as in the table version) over `length` bytes with
/// the CPU's CRC-32C instruction. Call only when `axis_crc32c_hardware_available()` is 1.
uint32_t axis_crc32c_hardware(uint32_t crc, const void *bytes, size_t length);

#endif
