/* The conformance suite's protobuf reader on hand-made ONNX bytes:
 * varints, packed and unpacked repeated fields, raw_data, unknown fields,
 * and truncated input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/onnx_pb.h"

/* A TensorProto: dims [2,3] packed, data_type FLOAT, name "x", raw_data. */
static size_t tensor_bytes(uint8_t *out, int packed_dims, int raw)
{
    size_t n = 0;
    if (packed_dims) {
        out[n++] = (1 << 3) | 2, out[n++] = 2, out[n++] = 2, out[n++] = 3;
    } else {
        out[n++] = (1 << 3) | 0, out[n++] = 2;
        out[n++] = (1 << 3) | 0, out[n++] = 3;
    }
    out[n++] = (2 << 3) | 0, out[n++] = 1;                 /* data_type FLOAT */
    out[n++] = (99 << 3 & 0x7F) | 0x80 | 0, out[n++] = 99 >> 4, out[n++] = 5; /* unknown varint field 99 */
    out[n++] = (8 << 3) | 2, out[n++] = 1, out[n++] = 'x'; /* name */
    float v[6] = { 1, -2, 3.5f, 0, 1e-3f, -7 };
    if (raw) {
        out[n++] = (9 << 3) | 2, out[n++] = 24;
        memcpy(out + n, v, 24);
        n += 24;
    } else {
        out[n++] = (4 << 3) | 2, out[n++] = 24; /* packed float_data */
        memcpy(out + n, v, 24);
        n += 24;
    }
    return n;
}

START_TEST(tensor_variants)
{
    for (int variant = 0; variant < 4; variant++) {
        uint8_t buf[128];
        size_t len = tensor_bytes(buf, variant & 1, variant & 2);
        onnx_tensor t;
        char why[128] = "";
        ck_assert_msg(onnx_parse_tensor(buf, len, &t, why, sizeof why) == 0, "variant %d: %s", variant, why);
        ck_assert_int_eq(t.ndim, 2);
        ck_assert_int_eq((int)t.dims[0], 2);
        ck_assert_int_eq((int)t.dims[1], 3);
        ck_assert_int_eq(t.data_type, ONNX_FLOAT);
        ck_assert_str_eq(t.name, "x");
        ck_assert_uint_eq(t.count, 6);
        ck_assert(t.f[2] == 3.5f && t.f[5] == -7.0f);
        onnx_tensor_free(&t);
    }
}
END_TEST

START_TEST(truncated_and_inconsistent)
{
    uint8_t buf[128];
    size_t len = tensor_bytes(buf, 1, 1);
    onnx_tensor t;
    char why[128];
    for (size_t cut = 1; cut < len; cut += 3)
        if (onnx_parse_tensor(buf, cut, &t, why, sizeof why) == 0)
            onnx_tensor_free(&t); /* a prefix may be a valid message, but never a crash */
    ck_assert_int_ne(onnx_parse_tensor(buf, len - 4, &t, why, sizeof why), 0);
    /* int64 data: negative varints are ten bytes long. */
    uint8_t ints[] = { (1 << 3) | 0, 2, (2 << 3) | 0, 7, (7 << 3) | 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                       0xFF, 0x01, (7 << 3) | 0, 5 };
    ck_assert_int_eq(onnx_parse_tensor(ints, sizeof ints, &t, why, sizeof why), 0);
    ck_assert_int_eq((int)t.i[0], -1);
    ck_assert_int_eq((int)t.i[1], 5);
    onnx_tensor_free(&t);
}
END_TEST

START_TEST(model_with_node_and_attributes)
{
    /* ModelProto { opset_import { version 13 } graph { node { input "a"
     * output "y" op_type "Relu" attribute { name "alpha" f 0.5 } } input
     * { name "a" } output { name "y" } } } */
    uint8_t node[] = { (1 << 3) | 2, 1, 'a', (2 << 3) | 2, 1, 'y', (4 << 3) | 2, 4, 'R', 'e', 'l', 'u',
                       (5 << 3) | 2, 12, (1 << 3) | 2, 5, 'a', 'l', 'p', 'h', 'a', (2 << 3) | 5, 0, 0, 0, 0x3F };
    uint8_t graph[64], model[96];
    size_t g = 0, m = 0;
    graph[g++] = (1 << 3) | 2, graph[g++] = (uint8_t)sizeof node;
    memcpy(graph + g, node, sizeof node);
    g += sizeof node;
    uint8_t io[] = { (11 << 3) | 2, 3, (1 << 3) | 2, 1, 'a', (12 << 3) | 2, 3, (1 << 3) | 2, 1, 'y' };
    memcpy(graph + g, io, sizeof io);
    g += sizeof io;
    model[m++] = (8 << 3) | 2, model[m++] = 2, model[m++] = (2 << 3) | 0, model[m++] = 13;
    model[m++] = (7 << 3) | 2, model[m++] = (uint8_t)g;
    memcpy(model + m, graph, g);
    m += g;
    onnx_model *om = calloc(1, sizeof *om);
    char why[128] = "";
    ck_assert_msg(onnx_parse_model(model, m, om, why, sizeof why) == 0, "%s", why);
    ck_assert_int_eq((int)om->opset, 13);
    ck_assert_int_eq(om->nnodes, 1);
    ck_assert_str_eq(om->node.op_type, "Relu");
    ck_assert_float_eq(onnx_attr_float(&om->node, "alpha", 0), 0.5f);
    ck_assert_int_eq((int)onnx_attr_int(&om->node, "missing", 42), 42);
    ck_assert_int_eq(om->ninputs, 1);
    ck_assert_str_eq(om->inputs[0], "a");
    ck_assert_str_eq(om->outputs[0], "y");
    onnx_model_free(om);
    free(om);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conformance_onnx_pb");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, tensor_variants);
    tcase_add_test(tc, truncated_and_inconsistent);
    tcase_add_test(tc, model_with_node_and_attributes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
