/* Elementwise activations (mlopt_act codes) and their derivatives. */

#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_ELU 3
#define ACT_GELU 4
#define ACT_SILU 5
#define ACT_TANH 6
#define ACT_SIGMOID 7
#define ACT_HARD_SIGMOID 8
#define ACT_HARD_SWISH 9

float act_apply(int act, float v, float alpha, float beta)
{
    switch (act) {
    case ACT_RELU: return v > 0.0f ? v : 0.0f;
    case ACT_LEAKY_RELU: return v > 0.0f ? v : alpha * v;
    case ACT_ELU: return v > 0.0f ? v : alpha * (exp(v) - 1.0f);
    case ACT_GELU: return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    case ACT_SILU: return v / (1.0f + exp(-v));
    case ACT_TANH: return tanh(v);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    case ACT_HARD_SIGMOID: return isnan(v) ? v : fmax(0.0f, fmin(1.0f, alpha * v + beta));
    case ACT_HARD_SWISH: return v * fmax(0.0f, fmin(1.0f, v / 6.0f + 0.5f));
    default: return v;
    }
}

float act_derivative(int act, float v, float out, float alpha, float beta)
{
    switch (act) {
    case ACT_RELU: return v > 0.0f ? 1.0f : 0.0f;
    case ACT_LEAKY_RELU: return v > 0.0f ? 1.0f : alpha;
    case ACT_ELU: return v > 0.0f ? 1.0f : alpha * exp(v);
    case ACT_GELU:
        return 0.5f * (1.0f + erf(v * 0.70710678118654752f)) +
               v * 0.39894228040143268f * exp(-0.5f * v * v);
    case ACT_SILU: {
        float sg = 1.0f / (1.0f + exp(-v));
        return sg * (1.0f + v * (1.0f - sg));
    }
    case ACT_TANH: return 1.0f - out * out;
    case ACT_SIGMOID: return out * (1.0f - out);
    case ACT_HARD_SIGMOID: {
        float t = alpha * v + beta;
        return (t > 0.0f && t < 1.0f) ? alpha : 0.0f;
    }
    case ACT_HARD_SWISH:
        return v < -3.0f ? 0.0f : (v > 3.0f ? 1.0f : v / 3.0f + 0.5f);
    default: return 1.0f;
    }
}

__kernel void act_forward(__global const float *x, int x_off, __global float *y, int y_off,
                          int n, int act, float alpha, float beta)
{
    x += x_off;
    y += y_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        y[i] = act_apply(act, x[i], alpha, beta);
}

/* dx may alias dy; y is read only by the activations that prefer it. */
__kernel void act_backward(__global const float *x, int x_off, __global const float *y,
                           int y_off, __global const float *dy, int dy_off, __global float *dx,
                           int dx_off, int n, int act, float alpha, float beta)
{
    x += x_off;
    y += y_off;
    dy += dy_off;
    dx += dx_off;
    int uses_y = act == ACT_TANH || act == ACT_SIGMOID;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float v = x[i];
        float out = uses_y ? y[i] : 0.0f;
        dx[i] = dy[i] * act_derivative(act, v, out, alpha, beta);
    }
}
