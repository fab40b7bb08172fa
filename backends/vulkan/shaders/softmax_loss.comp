#version 450
// Per-row loss (mode 0: hard-label cross-entropy, aux = int32 labels;
// mode 1: KL(p_t || p_s), aux = target logits) and optional dlogits.  One
// workgroup per row writes row_loss[row]; a single-workgroup reduction then
// adds the rows into loss_sum, so the accumulation is race-free.
#include "common.glsl"
layout(binding = 0) readonly buffer BufZ { float logits[]; };
layout(binding = 1) readonly buffer BufAux { uint aux[]; };
layout(binding = 2) writeonly buffer BufL { float row_loss[]; };
layout(binding = 3) writeonly buffer BufD { float dlogits[]; };
layout(push_constant) uniform Params {
    uint off_z, off_aux, off_l, off_d, rows, cols;
    float inv_temp, grad_scale;
    uint mode, has_grad;
} p;
shared float red[WG];

// max and log-sum-exp of v * inv_temp over the row at base (binding 0 or aux)
#define ROW_LSE(LOAD, M_OUT, LSE_OUT)                                 \
    {                                                                 \
        float m_ = -3.402823466e38;                                   \
        for (uint j = LID; j < p.cols; j += WG)                       \
            m_ = max(m_, LOAD(j) * p.inv_temp);                       \
        red[LID] = m_;                                                \
        WG_REDUCE(red, op_max)                                        \
        M_OUT = red[0];                                               \
        barrier();                                                    \
        float s_ = 0.0;                                               \
        for (uint j = LID; j < p.cols; j += WG)                       \
            s_ += exp(LOAD(j) * p.inv_temp - M_OUT);                  \
        red[LID] = s_;                                                \
        WG_REDUCE(red, op_add)                                        \
        LSE_OUT = log(red[0]);                                        \
        barrier();                                                    \
    }

uint zbase, tbase;
float load_z(uint j) { return logits[zbase + j]; }
float load_t(uint j) { return uintBitsToFloat(aux[tbase + j]); }

void main()
{
    uint row = row_index();
    if (row >= p.rows)
        return;
    zbase = p.off_z + row * p.cols;
    tbase = p.off_aux + row * p.cols;
    uint dbase = p.off_d + row * p.cols;
    float ms, lses;
    ROW_LSE(load_z, ms, lses)
    float scale = p.inv_temp * p.grad_scale;
    if (p.mode == 0u) {
        int label = int(aux[p.off_aux + row]);
        bool valid = label >= 0 && label < int(p.cols);
        if (LID == 0u)
            row_loss[p.off_l + row] =
                valid ? lses - (load_z(uint(label)) * p.inv_temp - ms) : 0.0;
        if (p.has_grad != 0u)
            for (uint j = LID; j < p.cols; j += WG) {
                float ps = exp(load_z(j) * p.inv_temp - ms - lses);
                dlogits[dbase + j] = (ps - (int(j) == label ? 1.0 : 0.0)) * scale;
            }
        return;
    }
    float mt, lset;
    ROW_LSE(load_t, mt, lset)
    float kl = 0.0;
    for (uint j = LID; j < p.cols; j += WG) {
        float lt = load_t(j) * p.inv_temp - mt - lset;
        float ls = load_z(j) * p.inv_temp - ms - lses;
        float pt = exp(lt);
        if (pt > 0.0)
            kl += pt * (lt - ls);
        if (p.has_grad != 0u)
            dlogits[dbase + j] = (exp(ls) - pt) * scale;
    }
    red[LID] = kl;
    WG_REDUCE(red, op_add)
    if (LID == 0u)
        row_loss[p.off_l + row] = red[0];
}
