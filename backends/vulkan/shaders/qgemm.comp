#version 450
// Int8 GEMM of ABI 1.1: C[i][j] = requant(bias[j] + sum_p (A[i][p]-a_zp)*B[j][p]).
// One invocation per (row i, group of 4 columns); a group that is a whole
// aligned word of C (ldc % 4 == 0) is stored with one write, other bytes
// with atomicAnd/atomicOr so that neighbouring rows never race.
#include "common.glsl"
#include "int8.glsl"
layout(binding = 0) readonly buffer BufA { uint a[]; };
layout(binding = 1) readonly buffer BufB { uint b[]; };
layout(binding = 2) readonly buffer BufBias { int bias[]; };
layout(binding = 3) readonly buffer BufMult { int mult[]; };
layout(binding = 4) readonly buffer BufShift { int shift[]; };
layout(binding = 5) buffer BufC { uint c[]; };
layout(push_constant) uniform Params {
    uint off_a, off_b, off_bias, off_mult, off_shift, off_c;
    uint m, n, k, lda, ldb, ldc, ngroups, total;
    int a_zp, c_zp, has_bias, relu;
} p;

int ld_a(uint byte) { return byte_s8(a[byte >> 2], byte & 3u); }
int ld_b(uint byte) { return byte_s8(b[byte >> 2], byte & 3u); }

void main()
{
    FOR_EACH_INDEX(idx, p.total) {
        uint i = idx / p.ngroups;
        uint j0 = (idx % p.ngroups) * 4u;
        uint jn = min(4u, p.n - j0);
        uint abase = p.off_a * 4u + i * p.lda;
        int res[4] = int[4](0, 0, 0, 0);
        for (uint q = 0u; q < jn; q++) {
            uint j = j0 + q;
            int acc = p.has_bias != 0 ? bias[p.off_bias + j] : 0;
            uint bbase = p.off_b * 4u + j * p.ldb;
            for (uint t = 0u; t < p.k; t++)
                acc += (ld_a(abase + t) - p.a_zp) * ld_b(bbase + t);
            res[q] = requantize_i8(acc, mult[p.off_mult + j], shift[p.off_shift + j], p.c_zp,
                                   p.relu != 0);
        }
        uint cbyte = p.off_c * 4u + i * p.ldc + j0;
        if (jn == 4u && (cbyte & 3u) == 0u) {
            c[cbyte >> 2] = (uint(res[0]) & 0xffu) | ((uint(res[1]) & 0xffu) << 8) |
                            ((uint(res[2]) & 0xffu) << 16) | (uint(res[3]) << 24);
        } else {
            for (uint q = 0u; q < jn; q++) {
                uint bt = cbyte + q, sh = 8u * (bt & 3u);
                atomicAnd(c[bt >> 2], ~(0xffu << sh));
                atomicOr(c[bt >> 2], (uint(res[q]) & 0xffu) << sh);
            }
        }
    }
}
