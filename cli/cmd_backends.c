/* mlopt backends: every plugin found, its devices, and why any is unusable. */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "mlopt/conformance.h"

/* ---- conformance level (cached by `mlopt conformance`) ---- */
static void conformance_line(const char *backend, int json)
{
    int level;
    char dev[128], when[64];
    int have = mlopt_conformance_cache_read(backend, &level, dev, sizeof dev, when, sizeof when) == MLOPT_OK;
    if (json) {
        printf(", \"conformance\": ");
        json_write_string(stdout, have ? mlopt_conf_level_name(level) : "");
    } else if (have) {
        printf("  conformance: %s (mlopt conformance, %s, %s)\n", mlopt_conf_level_name(level), when, dev);
    } else {
        printf("  conformance: not measured (run `mlopt conformance --backend=%s`)\n", backend);
    }
}
/* ---- end conformance level ---- */

int cmd_backends(int argc, char **argv)
{
    cli_option opts[] = { GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("backends", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt backends [--json]",
                  "List every backend plugin on the search path (MLOPT_PLUGIN_PATH, the install directory, the "
                  "build tree) with its devices, and the reason any cannot be used.",
                  opts);
        return 0;
    }
    mlopt_plugin_report *list;
    int n;
    mlopt_status s = mlopt_plugins_scan(&list, &n);
    if (s != MLOPT_OK)
        return report_failure("backends", "scanning plugins", s);
    char path[4096];
    mlopt_plugin_search_path(path, sizeof path);
    if (G.json) {
        printf("{\"search_path\": ");
        json_write_string(stdout, path);
        printf(", \"backends\": [");
        for (int i = 0; i < n; i++) {
            mlopt_plugin_report *r = &list[i];
            printf("%s{\"name\": ", i ? ", " : "");
            json_write_string(stdout, r->name);
            printf(", \"path\": ");
            json_write_string(stdout, r->path);
            printf(", \"usable\": %s, \"why\": ", r->usable ? "true" : "false");
            json_write_string(stdout, r->why);
            conformance_line(r->name, 1);
            printf(", \"abi\": \"%u.%u\", \"devices\": [", r->abi_major, r->abi_minor);
            for (int d = 0; d < r->device_count; d++) {
                mlopt_device_info *v = &r->devices[d];
                printf("%s{\"name\": ", d ? ", " : "");
                json_write_string(stdout, v->name);
                printf(", \"vendor\": ");
                json_write_string(stdout, v->vendor);
                printf(", \"driver\": ");
                json_write_string(stdout, v->driver);
                printf(", \"type\": \"%s\", \"memory_bytes\": %llu, \"compute_units\": %d, \"subgroup_size\": %d, "
                       "\"usable\": %s}",
                       device_type_name(v->type), (unsigned long long)v->memory_bytes, v->compute_units,
                       v->subgroup_size, v->usable ? "true" : "false");
            }
            printf("]}");
        }
        printf("]}\n");
        free(list);
        return 0;
    }
    printf("plugin search path: %s\n", path);
    if (n == 0)
        printf("no backend plugins found; build mlopt or set MLOPT_PLUGIN_PATH\n");
    for (int i = 0; i < n; i++) {
        mlopt_plugin_report *r = &list[i];
        printf("\n%s  %s\n  file: %s\n", r->name, r->usable ? "(usable)" : "(unusable)", r->path);
        if (r->abi_major)
            printf("  ABI: %u.%u\n", r->abi_major, r->abi_minor);
        if (!r->usable)
            printf("  why: %s\n", r->why);
        else
            conformance_line(r->name, 0);
        for (int d = 0; d < r->device_count; d++) {
            mlopt_device_info *v = &r->devices[d];
            printf("  [%d] %s — %s, %s, %s", d, v->name, v->vendor[0] ? v->vendor : "unknown vendor",
                   device_type_name(v->type), v->driver[0] ? v->driver : "driver ?");
            if (v->memory_bytes)
                printf(", %.1f GiB", (double)v->memory_bytes / (1024.0 * 1024.0 * 1024.0));
            if (v->compute_units)
                printf(", %d compute units", v->compute_units);
            if (v->subgroup_size)
                printf(", subgroup %d", v->subgroup_size);
            if (!v->usable)
                printf(" — unusable: %s", v->why);
            printf("\n");
        }
    }
    free(list);
    return 0;
}
