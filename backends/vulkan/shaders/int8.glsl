// Int8 helpers for the ABI 1.1 shaders.  int8 tensors are bound as uint[]
// (4 bytes per word, little-endian byte order); byte addresses are counted
// from the start of the bound buffer (push offsets are word offsets).

// Sign-extended byte b of word w (b in 0..3).
int byte_s8(uint w, uint b) { return bitfieldExtract(int(w), int(8u * b), 8); }

// backend.h's requantization in 32-bit arithmetic: the 64-bit product
// acc*mult (imulExtended), plus 1 << (shift-1), arithmetic shift right by
// shift (1..62), saturated, plus zp, clamped to [relu ? max(zp,-128) : -128, 127].
int requantize_i8(int acc, int mult, int shift, int zp, bool relu)
{
    int hi, lo_i;
    imulExtended(acc, mult, hi, lo_i);
    uint lo = uint(lo_i);
    uint add_lo = shift <= 32 ? (1u << uint(shift - 1)) : 0u;
    uint add_hi = shift > 32 ? (1u << uint(shift - 33)) : 0u;
    uint carry;
    lo = uaddCarry(lo, add_lo, carry);
    hi = int(uint(hi) + add_hi + carry); // |acc*mult| < 2^62: no overflow
    int rhi;
    uint rlo;
    if (shift < 32) {
        rlo = (lo >> uint(shift)) | (uint(hi) << uint(32 - shift));
        rhi = hi >> shift;
    } else if (shift == 32) {
        rlo = uint(hi);
        rhi = hi >> 31;
    } else {
        rlo = uint(hi >> (shift - 32));
        rhi = hi >> 31;
    }
    int v;
    if (rhi != (int(rlo) >> 31))
        v = rhi < 0 ? -1024 : 1024; // beyond int32: saturates either way
    else
        v = clamp(int(rlo), -1024, 1024);
    v += zp;
    int lo_clamp = (relu && zp > -128) ? zp : -128;
    return clamp(v, lo_clamp, 127);
}

// roundeven(x * inv) clamped to [qmin - zp, qmax - zp], plus zp; inside says
// no clamping was needed (NaN: zp, not inside).
int quant_value(float x, float inv, int zp, int qmin, int qmax, out bool inside)
{
    precise float t = x * inv;
    float r = roundEven(t);
    if ((floatBitsToUint(t) & 0x7fffffffu) > 0x7f800000u) {
        inside = false;
        return zp;
    }
    float lo = float(qmin - zp), hi = float(qmax - zp);
    inside = r >= lo && r <= hi;
    r = r < lo ? lo : (r > hi ? hi : r);
    return int(r) + zp;
}
