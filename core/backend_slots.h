/* The names and offsets of every slot of struct mlopt_backend, in ABI
 * order.  Used to report missing slots by name and by the ABI guard test. */
#ifndef MLOPT_CORE_BACKEND_SLOTS_H
#define MLOPT_CORE_BACKEND_SLOTS_H

#include <stddef.h>

#include "mlopt/backend.h"

typedef struct mlopt_slot_desc {
    const char *name;
    size_t offset;
    int required; /* the core cannot work at all without it */
} mlopt_slot_desc;

/* Every function-pointer slot, in declaration order; count in *n. */
const mlopt_slot_desc *mlopt_backend_slots(int *n);

/* 1 if the plugin provides the slot at byte offset off (within struct_size and non-NULL). */
int mlopt_backend_has_slot(const mlopt_backend *be, size_t off);

#endif
