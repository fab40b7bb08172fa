/* The trial runner: build a model from specs, train it for N epochs and
 * report train and validation metrics after each epoch to a callback
 * that may stop it (early stopping by a scheduler). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "mlopt/search.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static mlopt_status evaluate_with(mlopt_trainer *tr, const mlopt_dataset *ds, int batch, float mean, float std,
                                  float *images, int32_t *labels, int *order, double *loss, double *acc)
{
    int count = mlopt_dataset_size(ds);
    for (int i = 0; i < count; i++)
        order[i] = i;
    mlopt_status s = mlopt_trainer_read_metrics(tr, NULL, NULL, NULL); /* start from zero */
    if (s == MLOPT_E_NONFINITE)
        s = MLOPT_OK;
    for (int start = 0; s == MLOPT_OK && start < count; start += batch) {
        int n = count - start < batch ? count - start : batch;
        mlopt_dataset_batch(ds, order + start, n, mean, std, NULL, 0, images, labels);
        s = mlopt_trainer_eval_step(tr, images, labels, n, NULL);
    }
    double loss_sum = 0, correct = 0;
    long long samples = 0;
    if (s == MLOPT_OK)
        s = mlopt_trainer_read_metrics(tr, &loss_sum, &correct, &samples);
    if (s == MLOPT_E_NONFINITE) {
        /* a diverged model: report it as such rather than failing */
        *loss = INFINITY;
        *acc = samples ? correct / (double)samples : 0;
        return MLOPT_OK;
    }
    if (s != MLOPT_OK)
        return s;
    *loss = samples ? loss_sum / (double)samples : 0;
    *acc = samples ? correct / (double)samples : 0;
    return MLOPT_OK;
}

typedef struct buffers {
    float *images;
    int32_t *labels;
    int *order;
} buffers;

static mlopt_status buffers_alloc(buffers *b, const mlopt_dataset *ds, int batch, int count)
{
    int c, h, w;
    mlopt_dataset_shape(ds, &c, &h, &w);
    b->images = malloc((size_t)batch * c * h * w * sizeof *b->images);
    b->labels = malloc((size_t)batch * sizeof *b->labels);
    b->order = malloc((size_t)(count > 0 ? count : 1) * sizeof *b->order);
    if (!b->images || !b->labels || !b->order) {
        free(b->images), free(b->labels), free(b->order);
        return mlopt_set_error(MLOPT_E_NOMEM, "trial: out of host memory");
    }
    return MLOPT_OK;
}

static void buffers_free(buffers *b)
{
    free(b->images), free(b->labels), free(b->order);
}

mlopt_status mlopt_search_evaluate(mlopt_model *m, const mlopt_dataset *ds, int batch, float mean, float std,
                            double *loss, double *acc)
{
    mlopt_trainer *tr = NULL;
    buffers b;
    mlopt_status s = mlopt_trainer_create(m, NULL, batch, &tr);
    if (s != MLOPT_OK)
        return s;
    if ((s = buffers_alloc(&b, ds, batch, mlopt_dataset_size(ds))) == MLOPT_OK) {
        s = evaluate_with(tr, ds, batch, mean, std, b.images, b.labels, b.order, loss, acc);
        buffers_free(&b);
    }
    mlopt_trainer_destroy(tr);
    return s;
}

void mlopt_trial_result_free(mlopt_trial_result *r)
{
    mlopt_optimizer_destroy(r->optimizer);
    mlopt_model_destroy(r->model);
    r->optimizer = NULL;
    r->model = NULL;
}

