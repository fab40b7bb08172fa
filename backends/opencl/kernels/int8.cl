/* Int8 inference kernels (ABI 1.1).  Plain int32/int64 arithmetic, so the
 * results are exactly those of backend.h's formulas (and of the CPU
 * backend).  int8 tensors arrive as a char buffer plus an offset counted in
 * 4-byte words (the ABI requires int8 offsets to be multiples of 4). */

char requantize_i8(int acc, int mult, int shift, int zp, int relu)
{
    long v = ((long)acc * mult + ((long)1 << (shift - 1))) >> shift;
    long lo = (relu && zp > -128) ? zp : -128;
    v += zp;
    return (char)(v < lo ? lo : v > 127 ? 127 : v);
}

__kernel void qgemm_i8(__global const char *a, int a_off, int lda, int a_zp, __global const char *b, int b_off,
                       int ldb, __global const int *bias, int bias_off, int has_bias, __global const int *mult,
                       int mult_off, __global const int *shift, int shift_off, int c_zp, int relu,
                       __global char *c, int c_off, int ldc, int M, int N, int K)
{
    a += (long)a_off * 4;
    b += (long)b_off * 4;
    c += (long)c_off * 4;
    bias += bias_off;
    mult += mult_off;
    shift += shift_off;
    for (int idx = get_global_id(0); idx < M * N; idx += get_global_size(0)) {
        int i = idx / N, j = idx % N;
        int acc = has_bias ? bias[j] : 0;
        __global const char *ar = a + (long)i * lda, *br = b + (long)j * ldb;
        for (int p = 0; p < K; p++)
            acc += ((int)ar[p] - a_zp) * (int)br[p];
        c[(long)i * ldc + j] = requantize_i8(acc, mult[j], shift[j], c_zp, relu);
    }
}

__kernel void qconv2d_i8(__global const char *x, int x_off, int x_zp, __global const char *w, int w_off,
                         __global const int *bias, int bias_off, int has_bias, __global const int *mult,
                         int mult_off, __global const int *shift, int shift_off, int y_zp, int relu,
                         __global char *y, int y_off, int N, int C, int H, int W, int K, int R, int S, int sh,
                         int sw, int ph, int pw, int dh, int dw, int G, int OH, int OW)
{
    x += (long)x_off * 4;
    w += (long)w_off * 4;
    y += (long)y_off * 4;
    bias += bias_off;
    mult += mult_off;
    shift += shift_off;
    int cpg = C / G, kpg = K / G;
    int total = N * K * OH * OW;
    for (int idx = get_global_id(0); idx < total; idx += get_global_size(0)) {
        int ox = idx % OW;
        int oy = (idx / OW) % OH;
        int k = (idx / (OW * OH)) % K;
        int n = idx / (OW * OH * K);
        int g = k / kpg;
        int acc = has_bias ? bias[k] : 0;
        for (int c = 0; c < cpg; c++) {
            __global const char *plane = x + ((long)n * C + g * cpg + c) * H * W;
            __global const char *wk = w + ((long)k * cpg + c) * R * S;
            for (int r = 0; r < R; r++) {
                int iy = oy * sh - ph + r * dh;
                if (iy < 0 || iy >= H)
                    continue; /* padding reads as x_zp: contributes (x_zp - x_zp) * w = 0 */
                for (int s = 0; s < S; s++) {
                    int ix = ox * sw - pw + s * dw;
                    if (ix >= 0 && ix < W)
                        acc += ((int)plane[iy * W + ix] - x_zp) * (int)wk[r * S + s];
                }
            }
        }
        y[idx] = requantize_i8(acc, mult[k], shift[k], y_zp, relu);
    }
}

__kernel void qmaxpool_i8(__global const char *x, int x_off, __global char *y, int y_off, int NC, int H, int W,
                          int KH, int KW, int sh, int sw, int ph, int pw, int dh, int dw, int OH, int OW)
{
    x += (long)x_off * 4;
    y += (long)y_off * 4;
    int total = NC * OH * OW;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int ow = i % OW;
        int oh = (i / OW) % OH;
        int plane = i / (OW * OH);
        __global const char *xp = x + (long)plane * H * W;
        int best = -128;
        for (int r = 0; r < KH; r++) {
            int ih = oh * sh - ph + r * dh;
            if (ih < 0 || ih >= H)
                continue;
            for (int s = 0; s < KW; s++) {
                int iw = ow * sw - pw + s * dw;
                if (iw >= 0 && iw < W)
                    best = max(best, (int)xp[ih * W + iw]);
            }
        }
        y[i] = (char)best;
    }
}

/* roundeven(x * inv) clamped to [qmin - zp, qmax - zp], plus zp; *inside
 * says whether no clamping was needed (NaN: zp, not inside). */
int quant_value(float x, float inv, int zp, int qmin, int qmax, int *inside)
{
    float r = rint(x * inv);
    if (isnan(r)) {
        *inside = 0;
        return zp;
    }
    float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    *inside = r >= lo && r <= hi;
    r = r < lo ? lo : r > hi ? hi : r;
    return (int)r + zp;
}

__kernel void quantize_i8(__global const float *x, int x_off, __global char *y, int y_off, float inv, int zp, int n)
{
    x += x_off;
    y += (long)y_off * 4;
    int inside;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = (char)quant_value(x[i], inv, zp, -128, 127, &inside);
}

__kernel void dequantize_i8(__global const char *x, int x_off, __global float *y, int y_off, float scale, int zp,
                            int n)
{
    x += (long)x_off * 4;
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = (float)((int)x[i] - zp) * scale;
}

__kernel void fake_quant_f32(__global const float *x, int x_off, __global float *y, int y_off,
                             __global float *mask, int mask_off, int has_mask, __global const float *scale,
                             int scale_off, __global const float *inv, int inv_off, __global const int *zp,
                             int zp_off, int channels, int inner, int qmin, int qmax, int n)
{
    x += x_off;
    y += y_off;
    mask += mask_off;
    scale += scale_off;
    inv += inv_off;
    zp += zp_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        int ch = (i / inner) % channels, inside;
        int q = quant_value(x[i], inv[ch], zp[ch], qmin, qmax, &inside);
        if (has_mask)
            mask[i] = inside ? 1.0f : 0.0f;
        y[i] = (float)(q - zp[ch]) * scale[ch];
    }
}
