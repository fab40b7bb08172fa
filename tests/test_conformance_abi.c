/* ABI guard: the layout of struct mlopt_backend for ABI 1.0 and 1.1 on LP64,
 * hard-coded.  If this test fails, a field was inserted, removed or reordered:
 * existing slots must never move within a major version (append new slots
 * at the end and bump MLOPT_BACKEND_ABI_MINOR, then extend this table).
 * It also checks that the core's slot table (backend_slots.c) names every
 * function pointer, in declaration order. */
#include <check.h>
#include <stddef.h>
#include <string.h>

#include "backend_slots.h"
#include "mlopt/backend.h"

typedef struct expected_field {
    const char *name;
    size_t offset;
} expected_field;

/* offsetof(mlopt_backend, field) for ABI 1.0, LP64 (x86-64, aarch64). */
static const expected_field abi_1_0[] = {
    { "abi_major", 0 },
    { "abi_minor", 4 },
    { "struct_size", 8 },
    { "name", 16 },
    { "description", 24 },
    { "probe", 32 },
    { "create", 40 },
    { "destroy", 48 },
    { "last_error", 56 },
    { "device_info", 64 },
    { "set_num_threads", 72 },
    { "get_stats", 80 },
    { "reset_stats", 88 },
    { "buffer_alloc", 96 },
    { "buffer_free", 104 },
    { "upload", 112 },
    { "download", 120 },
    { "copy", 128 },
    { "fill", 136 },
    { "synchronize", 144 },
    { "gemm", 152 },
    { "gemm_strided_batched", 160 },
    { "conv2d_forward", 168 },
    { "conv2d_backward_data", 176 },
    { "conv2d_backward_filter", 184 },
    { "pool2d_forward", 192 },
    { "pool2d_backward", 200 },
    { "act_forward", 208 },
    { "act_backward", 216 },
    { "bias_add", 224 },
    { "bias_grad", 232 },
    { "batchnorm_forward_train", 240 },
    { "batchnorm_forward_eval", 248 },
    { "batchnorm_backward", 256 },
    { "dropout_forward", 264 },
    { "softmax_forward", 272 },
    { "softmax_xent", 280 },
    { "softmax_kl", 288 },
    { "argmax", 296 },
    { "accuracy_count", 304 },
    { "add", 312 },
    { "sub", 320 },
    { "mul", 328 },
    { "axpy", 336 },
    { "scale", 344 },
    { "mask_mul", 352 },
    { "reduce_sum", 360 },
    { "reduce_max_abs", 368 },
    { "channel_norm", 376 },
    { "sgd_update", 384 },
    { "adam_update", 392 },
};
#define ABI_1_0_SIZE 400u

/* ABI 1.1 appended these after adam_update (1.0 offsets above unchanged). */
static const expected_field abi_1_1[] = {
    { "qgemm", 400 },
    { "qconv2d", 408 },
    { "qmaxpool", 416 },
    { "quantize", 424 },
    { "dequantize", 432 },
    { "fake_quant", 440 },
};
#define ABI_1_1_SIZE 448u
#define FIRST_SLOT 5 /* abi_major, abi_minor, struct_size, name, description precede the slots */

#define CHECK_FIELD(f) { #f, offsetof(mlopt_backend, f) }
static const expected_field actual[] = {
    CHECK_FIELD(abi_major), CHECK_FIELD(abi_minor), CHECK_FIELD(struct_size), CHECK_FIELD(name),
    CHECK_FIELD(description),
    CHECK_FIELD(probe),
    CHECK_FIELD(create),
    CHECK_FIELD(destroy),
    CHECK_FIELD(last_error),
    CHECK_FIELD(device_info),
    CHECK_FIELD(set_num_threads),
    CHECK_FIELD(get_stats),
    CHECK_FIELD(reset_stats),
    CHECK_FIELD(buffer_alloc),
    CHECK_FIELD(buffer_free),
    CHECK_FIELD(upload),
    CHECK_FIELD(download),
    CHECK_FIELD(copy),
    CHECK_FIELD(fill),
    CHECK_FIELD(synchronize),
    CHECK_FIELD(gemm),
    CHECK_FIELD(gemm_strided_batched),
    CHECK_FIELD(conv2d_forward),
    CHECK_FIELD(conv2d_backward_data),
    CHECK_FIELD(conv2d_backward_filter),
    CHECK_FIELD(pool2d_forward),
    CHECK_FIELD(pool2d_backward),
    CHECK_FIELD(act_forward),
    CHECK_FIELD(act_backward),
    CHECK_FIELD(bias_add),
    CHECK_FIELD(bias_grad),
    CHECK_FIELD(batchnorm_forward_train),
    CHECK_FIELD(batchnorm_forward_eval),
    CHECK_FIELD(batchnorm_backward),
    CHECK_FIELD(dropout_forward),
    CHECK_FIELD(softmax_forward),
    CHECK_FIELD(softmax_xent),
    CHECK_FIELD(softmax_kl),
    CHECK_FIELD(argmax),
    CHECK_FIELD(accuracy_count),
    CHECK_FIELD(add),
    CHECK_FIELD(sub),
    CHECK_FIELD(mul),
    CHECK_FIELD(axpy),
    CHECK_FIELD(scale),
    CHECK_FIELD(mask_mul),
    CHECK_FIELD(reduce_sum),
    CHECK_FIELD(reduce_max_abs),
    CHECK_FIELD(channel_norm),
    CHECK_FIELD(sgd_update),
    CHECK_FIELD(adam_update),
};

