// SPDX-License-Identifier: GPL-2.0

//! The bytes the coherent-buffer tests have edu write, shared by the edu
//! sample and the guest program that checks them through a user mapping.
//!
//! A byte is a function of a seed and its position in the buffer, never
//! zero, so that a reader tells written bytes from untouched (zeroed) ones.

/// The byte at `pos` of a buffer written with `seed`.
pub(crate) fn byte(seed: u64, pos: u64) -> u8 {
    let mut z = seed ^ (pos >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> ((pos & 7) * 8)) as u8 | 1
}

/// A hash of a list of offsets (FNV-1a over their little-endian bytes),
/// for comparing two lists through one short number.
pub(crate) fn hash_offsets(offsets: impl Iterator<Item = u64>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for off in offsets {
        for b in off.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
