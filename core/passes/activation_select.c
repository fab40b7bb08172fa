/* Activation selection: swap every activation of a model (weights kept);
 * `mlopt compare-activations` trains each candidate under one budget. */
#include "../error.h"
#include "passes_internal.h"

mlopt_status mlopt_model_set_activation(mlopt_model *m, const char *act)
{
    int a;
    float alpha, beta;
    TRY(mlopt_act_parse(act, &a, &alpha, &beta));
    for (int i = 0; i < m->nlayers; i++) {
        mlopt_layer_spec *s = &m->layers[i].spec;
        if (s->kind == MLOPT_LAYER_ACTIVATION) {
            s->act = a;
            s->alpha = alpha;
            s->beta = beta;
        }
    }
    return MLOPT_OK;
}
