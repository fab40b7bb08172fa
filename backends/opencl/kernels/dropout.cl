/* Dropout with the keep decision shared by every backend (mlopt_dropout_u24
 * in backend.h), so masks are bit-identical across devices. */

uint dropout_u24(uint seed, uint i)
{
    uint h = i * 0x9E3779B1u ^ seed;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h >> 8;
}

/* threshold = p * 2^24 (exact in float); has_mask = 0 when mask.buf is NULL. */
__kernel void dropout_forward(__global const float *x, int x_off, __global float *y, int y_off,
                              __global float *mask, int mask_off, int has_mask, int n,
                              float threshold, float keep_scale, uint seed)
{
    x += x_off;
    y += y_off;
    mask += mask_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float m = (float)dropout_u24(seed, (uint)i) >= threshold ? keep_scale : 0.0f;
        if (has_mask)
            mask[i] = m;
        y[i] = x[i] * m;
    }
}
