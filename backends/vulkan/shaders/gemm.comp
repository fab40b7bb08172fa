#version 450
// C = alpha op(A) op(B) + beta C, strided-batched over gl_WorkGroupID.z.
// Each workgroup computes a BM x BN tile of C; A and B tiles of depth BK are
// staged in shared memory as vec4s, and every invocation accumulates a
// TM x TN block in vec4 registers (TM, TN multiples of 4).  The invocation's
// rows/columns are vec4 groups interleaved with its neighbours', so that
// adjacent invocations read adjacent shared-memory vec4s.  Tile sizes and
// the transposes are specialization constants chosen per device.
#include "common.glsl"
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const uint TRANS_A = 0;
layout(constant_id = 7) const uint TRANS_B = 0;

layout(binding = 0) readonly buffer BufA { float a[]; };
layout(binding = 1) readonly buffer BufB { float b[]; };
layout(binding = 2) buffer BufC { float c[]; };
layout(push_constant) uniform Params {
    uint off_a, off_b, off_c;
    uint m, n, k, lda, ldb, ldc;
    uint stride_a, stride_b, stride_c;
    float alpha, beta;
} p;

const uint BM4 = BM / 4, BN4 = BN / 4, TM4 = TM / 4, TN4 = TN / 4;
shared vec4 As[BK * BM4]; // As[kk * BM4 + i / 4][i % 4] = op(A)[row0 + i][k0 + kk]
shared vec4 Bs[BK * BN4]; // Bs[kk * BN4 + j / 4][j % 4] = op(B)[k0 + kk][col0 + j]

void main()
{
    const uint threads_n = BN / TN, threads_m = BM / TM;
    const uint tx = LID % threads_n, ty = LID / threads_n;
    const uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
    const uint z = gl_WorkGroupID.z;
    const uint base_a = p.off_a + z * p.stride_a;
    const uint base_b = p.off_b + z * p.stride_b;
    const uint base_c = p.off_c + z * p.stride_c;

    vec4 acc[TM][TN4];
    for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN4; j++)
            acc[i][j] = vec4(0.0);

    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        // Consecutive invocations read consecutive addresses of the stored
        // (untransposed) matrices.
        for (uint e = LID; e < BM * BK; e += WG) {
            uint i, kk;
            if (TRANS_A == 0) { i = e / BK; kk = e % BK; } else { i = e % BM; kk = e / BM; }
            uint gi = row0 + i, gk = k0 + kk;
            float v = 0.0;
            if (gi < p.m && gk < p.k)
                v = TRANS_A == 0 ? a[base_a + gi * p.lda + gk] : a[base_a + gk * p.lda + gi];
            As[kk * BM4 + i / 4][i % 4] = v;
        }
        for (uint e = LID; e < BN * BK; e += WG) {
            uint j, kk;
            if (TRANS_B == 0) { j = e % BN; kk = e / BN; } else { j = e / BK; kk = e % BK; }
            uint gj = col0 + j, gk = k0 + kk;
            float v = 0.0;
            if (gj < p.n && gk < p.k)
                v = TRANS_B == 0 ? b[base_b + gk * p.ldb + gj] : b[base_b + gj * p.ldb + gk];
            Bs[kk * BN4 + j / 4][j % 4] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            vec4 ra[TM4], rb[TN4];
            for (uint i = 0; i < TM4; i++)
                ra[i] = As[kk * BM4 + i * threads_m + ty];
            for (uint j = 0; j < TN4; j++)
                rb[j] = Bs[kk * BN4 + j * threads_n + tx];
            for (uint i = 0; i < TM4; i++)
                for (uint r = 0; r < 4; r++)
                    for (uint j = 0; j < TN4; j++)
                        acc[i * 4 + r][j] = fma(vec4(ra[i][r]), rb[j], acc[i * 4 + r][j]);
        }
        barrier();
    }

    for (uint i = 0; i < TM4; i++)
        for (uint r = 0; r < 4; r++) {
            uint gi = row0 + (i * threads_m + ty) * 4 + r;
            if (gi >= p.m)
                continue;
            for (uint j = 0; j < TN4; j++)
                for (uint q = 0; q < 4; q++) {
                    uint gj = col0 + (j * threads_n + tx) * 4 + q;
                    if (gj >= p.n)
                        continue;
                    uint idx = base_c + gi * p.ldc + gj;
                    float v = p.alpha * acc[i * 4 + r][j][q];
                    if (p.beta != 0.0) // beta == 0: C is not read, NaNs in C vanish
                        v += p.beta * c[idx];
                    c[idx] = v;
                }
        }
}