static const expected_field actual_1_1[] = {
    CHECK_FIELD(qgemm), CHECK_FIELD(qconv2d), CHECK_FIELD(qmaxpool), CHECK_FIELD(quantize),
    CHECK_FIELD(dequantize), CHECK_FIELD(fake_quant),
};

START_TEST(abi_version_is_1_0)
{
    ck_assert_int_eq(MLOPT_BACKEND_ABI_MAJOR, 1);
    ck_assert_msg(MLOPT_BACKEND_ABI_MINOR >= 0, "minor version");
}
END_TEST

START_TEST(field_offsets_are_frozen)
{
    if (sizeof(void *) != 8 || sizeof(size_t) != 8)
        return; /* the table is for LP64 */
    size_t n = sizeof abi_1_0 / sizeof abi_1_0[0];
    ck_assert_uint_eq(n, sizeof actual / sizeof actual[0]);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(abi_1_0[i].name, actual[i].name);
        ck_assert_msg(abi_1_0[i].offset == actual[i].offset,
                      "mlopt_backend.%s moved from offset %zu to %zu: slots must never move within ABI major 1 "
                      "(append new slots at the end and bump MLOPT_BACKEND_ABI_MINOR)",
                      abi_1_0[i].name, abi_1_0[i].offset, actual[i].offset);
    }
    if (MLOPT_BACKEND_ABI_MINOR == 0)
        ck_assert_msg(sizeof(mlopt_backend) == ABI_1_0_SIZE,
                      "sizeof(mlopt_backend) is %zu, ABI 1.0 has %u: a slot was added without bumping the minor",
                      sizeof(mlopt_backend), ABI_1_0_SIZE);
    else
        ck_assert_msg(sizeof(mlopt_backend) > ABI_1_0_SIZE, "ABI 1.%d must only grow the struct",
                      MLOPT_BACKEND_ABI_MINOR);
}
END_TEST

START_TEST(abi_1_1_slots_are_frozen)
{
    if (sizeof(void *) != 8 || sizeof(size_t) != 8)
        return;
    ck_assert_int_ge(MLOPT_BACKEND_ABI_MINOR, 1);
    size_t n = sizeof abi_1_1 / sizeof abi_1_1[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(abi_1_1[i].name, actual_1_1[i].name);
        ck_assert_msg(abi_1_1[i].offset == actual_1_1[i].offset, "mlopt_backend.%s moved from offset %zu to %zu",
                      abi_1_1[i].name, abi_1_1[i].offset, actual_1_1[i].offset);
    }
    if (MLOPT_BACKEND_ABI_MINOR == 1)
        ck_assert_msg(sizeof(mlopt_backend) == ABI_1_1_SIZE,
                      "sizeof(mlopt_backend) is %zu, ABI 1.1 has %u: a slot was added without bumping the minor",
                      sizeof(mlopt_backend), ABI_1_1_SIZE);
    /* The 1.1 slots follow the 1.0 ones in the core's slot table too. */
    int ns;
    const mlopt_slot_desc *slots = mlopt_backend_slots(&ns);
    size_t n10 = sizeof abi_1_0 / sizeof abi_1_0[0] - FIRST_SLOT;
    ck_assert_int_ge(ns, (int)(n10 + n));
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(slots[n10 + i].name, abi_1_1[i].name);
}
END_TEST

START_TEST(slot_table_lists_every_function_pointer_in_order)
{
    int n;
    const mlopt_slot_desc *slots = mlopt_backend_slots(&n);
    size_t n10 = sizeof abi_1_0 / sizeof abi_1_0[0] - FIRST_SLOT;
    ck_assert_int_ge(n, (int)n10);
    for (int i = 0; i < n; i++) {
        /* Function pointers are contiguous after the identity fields. */
        size_t want = offsetof(mlopt_backend, probe) + (size_t)i * sizeof(void (*)(void));
        ck_assert_msg(slots[i].offset == want, "slot table entry %d (%s) at offset %zu, expected %zu", i,
                      slots[i].name, slots[i].offset, want);
        if ((size_t)i < n10)
            ck_assert_str_eq(slots[i].name, abi_1_0[FIRST_SLOT + i].name);
    }
    ck_assert_msg(slots[n - 1].offset + sizeof(void (*)(void)) == sizeof(mlopt_backend),
                  "the slot table ends at %zu but mlopt_backend is %zu bytes: a slot is missing from "
                  "core/backend_slots.c",
                  slots[n - 1].offset + sizeof(void (*)(void)), sizeof(mlopt_backend));
}
END_TEST

START_TEST(has_slot_respects_struct_size)
{
    mlopt_backend be;
    memset(&be, 0, sizeof be);
    be.struct_size = offsetof(mlopt_backend, gemm); /* an "old" plugin without gemm */
    be.gemm = NULL;
    ck_assert_int_eq(mlopt_backend_has_slot(&be, offsetof(mlopt_backend, gemm)), 0);
    be.struct_size = sizeof be;
    ck_assert_int_eq(mlopt_backend_has_slot(&be, offsetof(mlopt_backend, gemm)), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conformance_abi");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, abi_version_is_1_0);
    tcase_add_test(tc, field_offsets_are_frozen);
    tcase_add_test(tc, abi_1_1_slots_are_frozen);
    tcase_add_test(tc, slot_table_lists_every_function_pointer_in_order);
    tcase_add_test(tc, has_slot_respects_struct_size);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
