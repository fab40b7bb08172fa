#include "backend_slots.h"

#include <string.h>

#define SLOT(field, req) { #field, offsetof(mlopt_backend, field), req }

static const mlopt_slot_desc slots[] = {
    SLOT(probe, 1), SLOT(create, 1), SLOT(destroy, 1), SLOT(last_error, 1),
    SLOT(device_info, 0), SLOT(set_num_threads, 0), SLOT(get_stats, 0), SLOT(reset_stats, 0),
    SLOT(buffer_alloc, 1), SLOT(buffer_free, 1), SLOT(upload, 1), SLOT(download, 1),
    SLOT(copy, 0), SLOT(fill, 0), SLOT(synchronize, 1),
    SLOT(gemm, 0), SLOT(gemm_strided_batched, 0),
    SLOT(conv2d_forward, 0), SLOT(conv2d_backward_data, 0), SLOT(conv2d_backward_filter, 0),
    SLOT(pool2d_forward, 0), SLOT(pool2d_backward, 0),
    SLOT(act_forward, 0), SLOT(act_backward, 0),
    SLOT(bias_add, 0), SLOT(bias_grad, 0),
    SLOT(batchnorm_forward_train, 0), SLOT(batchnorm_forward_eval, 0), SLOT(batchnorm_backward, 0),
    SLOT(dropout_forward, 0),
    SLOT(softmax_forward, 0), SLOT(softmax_xent, 0), SLOT(softmax_kl, 0),
    SLOT(argmax, 0), SLOT(accuracy_count, 0),
    SLOT(add, 0), SLOT(sub, 0), SLOT(mul, 0), SLOT(axpy, 0), SLOT(scale, 0), SLOT(mask_mul, 0),
    SLOT(reduce_sum, 0), SLOT(reduce_max_abs, 0), SLOT(channel_norm, 0),
    SLOT(sgd_update, 0), SLOT(adam_update, 0),
    /* ABI 1.1 */
    SLOT(qgemm, 0), SLOT(qconv2d, 0), SLOT(qmaxpool, 0), SLOT(quantize, 0), SLOT(dequantize, 0),
    SLOT(fake_quant, 0),
};

const mlopt_slot_desc *mlopt_backend_slots(int *n)
{
    *n = (int)(sizeof slots / sizeof slots[0]);
    return slots;
}

int mlopt_backend_has_slot(const mlopt_backend *be, size_t off)
{
    if (off + sizeof(void (*)(void)) > be->struct_size)
        return 0;
    void (*fn)(void);
    memcpy(&fn, (const char *)be + off, sizeof fn);
    return fn != NULL;
}
