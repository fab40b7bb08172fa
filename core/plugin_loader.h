/* Finding, opening and validating backend plugins. */
#ifndef MLOPT_CORE_PLUGIN_LOADER_H
#define MLOPT_CORE_PLUGIN_LOADER_H

#include "mlopt/mlopt.h"

typedef struct mlopt_loaded_plugin {
    void *dl;
    mlopt_backend be; /* the plugin's table; slots past its struct_size are NULL */
    char path[1024];
} mlopt_loaded_plugin;

/* Open and validate one plugin file.  On failure, why holds the reason. */
int mlopt_plugin_open_file(const char *path, mlopt_loaded_plugin *out, char *why, size_t whylen);

/* Find mlopt-backend-NAME.so on the search path and open it. */
mlopt_status mlopt_plugin_open_by_name(const char *name, mlopt_loaded_plugin *out);

void mlopt_plugin_close(mlopt_loaded_plugin *p);

#endif
