/* A whole trial as a driver runs it: context, cost and constraints,
 * training with journal records, test evaluation, checkpoint. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "mlopt/search.h"

static int epoch_hook(void *user, const mlopt_epoch_metrics *m)
{
    int r = mlopt_driver_epoch(user, m);
    return r < 0 ? 2 : r;
}

mlopt_status mlopt_trial_execute(const mlopt_trial_env *env, const mlopt_trial_config *cfg, mlopt_driver_trial *t)
{
    mlopt_context *ctx = NULL;
    mlopt_model *probe = NULL;
    mlopt_trial_result res = { 0 };
    mlopt_status s = mlopt_context_create(env->backend, env->device, &ctx);
    if (s != MLOPT_OK)
        return s;
    if (t->threads > 0 && (s = mlopt_context_set_threads(ctx, t->threads)) != MLOPT_OK)
        goto out;
    int c, h, w;
    mlopt_dataset_shape(env->train, &c, &h, &w);
    /* Cost first: a model that breaks a constraint is never trained. */
    if ((s = mlopt_model_from_specs(ctx, c, h, w, cfg->specs, cfg->nspecs, cfg->seed, &probe)) != MLOPT_OK)
        goto out;
    mlopt_model_cost(probe, &t->params, &t->flops);
    if (env->measure_latency || env->max_latency_ms > 0) {
        if ((s = mlopt_measure_latency(ctx, probe, env->latency_batch > 0 ? env->latency_batch : 256, c, h, w,
                                       env->latency_repeats > 0 ? env->latency_repeats : 10, &t->latency_ms)) !=
            MLOPT_OK)
            goto out;
    }
    mlopt_model_destroy(probe);
    probe = NULL;
    if (env->max_params > 0 && t->params > env->max_params) {
        snprintf(t->reason, sizeof t->reason, "constraint: %.0f params > --max-params %.0f", t->params,
                 env->max_params);
    } else if (env->max_flops > 0 && t->flops > env->max_flops) {
        snprintf(t->reason, sizeof t->reason, "constraint: %.0f FLOPs > --max-flops %.0f", t->flops, env->max_flops);
    } else if (env->max_latency_ms > 0 && t->latency_ms > env->max_latency_ms) {
        snprintf(t->reason, sizeof t->reason, "constraint: latency %.3f ms > --max-latency-ms %g", t->latency_ms,
                 env->max_latency_ms);
    }
    if (t->reason[0]) {
        t->status = MLOPT_TRIAL_PRUNED;
        goto out;
    }
    mlopt_trial_config tc = *cfg;
    tc.train = env->train;
    tc.val = env->val;
    tc.mean = env->mean;
    tc.std = env->std;
    tc.on_epoch = epoch_hook;
    tc.user = t;
    if ((s = mlopt_trial_run(ctx, &tc, &res)) != MLOPT_OK)
        goto out;
    t->epochs = res.epochs_run;
    t->val_acc = res.last.val_acc;
    if (res.pruned) {
        t->status = MLOPT_TRIAL_PRUNED;
        if (!t->reason[0]) /* the driver names a time-budget stop itself */
            snprintf(t->reason, sizeof t->reason, "early-stopped by ASHA at epoch %d", res.epochs_run);
        goto out;
    }
    t->status = MLOPT_TRIAL_COMPLETED;
    if (env->test) {
        double loss;
        if ((s = mlopt_search_evaluate(res.model, env->test, cfg->batch > 256 ? cfg->batch : 256, env->mean, env->std,
                                       &loss, &t->test_acc)) != MLOPT_OK)
            goto out;
    }
    if (env->checkpoint_dir) {
        if (mkdir(env->checkpoint_dir, 0755) != 0 && errno != EEXIST) {
            s = mlopt_set_error(MLOPT_E_IO, "cannot create %s: %s", env->checkpoint_dir, strerror(errno));
            goto out;
        }
        snprintf(t->checkpoint, sizeof t->checkpoint, "%s/trial-%d.safetensors", env->checkpoint_dir, t->id);
        char norm[64], id[32], va[32];
        snprintf(norm, sizeof norm, "%.9g,%.9g", (double)env->mean, (double)env->std);
        snprintf(id, sizeof id, "%d", t->id);
        snprintf(va, sizeof va, "%.6f", t->val_acc);
        mlopt_meta meta[] = { { "train.norm", norm }, { "search.trial", id }, { "search.params", t->params_json },
                              { "search.spec", t->spec }, { "search.val_acc", va } };
        if ((s = mlopt_checkpoint_save(t->checkpoint, res.model, NULL, meta, 5)) != MLOPT_OK)
            t->checkpoint[0] = 0;
    }
out:
    mlopt_model_destroy(probe);
    mlopt_trial_result_free(&res);
    mlopt_context_destroy(ctx);
    return s;
}
