/* The list of kernel checks (one per slot, ABI order) and the reference
 * context they compare with. */
#include <stdlib.h>
#include <string.h>

#include "conf_internal.h"
#include "error.h"

/* Families in ABI order: linear algebra and convolution, then the
 * neural-network slots, then elementwise, reductions, optimizers, memory. */
const conf_kernel_check *conf_kernel_check_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < conf_checks_linalg_count)
        return &conf_checks_linalg[i];
    i -= conf_checks_linalg_count;
    if (i < conf_checks_nn_count)
        return &conf_checks_nn[i];
    i -= conf_checks_nn_count;
    if (i < conf_checks_elementwise_count)
        return &conf_checks_elementwise[i];
    return NULL;
}

int mlopt_conformance_kernel_count(void)
{
    return conf_checks_linalg_count + conf_checks_nn_count + conf_checks_elementwise_count;
}

const char *mlopt_conformance_kernel_name(int i)
{
    const conf_kernel_check *k = conf_kernel_check_at(i);
    return k ? k->name : NULL;
}

mlopt_status mlopt_conformance_kernel(mlopt_context *ctx, mlopt_context *ref, int i, mlopt_conf_result *out)
{
    const conf_kernel_check *k = conf_kernel_check_at(i);
    if (!k || !ctx || !ref || !out)
        return mlopt_set_error(MLOPT_E_INVALID, "mlopt_conformance_kernel: no check %d (there are %d) or NULL argument",
                               i, mlopt_conformance_kernel_count());
    return conf_run_kernel_check(k, ctx, ref, out);
}

mlopt_status mlopt_conformance_open_reference(mlopt_context **out)
{
    /* The cpu backend reads MLOPT_CPU_REF when a context is created. */
    const char *old = getenv("MLOPT_CPU_REF");
    char *saved = old ? strdup(old) : NULL;
    setenv("MLOPT_CPU_REF", "1", 1);
    mlopt_status s = mlopt_context_create("cpu", NULL, out);
    if (saved) {
        setenv("MLOPT_CPU_REF", saved, 1);
        free(saved);
    } else {
        unsetenv("MLOPT_CPU_REF");
    }
    if (s != MLOPT_OK)
        return mlopt_set_error(s, "conformance: cannot open the cpu scalar reference: %s", mlopt_last_error());
    return MLOPT_OK;
}