mlopt_status mlopt_trial_run(mlopt_context *ctx, const mlopt_trial_config *cfg, mlopt_trial_result *out)
{
    memset(out, 0, sizeof *out);
    if (!cfg->train || !cfg->val || cfg->epochs < 1 || cfg->batch < 1 || !cfg->specs)
        return mlopt_set_error(MLOPT_E_INVALID, "trial: needs specs, train and val datasets, epochs >= 1, batch >= 1");
    int c, h, w;
    mlopt_dataset_shape(cfg->train, &c, &h, &w);
    int count = mlopt_dataset_size(cfg->train), vcount = mlopt_dataset_size(cfg->val);
    mlopt_model *m = NULL;
    mlopt_optimizer *opt = NULL;
    mlopt_trainer *tr = NULL;
    buffers b = { 0 };
    mlopt_status s = mlopt_model_from_specs(ctx, c, h, w, cfg->specs, cfg->nspecs, cfg->seed, &m);
    if (s != MLOPT_OK)
        return s;
    if (mlopt_model_num_classes(m) < mlopt_dataset_classes(cfg->train)) {
        mlopt_model_destroy(m);
        return mlopt_set_error(MLOPT_E_INVALID, "trial: the model has %d outputs but the data has %d classes",
                               mlopt_model_num_classes(m), mlopt_dataset_classes(cfg->train));
    }
    if ((s = mlopt_optimizer_create(m, &cfg->optim, &opt)) != MLOPT_OK ||
        (s = mlopt_trainer_create(m, opt, cfg->batch, &tr)) != MLOPT_OK ||
        (s = buffers_alloc(&b, cfg->train, cfg->batch, count > vcount ? count : vcount)) != MLOPT_OK)
        goto fail;
    long long steps_per_epoch = (count + cfg->batch - 1) / cfg->batch;
    mlopt_schedule sched;
    memset(&sched, 0, sizeof sched);
    sched.kind = cfg->schedule;
    sched.base_lr = cfg->optim.lr;
    sched.total_steps = steps_per_epoch * (cfg->schedule_epochs > 0 ? cfg->schedule_epochs : cfg->epochs);
    sched.warmup_steps = (long long)(cfg->warmup_epochs * (float)steps_per_epoch);
    /* step schedule: decay by 10x at 1/2 and 3/4 of the run, roughly */
    sched.step_size = sched.total_steps / 3 > 0 ? sched.total_steps / 3 : 1;
    sched.gamma = 0.1f;
    for (int epoch = 0; epoch < cfg->epochs; epoch++) {
        double t0 = seconds_now();
        mlopt_dataset_shuffle(cfg->train, cfg->seed * 1000003ull + (uint64_t)epoch, b.order);
        for (long long k = 0; k < steps_per_epoch; k++) {
            int start = (int)(k * cfg->batch);
            int n = count - start < cfg->batch ? count - start : cfg->batch;
            mlopt_augment aug = { cfg->augment ? 2 : 0, cfg->augment };
            uint64_t aug_seed = (cfg->seed << 32) ^ ((uint64_t)epoch << 20) ^ (uint64_t)k;
            mlopt_dataset_batch(cfg->train, b.order + start, n, cfg->mean, cfg->std, &aug, aug_seed, b.images,
                                b.labels);
            float lr = mlopt_schedule_lr(&sched, mlopt_optimizer_steps(opt));
            if ((s = mlopt_trainer_train_step(tr, b.images, b.labels, n, lr)) != MLOPT_OK)
                goto fail;
        }
        double loss_sum, correct;
        long long samples;
        if ((s = mlopt_trainer_read_metrics(tr, &loss_sum, &correct, &samples)) != MLOPT_OK)
            goto fail; /* MLOPT_E_NONFINITE: the run diverged */
        mlopt_epoch_metrics em = { epoch + 1, samples ? loss_sum / samples : 0, samples ? correct / samples : 0,
                                   0, 0, 0 };
        if ((s = evaluate_with(tr, cfg->val, cfg->batch, cfg->mean, cfg->std, b.images, b.labels, b.order,
                               &em.val_loss, &em.val_acc)) != MLOPT_OK)
            goto fail;
        em.seconds = seconds_now() - t0;
        out->epochs_run = epoch + 1;
        out->last = em;
        if (cfg->on_epoch) {
            int r = cfg->on_epoch(cfg->user, &em);
            if (r == 1) {
                out->pruned = 1;
                break;
            }
            if (r != 0) {
                s = mlopt_set_error(MLOPT_E_INVALID, "trial: stopped by its epoch callback (%d)", r);
                goto fail;
            }
        }
    }
    mlopt_trainer_destroy(tr);
    buffers_free(&b);
    out->model = m;
    out->optimizer = opt;
    return MLOPT_OK;
fail:
    mlopt_trainer_destroy(tr);
    mlopt_optimizer_destroy(opt);
    mlopt_model_destroy(m);
    buffers_free(&b);
    return s;
}
