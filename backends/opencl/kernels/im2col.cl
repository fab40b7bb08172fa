/* Convolution lowering: im2col unrolls input patches into columns so that a
 * convolution becomes a GEMM; col2im folds column gradients back (gather
 * form: each input element sums its own contributions, so no atomics). */

/* col element (b, row, p) with row = (c*R + r)*S + s and p = oh*OW + ow sits
 * at row*row_stride + b*b_stride + p; the strides select between per-image
 * blocks [b][row][p] and one wide matrix [row][b*OH*OW]. */
__kernel void im2col(__global const float *x, int x_off, __global float *col, int col_off,
                     int nb, int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw,
                     int dh, int dw, int OH, int OW, int row_stride, int b_stride)
{
    x += x_off;
    col += col_off;
    int ohw = OH * OW;
    int rows = C * R * S;
    int total = nb * rows * ohw;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int p = i % ohw;
        int t = i / ohw;
        int row = t % rows;
        int b = t / rows;
        int s = row % S;
        int r = (row / S) % R;
        int c = row / (R * S);
        int ih = (p / OW) * sh - ph + r * dh;
        int iw = (p % OW) * sw - pw + s * dw;
        float v = 0.0f;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
            v = x[(((long)b * C + c) * H + ih) * W + iw];
        col[(long)row * row_stride + (long)b * b_stride + p] = v;
    }
}

/* dx[b][c][h][w] = sum of the per-image column entries [b][row][p] that
 * im2col would have read from (h, w). */
__kernel void col2im(__global const float *col, int col_off, __global float *x, int x_off,
                     int nb, int C, int H, int W, int R, int S, int sh, int sw, int ph, int pw,
                     int dh, int dw, int OH, int OW)
{
    col += col_off;
    x += x_off;
    int ohw = OH * OW;
    int rows = C * R * S;
    int total = nb * C * H * W;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int w = i % W;
        int h = (i / W) % H;
        int c = (i / (W * H)) % C;
        int b = i / (W * H * C);
        float sum = 0.0f;
        for (int r = 0; r < R; r++) {
            int th = h + ph - r * dh;
            if (th < 0 || th % sh != 0 || th / sh >= OH)
                continue;
            int oh = th / sh;
            for (int s = 0; s < S; s++) {
                int tw = w + pw - s * dw;
                if (tw < 0 || tw % sw != 0 || tw / sw >= OW)
                    continue;
                int row = (c * R + r) * S + s;
                sum += col[((long)b * rows + row) * ohw + oh * OW + tw / sw];
            }
        }
        x[i] = sum;
    }
}

/* dst[k][b*inner + p] = src[b][k][p]: puts a batch of dy images side by side
 * so that the weight gradient of a whole chunk is one GEMM. */
__kernel void transpose_batch_rows(__global const float *src, int src_off, __global float *dst,
                                   int dst_off, int nb, int K, int inner)
{
    src += src_off;
    dst += dst_off;
    int total = nb * K * inner;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int p = i % inner;
        int k = (i / inner) % K;
        int b = i / (inner * K);
        dst[((long)k * nb + b) * inner + p] = src[i];
    }
}
