/* In-place optimizer steps with PyTorch's semantics (see backend.h). */

__kernel void sgd_update(__global float *w, int w_off, __global const float *g, int g_off,
                         __global float *v, int v_off, int n, float lr, float momentum,
                         float dampening, float weight_decay, int nesterov, int first)
{
    w += w_off;
    g += g_off;
    v += v_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float gp = g[i] + weight_decay * w[i];
        float d = gp;
        if (momentum != 0.0f) {
            float vi = first ? gp : momentum * v[i] + (1.0f - dampening) * gp;
            v[i] = vi;
            d = nesterov ? gp + momentum * vi : vi;
        }
        w[i] -= lr * d;
    }
}

/* bc1 = 1 - beta1^t and bc2 = 1 - beta2^t come from the host. */
__kernel void adam_update(__global float *w, int w_off, __global const float *g, int g_off,
                          __global float *m, int m_off, __global float *v, int v_off, int n,
                          float lr, float beta1, float beta2, float eps, float weight_decay,
                          int decoupled, float bc1, float bc2)
{
    w += w_off;
    g += g_off;
    m += m_off;
    v += v_off;
    for (int i = get_global_id(0); i < n; i += get_global_size(0)) {
        float wi = w[i];
        float gi = g[i];
        if (decoupled)
            wi *= 1.0f - lr * weight_decay;
        else
            gi += weight_decay * wi;
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
    }
}
