/* A small reader of the protobuf wire format for the parts of ONNX that
 * single-node backend tests use: ModelProto -> opset, graph -> node
 * (op_type, attributes), initializers, inputs, outputs; TensorProto
 * (dims, data_type, float/int32/int64 data or raw_data). */
#ifndef MLOPT_CORE_ONNX_PB_H
#define MLOPT_CORE_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#define ONNX_MAX_DIMS 8
#define ONNX_MAX_ATTRS 16
#define ONNX_MAX_IO 8
#define ONNX_MAX_INTS 16

enum { ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_BOOL = 9,
       ONNX_DOUBLE = 11 };

typedef struct onnx_tensor {
    char name[64];
    int data_type;
    int ndim;
    int64_t dims[ONNX_MAX_DIMS];
    size_t count;   /* elements */
    float *f;       /* FLOAT data (malloc'ed) */
    int64_t *i;     /* INT32 / INT64 data widened (malloc'ed) */
} onnx_tensor;

typedef enum { ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3, ONNX_ATTR_TENSOR = 4,
               ONNX_ATTR_FLOATS = 6, ONNX_ATTR_INTS = 7 } onnx_attr_type;

typedef struct onnx_attr {
    char name[32];
    int type;       /* onnx_attr_type (0 when the file did not say) */
    float f;
    int64_t i;
    char s[32];
    int nints;
    int64_t ints[ONNX_MAX_INTS];
    int nfloats;
    float floats[ONNX_MAX_INTS];
    int has_f, has_i, has_s, has_tensor;
} onnx_attr;

typedef struct onnx_node {
    char op_type[32];
    char domain[32];
    int ninputs, noutputs;
    char inputs[ONNX_MAX_IO][64];
    char outputs[ONNX_MAX_IO][64];
    int nattrs;
    onnx_attr attrs[ONNX_MAX_ATTRS];
} onnx_node;

typedef struct onnx_model {
    int64_t opset;       /* default-domain opset version */
    int nnodes;          /* nodes in the graph (only the first is kept) */
    onnx_node node;
    int ninputs, noutputs, ninits;
    char inputs[ONNX_MAX_IO][64];  /* graph inputs, initializers excluded */
    char outputs[ONNX_MAX_IO][64];
    onnx_tensor inits[ONNX_MAX_IO];
} onnx_model;

/* Parse a ModelProto / a TensorProto from a whole file's bytes.  Returns
 * 0, or 1 with why set. */
int onnx_parse_model(const uint8_t *data, size_t len, onnx_model *out, char *why, size_t whylen);
int onnx_parse_tensor(const uint8_t *data, size_t len, onnx_tensor *out, char *why, size_t whylen);
void onnx_tensor_free(onnx_tensor *t);
void onnx_model_free(onnx_model *m);
/* Read a whole file (malloc'ed). */
uint8_t *onnx_read_file(const char *path, size_t *len);

const onnx_attr *onnx_find_attr(const onnx_node *n, const char *name);
int64_t onnx_attr_int(const onnx_node *n, const char *name, int64_t def);
float onnx_attr_float(const onnx_node *n, const char *name, float def);

#endif
