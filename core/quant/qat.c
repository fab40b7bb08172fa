/* Quantization-aware training (placeholder until implemented). */
#include "../error.h"
#include "quant_internal.h"

mlopt_status mlopt_quantize_qat(mlopt_model *m, const mlopt_dataset *train, const mlopt_quant_config *qcfg,
                                const mlopt_qat_config *cfg, mlopt_qmodel **out, double *final_loss)
{
    (void)m, (void)train, (void)qcfg, (void)cfg, (void)final_loss;
    *out = NULL;
    return mlopt_set_error(MLOPT_E_UNSUPPORTED, "quantization-aware training is not implemented yet");
}
