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

mlopt_status mlopt_finetune(mlopt_model *m, const mlopt_dataset *ds, const mlopt_finetune_config *cfg,
                            double *train_loss)
{
    int epochs = cfg->epochs > 0 ? cfg->epochs : 1, batch = cfg->batch > 0 ? cfg->batch : 64;
    int count = mlopt_dataset_size(ds);
    if (cfg->limit > 0 && cfg->limit < count)
        count = cfg->limit;
    if (batch > count)
        batch = count;
    if (count <= 0)
        return mlopt_set_error(MLOPT_E_INVALID, "fine-tuning needs training samples");
    mlopt_optim_config oc;
    memset(&oc, 0, sizeof oc);
    oc.kind = MLOPT_OPTIM_SGD;
    oc.lr = cfg->lr > 0 ? cfg->lr : 0.01f;
    oc.momentum = cfg->momentum < 0 ? 0.0f : cfg->momentum > 0 ? cfg->momentum : 0.9f;
    mlopt_schedule sched;
    memset(&sched, 0, sizeof sched);
    sched.kind = MLOPT_SCHED_COSINE;
    sched.base_lr = oc.lr;
    long long steps_per_epoch = count / batch; /* drop the ragged last batch */
    sched.total_steps = steps_per_epoch * epochs;
    mlopt_optimizer *opt;
    TRY(mlopt_optimizer_create(m, &oc, &opt));
    mlopt_trainer *tr = NULL;
    mlopt_status s = mlopt_trainer_create(m, opt, batch, &tr);
    int c, h, w;
    mlopt_dataset_shape(ds, &c, &h, &w);
    float *images = malloc((size_t)batch * c * h * w * sizeof *images);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    int *order = malloc((size_t)mlopt_dataset_size(ds) * sizeof *order);
    if (s == MLOPT_OK && (!images || !labels || !order))
        s = mlopt_set_error(MLOPT_E_NOMEM, "out of host memory");
    double ls = 0;
    long long seen = 0, step = 0;
    for (int e = 0; e < epochs && s == MLOPT_OK; e++) {
        mlopt_dataset_shuffle(ds, cfg->seed * 1000003ull + (uint64_t)e, order);
        /* with a limit, shuffle within the first `count` samples */
        int k = 0;
        for (int i = 0; i < mlopt_dataset_size(ds); i++)
            if (order[i] < count)
                order[k++] = order[i];
        for (long long b = 0; b < steps_per_epoch && s == MLOPT_OK; b++, step++) {
            if (cfg->before_step && (s = cfg->before_step(cfg->user, m, step, sched.total_steps)) != MLOPT_OK)
                break;
            mlopt_dataset_batch(ds, order + b * batch, batch, cfg->mean, cfg->std, NULL, 0, images, labels);
            s = mlopt_trainer_train_step(tr, images, labels, batch, mlopt_schedule_lr(&sched, step));
        }
        double l = 0;
        long long n = 0;
        if (s == MLOPT_OK)
            s = mlopt_trainer_read_metrics(tr, &l, NULL, &n);
        ls += l, seen += n;
    }
    if (s == MLOPT_OK && cfg->before_step)
        s = cfg->before_step(cfg->user, m, step, sched.total_steps);
    if (train_loss)
        *train_loss = seen ? ls / (double)seen : 0;
    free(images), free(labels), free(order);
    mlopt_trainer_destroy(tr);
    mlopt_optimizer_destroy(opt);
    return s;
}
