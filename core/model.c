/* A model is a sequence of layers whose shapes are inferred from the input
 * shape.  Forward/backward walk the sequence, calling each layer's ops. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

mlopt_status mlopt_model_create(mlopt_context *ctx, int in_c, int in_h, int in_w, mlopt_model **out)
{
    *out = NULL;
    if (in_c <= 0 || in_h <= 0 || in_w <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "model input shape %dx%dx%d must be positive", in_c, in_h, in_w);
    mlopt_model *m = calloc(1, sizeof *m);
    if (!m)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    m->ctx = ctx;
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    *out = m;
    return MLOPT_OK;
}

void mlopt_model_release_activations(mlopt_model *m)
{
    if (m->acts)
        for (int i = 0; i < m->nlayers; i++) {
            mlopt_tensor_destroy(m->acts[i]);
            m->acts[i] = NULL;
        }
    free(m->acts);
    m->acts = NULL;
    m->act_batch = 0;
    for (int k = 0; k < 2; k++) {
        mlopt_tensor_destroy(m->grad[k]);
        m->grad[k] = NULL;
    }
    m->grad_elems = 0;
    m->last_batch = 0;
}

void mlopt_model_destroy(mlopt_model *m)
{
    if (!m)
        return;
    mlopt_model_release_activations(m);
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        for (int p = 0; p < L->nparams; p++) {
            mlopt_tensor_destroy(L->params[p].value);
            mlopt_tensor_destroy(L->params[p].grad);
            mlopt_tensor_destroy(L->params[p].mask);
        }
        for (int s = 0; s < 2; s++)
            mlopt_tensor_destroy(L->scratch[s]);
    }
    free(m->layers);
    free(m);
}

static const char *default_prefix(mlopt_layer_kind k)
{
    switch (k) {
    case MLOPT_LAYER_CONV2D: return "conv";
    case MLOPT_LAYER_MAXPOOL2D: return "pool";
    case MLOPT_LAYER_AVGPOOL2D: return "avgpool";
    case MLOPT_LAYER_LINEAR: return "fc";
    case MLOPT_LAYER_FLATTEN: return "flatten";
    case MLOPT_LAYER_BATCHNORM: return "bn";
    case MLOPT_LAYER_DROPOUT: return "dropout";
    case MLOPT_LAYER_ACTIVATION: return "act";
    case MLOPT_LAYER_KIND_COUNT_: break;
    }
    return "layer";
}

mlopt_status mlopt_model_add(mlopt_model *m, const mlopt_layer_spec *spec)
{
    if (m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "cannot add layers after mlopt_model_init");
    const mlopt_layer_ops *ops = mlopt_layer_ops_for(spec->kind);
    if (!ops)
        return mlopt_set_error(MLOPT_E_INVALID, "unknown layer kind %d", (int)spec->kind);
    if (spec->kind == MLOPT_LAYER_BATCHNORM && m->nlayers == 0)
        return mlopt_set_error(MLOPT_E_INVALID, "batch-norm cannot be the first layer; normalize the input data instead");
    if (m->nlayers == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        mlopt_layer *l = realloc(m->layers, (size_t)cap * sizeof *l);
        if (!l)
            return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
        m->layers = l;
        m->cap = cap;
    }
    mlopt_layer *L = &m->layers[m->nlayers];
    memset(L, 0, sizeof *L);
    L->spec = *spec;
    L->ops = ops;
    m->kind_count[spec->kind]++;
    if (!L->spec.name[0]) {
        if (spec->kind == MLOPT_LAYER_FLATTEN && m->kind_count[spec->kind] == 1)
            snprintf(L->spec.name, sizeof L->spec.name, "flatten");
        else
            snprintf(L->spec.name, sizeof L->spec.name, "%s%d", default_prefix(spec->kind),
                     m->kind_count[spec->kind]);
    }
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].spec.name, L->spec.name) == 0)
            return mlopt_set_error(MLOPT_E_INVALID, "duplicate layer name '%s'", L->spec.name);
    if (m->nlayers == 0) {
        L->in_ndim = 3;
        L->in[0] = m->in_c;
        L->in[1] = m->in_h;
        L->in[2] = m->in_w;
    } else {
        const mlopt_layer *P = &m->layers[m->nlayers - 1];
        L->in_ndim = P->out_ndim;
        memcpy(L->in, P->out, sizeof L->in);
    }
    if (L->in_ndim == 1)
        L->in[1] = L->in[2] = 1;
    mlopt_status s = ops->infer(L);
    if (s != MLOPT_OK)
        return s;
    m->nlayers++;
    return MLOPT_OK;
}

static float uniform_pm(mlopt_rng *r, float bound)
{
    return (float)((2.0 * mlopt_rng_double(r) - 1.0) * bound);
}

static mlopt_status init_param(mlopt_model *m, mlopt_param *p, uint64_t seed)
{
    TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, p->ndim, p->shape, &p->value));
    if (p->trainable) {
        TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, p->ndim, p->shape, &p->grad));
        TRY(mlopt_tensor_fill(p->grad, 0.0f));
    }
    size_t n = mlopt_tensor_numel(p->value);
    float *host = malloc(n * sizeof *host);
    if (!host)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    mlopt_rng r;
    mlopt_rng_seed(&r, seed);
    /* PyTorch defaults: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in)
     * for weights; biases draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    float bound = p->fan_in > 0 ? 1.0f / sqrtf((float)p->fan_in) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        switch (p->init) {
        case INIT_KAIMING_UNIFORM:
        case INIT_BIAS_UNIFORM: host[i] = uniform_pm(&r, bound); break;
        case INIT_ONES: host[i] = 1.0f; break;
        case INIT_ZEROS: host[i] = 0.0f; break;
        }
    }
    mlopt_status s = mlopt_tensor_upload(p->value, host, n * sizeof *host);
    free(host);
    return s;
}

mlopt_status mlopt_model_init(mlopt_model *m, uint64_t seed)
{
    if (m->nlayers == 0)
        return mlopt_set_error(MLOPT_E_INVALID, "the model has no layers");
    if (m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "model already initialized");
    m->seed = seed;
    int index = 0;
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        L->seed = (uint32_t)mlopt_hash64(seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(i + 1)));
        for (int p = 0; p < L->nparams; p++, index++)
            TRY(init_param(m, &L->params[p], mlopt_hash64(seed + 0x9E3779B97F4A7C15ull * (uint64_t)(index + 1))));
    }
    m->initialized = 1;
    return MLOPT_OK;
}

int mlopt_model_layer_count(const mlopt_model *m) { return m->nlayers; }
const mlopt_layer_spec *mlopt_model_layer_spec(const mlopt_model *m, int i)
{
    return i >= 0 && i < m->nlayers ? &m->layers[i].spec : NULL;
}

void mlopt_model_layer_shape(const mlopt_model *m, int i, int *ndim, int shape[3])
{
    const mlopt_layer *L = &m->layers[i];
    *ndim = L->out_ndim;
    memcpy(shape, L->out, 3 * sizeof *shape);
}

int mlopt_model_num_classes(const mlopt_model *m)
{
    if (m->nlayers == 0)
        return 0;
    const mlopt_layer *L = &m->layers[m->nlayers - 1];
    return (int)mlopt_shape_numel(L->out_ndim, L->out);
}

void mlopt_model_layer_stats(const mlopt_model *m, int i, mlopt_layer_stats *out)
{
    const mlopt_layer *L = &m->layers[i];
    memset(out, 0, sizeof *out);
    for (int p = 0; p < L->nparams; p++)
        if (L->params[p].trainable)
            out->params += mlopt_shape_numel(L->params[p].ndim, L->params[p].shape);
    out->flops = L->ops->flops(L);
    out->activation_bytes = L->ops->aliases_input ? 0 : mlopt_shape_numel(L->out_ndim, L->out) * sizeof(float);
}

int mlopt_model_param_count(const mlopt_model *m)
{
    int n = 0;
    for (int i = 0; i < m->nlayers; i++)
        n += m->layers[i].nparams;
    return n;
}

mlopt_param *mlopt_model_param_at(mlopt_model *m, int index)
{
    for (int i = 0; i < m->nlayers; i++) {
        if (index < m->layers[i].nparams)
            return &m->layers[i].params[index];
        index -= m->layers[i].nparams;
    }
    return NULL;
}

mlopt_tensor *mlopt_model_param(mlopt_model *m, int i, const char **name, int *trainable)
{
    mlopt_param *p = mlopt_model_param_at(m, i);
    if (!p)
        return NULL;
    if (name)
        *name = p->name;
    if (trainable)
        *trainable = p->trainable;
    return p->value;
}

mlopt_tensor *mlopt_model_find_param(mlopt_model *m, const char *name)
{
    int n = mlopt_model_param_count(m);
    for (int i = 0; i < n; i++) {
        mlopt_param *p = mlopt_model_param_at(m, i);
        if (strcmp(p->name, name) == 0)
            return p->value;
    }
    mlopt_set_error(MLOPT_E_NOT_FOUND, "the model has no parameter named '%s'", name);
    return NULL;
}

mlopt_tensor *mlopt_model_grad(mlopt_model *m, int i)
{
    mlopt_param *p = mlopt_model_param_at(m, i);
    return p ? p->grad : NULL;
}

mlopt_ref mlopt_model_output_ref(const mlopt_model *m, int i)
{
    while (i >= 0 && m->layers[i].ops->aliases_input)
        i--;
    return i < 0 ? m->last_input : m->acts[i]->ref;
}

static mlopt_status ensure_activations(mlopt_model *m, int batch)
{
    if (m->acts && m->act_batch >= batch)
        return MLOPT_OK;
    mlopt_model_release_activations(m);
    m->acts = calloc((size_t)m->nlayers, sizeof *m->acts);
    if (!m->acts)
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    size_t max_in = 0;
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        size_t in = mlopt_shape_numel(L->in_ndim, L->in);
        if (in > max_in)
            max_in = in;
        if (L->ops->aliases_input)
            continue;
        int shape[2] = { batch, (int)mlopt_shape_numel(L->out_ndim, L->out) };
        TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, 2, shape, &m->acts[i]));
    }
    for (int k = 0; k < 2; k++) {
        int shape[2] = { batch, (int)max_in };
        TRY(mlopt_tensor_create(m->ctx, MLOPT_F32, 2, shape, &m->grad[k]));
    }
    m->grad_elems = max_in * (size_t)batch;
    m->act_batch = batch;
    return MLOPT_OK;
}

mlopt_status mlopt_model_forward(mlopt_model *m, const mlopt_tensor *x, int training, mlopt_tensor **logits)
{
    if (!m->initialized)
        return mlopt_set_error(MLOPT_E_INVALID, "model not initialized (call mlopt_model_init or load a checkpoint)");
    if (x->dtype != MLOPT_F32 || x->ndim != 4 || x->shape[1] != m->in_c || x->shape[2] != m->in_h ||
        x->shape[3] != m->in_w)
        return mlopt_set_error(MLOPT_E_INVALID,
                               "input batch has shape [%d,%d,%d,%d] but the model expects [n,%d,%d,%d] float32",
                               x->shape[0], x->ndim > 1 ? x->shape[1] : 0, x->ndim > 2 ? x->shape[2] : 0,
                               x->ndim > 3 ? x->shape[3] : 0, m->in_c, m->in_h, m->in_w);
    int batch = x->shape[0];
    TRY(ensure_activations(m, batch));
    m->last_input = x->ref;
    m->last_batch = batch;
    m->last_training = training;
    m->last_swap = mlopt_model_swap_allowed(m);
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer *L = &m->layers[i];
        mlopt_layer_io io = { .batch = batch, .training = training };
        L->step = m->step;
        io.x = mlopt_model_output_ref(m, i - 1);
        if (m->last_swap && mlopt_model_swaps_relu_pool(m, i)) {
            /* ReLU i and max-pool i + 1 as pool then ReLU; acts[i] stays unwritten */
            m->layers[i + 1].step = m->step;
            io.y = m->acts[i + 1]->ref;
            TRY(mlopt_model_relu_pool_forward(m, i, &io));
            i++;
            continue;
        }
        io.y = L->ops->aliases_input ? io.x : m->acts[i]->ref;
        TRY(L->ops->forward(L, m->ctx, &io));
        if (m->hook && m->hook->after_forward && !L->ops->aliases_input)
            TRY(m->hook->after_forward(m->hook->user, m, i, batch, training, io.y));
    }
    const mlopt_layer *last = &m->layers[m->nlayers - 1];
    memset(&m->logits, 0, sizeof m->logits);
    m->logits.ctx = m->ctx;
    m->logits.dtype = MLOPT_F32;
    m->logits.ndim = 2;
    m->logits.shape[0] = batch;
    m->logits.shape[1] = (int)mlopt_shape_numel(last->out_ndim, last->out);
    m->logits.ref = mlopt_model_output_ref(m, m->nlayers - 1);
    *logits = &m->logits;
    return MLOPT_OK;
}

