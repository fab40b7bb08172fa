/* 2-D pooling.  mode 0 = max (padding never wins), 1 = average over the
 * elements inside the input, 2 = average over the whole kernel area. */

__kernel void pool_forward(__global const float *x, int x_off, __global float *y, int y_off,
                           int mode, int NC, int H, int W, int KH, int KW, int sh, int sw,
                           int ph, int pw, int dh, int dw, int OH, int OW)
{
    x += x_off;
    y += y_off;
    int total = NC * OH * OW;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int ow = i % OW;
        int oh = (i / OW) % OH;
        int plane = i / (OW * OH);
        __global const float *xp = x + (long)plane * H * W;
        float best = -INFINITY;
        int found = 0;
        float sum = 0.0f;
        int count = 0;
        for (int r = 0; r < KH; r++) {
            int ih = oh * sh - ph + r * dh;
            if (ih < 0 || ih >= H)
                continue;
            for (int s = 0; s < KW; s++) {
                int iw = ow * sw - pw + s * dw;
                if (iw < 0 || iw >= W)
                    continue;
                float v = xp[ih * W + iw];
                if (!found || v > best) {
                    best = v;
                    found = 1;
                }
                sum += v;
                count++;
            }
        }
        if (mode == 0)
            y[i] = best;
        else if (mode == 1)
            y[i] = count > 0 ? sum / (float)count : 0.0f;
        else
            y[i] = sum / (float)(KH * KW);
    }
}

/* Gather form: each input element sums dy over the windows that contain it
 * (for max, only windows whose first maximum it is), so overlapping windows
 * accumulate without atomics. */
__kernel void pool_backward(__global const float *x, int x_off, __global const float *dy,
                            int dy_off, __global float *dx, int dx_off, int mode, int NC, int H,
                            int W, int KH, int KW, int sh, int sw, int ph, int pw, int dh, int dw,
                            int OH, int OW)
{
    x += x_off;
    dy += dy_off;
    dx += dx_off;
    int total = NC * H * W;
    for (int i = get_global_id(0); i < total; i += get_global_size(0)) {
        int w = i % W;
        int h = (i / W) % H;
        int plane = i / (W * H);
        __global const float *xp = x + (long)plane * H * W;
        __global const float *dyp = dy + (long)plane * OH * OW;
        float grad = 0.0f;
        for (int r = 0; r < KH; r++) {
            int th = h + ph - r * dh;
            if (th < 0 || th % sh != 0 || th / sh >= OH)
                continue;
            int oh = th / sh;
            for (int s = 0; s < KW; s++) {
                int tw = w + pw - s * dw;
                if (tw < 0 || tw % sw != 0 || tw / sw >= OW)
                    continue;
                int ow = tw / sw;
                float g = dyp[oh * OW + ow];
                if (mode == 0) {
                    /* recompute the window's first maximum */
                    int best_pos = -1;
                    float best = 0.0f;
                    for (int rr = 0; rr < KH; rr++) {
                        int ih = oh * sh - ph + rr * dh;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int ss = 0; ss < KW; ss++) {
                            int iw = ow * sw - pw + ss * dw;
                            if (iw < 0 || iw >= W)
                                continue;
                            float v = xp[ih * W + iw];
                            if (best_pos < 0 || v > best) {
                                best = v;
                                best_pos = ih * W + iw;
                            }
                        }
                    }
                    if (best_pos == h * W + w)
                        grad += g;
                } else if (mode == 1) {
                    int count = 0;
                    for (int rr = 0; rr < KH; rr++) {
                        int ih = oh * sh - ph + rr * dh;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int ss = 0; ss < KW; ss++) {
                            int iw = ow * sw - pw + ss * dw;
                            if (iw >= 0 && iw < W)
                                count++;
                        }
                    }
                    grad += g / (float)count;
                } else {
                    grad += g / (float)(KH * KW);
                }
            }
        }
        dx[i] = grad;
    }
}
