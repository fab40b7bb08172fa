/* Test helper: open a backend plugin straight from the build tree (without
 * the core loader) so that backend tests depend only on the ABI header.
 * Header-only; include in one test file. */
#ifndef MLOPT_TEST_BACKEND_HARNESS_H
#define MLOPT_TEST_BACKEND_HARNESS_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlopt/backend.h"

typedef struct harness_backend {
    void *dl;
    const mlopt_backend *be;
    mlopt_backend_ctx *ctx;
} harness_backend;

/* Load mlopt-backend-NAME.so from $MLOPT_TEST_PLUGIN_DIR.  Returns 0 on
 * success; on failure writes why into err. */
static inline int harness_load(const char *name, harness_backend *out, char *err, size_t errlen)
{
    const char *dir = getenv("MLOPT_TEST_PLUGIN_DIR");
    char path[2048];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/mlopt-backend-%s.so", dir ? dir : ".", name);
    out->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!out->dl) {
        snprintf(err, errlen, "dlopen %s: %s", path, dlerror());
        return 1;
    }
    mlopt_backend_entry_fn entry;
    *(void **)&entry = dlsym(out->dl, MLOPT_BACKEND_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s has no %s", path, MLOPT_BACKEND_ENTRY_SYMBOL);
        dlclose(out->dl);
        out->dl = NULL;
        return 1;
    }
    out->be = entry();
    return 0;
}

/* Load and create a context on the default device (selector may be NULL). */
static inline int harness_open(const char *name, const char *selector, harness_backend *out,
                               char *err, size_t errlen)
{
    if (harness_load(name, out, err, errlen))
        return 1;
    if (out->be->create(selector, &out->ctx, err, errlen)) {
        dlclose(out->dl);
        out->dl = NULL;
        return 1;
    }
    return 0;
}

static inline void harness_close(harness_backend *h)
{
    if (h->ctx && h->be)
        h->be->destroy(h->ctx);
    /* Deliberately no dlclose: some ICDs (PoCL, lavapipe) register atexit
     * handlers that must stay mapped. */
    memset(h, 0, sizeof *h);
}

/* The CPU backend's scalar reference path: every cross-check compares
 * against it.  MLOPT_CPU_REF is read when the context is created. */
static inline int harness_open_cpu_reference(harness_backend *out, char *err, size_t errlen)
{
    setenv("MLOPT_CPU_REF", "1", 1);
    int rc = harness_open("cpu", NULL, out, err, errlen);
    unsetenv("MLOPT_CPU_REF");
    return rc;
}

#endif