mlopt_status mlopt_model_backward(mlopt_model *m, const mlopt_tensor *dlogits)
{
    if (!m->last_batch)
        return mlopt_set_error(MLOPT_E_INVALID, "backward without a forward");
    if ((int)mlopt_tensor_numel(dlogits) < m->last_batch * mlopt_model_num_classes(m))
        return mlopt_set_error(MLOPT_E_INVALID, "output gradient is smaller than the last forward's output");
    mlopt_ref dy = dlogits->ref;
    int k = 0;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        mlopt_layer *L = &m->layers[i];
        if (L->ops->aliases_input)
            continue; /* the gradient passes through unchanged */
        mlopt_layer_io io = { .batch = m->last_batch, .training = m->last_training };
        io.x = mlopt_model_output_ref(m, i - 1);
        io.y = m->acts[i]->ref;
        io.dy = dy;
        if (m->hook && m->hook->before_backward)
            TRY(m->hook->before_backward(m->hook->user, m, i, m->last_batch, dy));
        /* Input gradients are needed only if some earlier layer has work to do. */
        int need_dx = 0;
        for (int j = 0; j < i; j++)
            need_dx |= !m->layers[j].ops->aliases_input;
        /* batchnorm_backward always writes dx (the ABI has no optional dx
         * there): give it scratch even after a flatten-only prefix. */
        if (m->last_swap && mlopt_model_swaps_relu_pool(m, i - 1)) {
            /* the swapped pair: the masked pooled gradient in grad[k], the
             * ReLU input's gradient in grad[k ^ 1] (dy, if it lives there,
             * is read before it is overwritten) */
            io.x = mlopt_model_output_ref(m, i - 2);
            io.dx = m->grad[k ^ 1]->ref;
            TRY(mlopt_model_relu_pool_backward(m, i - 1, &io, m->grad[k]->ref));
            dy = io.dx;
            i--; /* the ReLU's backward is done */
            continue;
        }
        io.dx = need_dx || L->spec.kind == MLOPT_LAYER_BATCHNORM ? m->grad[k]->ref : mlopt_null_ref();
        TRY(L->ops->backward(L, m->ctx, &io));
        if (need_dx) {
            dy = io.dx;
            k ^= 1;
        }
    }
    return MLOPT_OK;
}
