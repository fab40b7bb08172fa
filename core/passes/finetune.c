/* Fine-tuning and evaluation loops shared by the passes and their
 * commands: SGD with momentum and a cosine learning rate, through the
 * ordinary trainer (so masks and every backend work as in `mlopt train`). */
#include <stdlib.h>
#include <string.h>

#include "../error.h"
#include "passes_internal.h"

mlopt_status mlopt_evaluate(mlopt_model *m, const mlopt_dataset *ds, float mean, float std, int batch,
                            double *loss, double *accuracy)
{
    int c, h, w, count = mlopt_dataset_size(ds);
    mlopt_dataset_shape(ds, &c, &h, &w);
    if (batch <= 0)
        batch = 256;
    mlopt_trainer *tr;
    TRY(mlopt_trainer_create(m, NULL, batch, &tr));
    float *images = malloc((size_t)batch * c * h * w * sizeof *images);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    int *order = malloc((size_t)(count ? count : 1) * sizeof *order);
    mlopt_status s = images && labels && order ? MLOPT_OK : mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    for (int i = 0; i < count && order; i++)
        order[i] = i;
    for (int start = 0; s == MLOPT_OK && start < count; start += batch) {
        int n = count - start < batch ? count - start : batch;
        mlopt_dataset_batch(ds, order + start, n, mean, std, NULL, 0, images, labels);
        s = mlopt_trainer_eval_step(tr, images, labels, n, NULL);
    }
    double ls = 0, cr = 0;
    long long k = 0;
    if (s == MLOPT_OK)
        s = mlopt_trainer_read_metrics(tr, &ls, &cr, &k);
    if (loss)
        *loss = k ? ls / (double)k : 0;
    if (accuracy)
        *accuracy = k ? cr / (double)k : 0;
    free(images), free(labels), free(order);
    mlopt_trainer_destroy(tr);
    return s;
}

mlopt_status passes_loop_begin(passes_loop *L, mlopt_model *m, const mlopt_dataset *ds,
                               const mlopt_finetune_config *cfg, const char *what)
{
    memset(L, 0, sizeof *L);
    L->epochs = cfg->epochs > 0 ? cfg->epochs : 1;
    L->batch = cfg->batch > 0 ? cfg->batch : 64;
    L->count = mlopt_dataset_size(ds);
    if (cfg->limit > 0 && cfg->limit < L->count)
        L->count = cfg->limit;
    if (L->batch > L->count)
        L->batch = L->count;
    if (L->count <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "%s needs training samples", what);
    mlopt_optim_config oc;
    memset(&oc, 0, sizeof oc);
    oc.kind = MLOPT_OPTIM_SGD;
    oc.lr = cfg->lr > 0 ? cfg->lr : 0.01f;
    oc.momentum = cfg->momentum < 0 ? 0.0f : cfg->momentum > 0 ? cfg->momentum : 0.9f;
    L->sched.kind = MLOPT_SCHED_COSINE;
    L->sched.base_lr = oc.lr;
    L->steps_per_epoch = L->count / L->batch; /* drop the ragged last batch */
    L->sched.total_steps = L->steps_per_epoch * L->epochs;
    TRY(mlopt_optimizer_create(m, &oc, &L->opt));
    int c, h, w;
    mlopt_dataset_shape(ds, &c, &h, &w);
    L->images = malloc((size_t)L->batch * c * h * w * sizeof *L->images);
    L->labels = malloc((size_t)L->batch * sizeof *L->labels);
    L->order = malloc((size_t)mlopt_dataset_size(ds) * sizeof *L->order);
    if (!L->images || !L->labels || !L->order) {
        passes_loop_end(L);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    }
    return MLOPT_OK;
}

void passes_loop_epoch(passes_loop *L, const mlopt_dataset *ds, const mlopt_finetune_config *cfg, int e)
{
    mlopt_dataset_shuffle(ds, cfg->seed * 1000003ull + (uint64_t)e, L->order);
    /* with a limit, shuffle within the first `count` samples */
    int k = 0;
    for (int i = 0; i < mlopt_dataset_size(ds); i++)
        if (L->order[i] < L->count)
            L->order[k++] = L->order[i];
}

void passes_loop_batch(passes_loop *L, const mlopt_dataset *ds, const mlopt_finetune_config *cfg, long long b)
{
    mlopt_dataset_batch(ds, L->order + b * L->batch, L->batch, cfg->mean, cfg->std, NULL, 0, L->images, L->labels);
}

void passes_loop_end(passes_loop *L)
{
    free(L->images), free(L->labels), free(L->order);
    mlopt_optimizer_destroy(L->opt);
    memset(L, 0, sizeof *L);
}

mlopt_status mlopt_finetune(mlopt_model *m, const mlopt_dataset *ds, const mlopt_finetune_config *cfg,
                            double *train_loss)
{
    passes_loop L;
    TRY(passes_loop_begin(&L, m, ds, cfg, "fine-tuning"));
    mlopt_trainer *tr = NULL;
    mlopt_status s = mlopt_trainer_create(m, L.opt, L.batch, &tr);
    double ls = 0;
    long long seen = 0, step = 0;
    for (int e = 0; e < L.epochs && s == MLOPT_OK; e++) {
        passes_loop_epoch(&L, ds, cfg, e);
        for (long long b = 0; b < L.steps_per_epoch && s == MLOPT_OK; b++, step++) {
            if (cfg->before_step && (s = cfg->before_step(cfg->user, m, step, L.sched.total_steps)) != MLOPT_OK)
                break;
            passes_loop_batch(&L, ds, cfg, b);
            s = mlopt_trainer_train_step(tr, L.images, L.labels, L.batch, mlopt_schedule_lr(&L.sched, step));
        }
        double l = 0;
        long long n = 0;
        if (s == MLOPT_OK)
            s = mlopt_trainer_read_metrics(tr, &l, NULL, &n);
        ls += l, seen += n;
    }
    if (s == MLOPT_OK && cfg->before_step)
        s = cfg->before_step(cfg->user, m, step, L.sched.total_steps);
    if (train_loss)
        *train_loss = seen ? ls / (double)seen : 0;
    mlopt_trainer_destroy(tr);
    passes_loop_end(&L);
    return s;
}
