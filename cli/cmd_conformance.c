/* mlopt conformance: every backend's kernels against the CPU scalar
 * reference on generated cases, layer gradients (finite differences and
 * cross-backend), whole training steps, and the ONNX node tests; the
 * training level each backend earned is cached for `mlopt backends`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common.h"
#include "mlopt/conformance.h"

#define DEFAULT_ONNX_DIR "/usr/share/libonnx-testdata/data/node"
#define MAX_BACKENDS 16

typedef struct backend_run {
    char name[64];
    char device[128];
    int opened;
    char why[512];            /* when it could not be opened */
    mlopt_conf_result *kernels;
    int nkernels;
    mlopt_conf_result *grads;
    int ngrads;
    mlopt_conf_result *onnx;
    int nonnx;
    int level;                /* -1: not computed (filtered run) */
} backend_run;

static int counts(const mlopt_conf_result *r, int n, int outcome)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += r[i].outcome == outcome;
    return c;
}

static int op_matches(const char *filter, const mlopt_conf_result *r)
{
    return !filter || strcasecmp(filter, r->name) == 0 || strcasecmp(filter, r->op) == 0;
}

/* Names of the usable backends on the plugin path. */
static int usable_backends(char names[][64], int max)
{
    mlopt_plugin_report *list;
    int n = 0, count = 0;
    if (mlopt_plugins_scan(&list, &n) != MLOPT_OK)
        return 0;
    for (int i = 0; i < n && count < max; i++)
        if (list[i].usable)
            snprintf(names[count++], 64, "%s", list[i].name);
    free(list);
    return count;
}

/* The ONNX tests listed in the expected-pass file (one per line, '#' comments). */
static char **read_expected(const char *path, int *count)
{
    FILE *f = fopen(path, "r");
    *count = 0;
    if (!f)
        return NULL;
    char **list = NULL, line[512];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n#")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (!len)
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 128;
            char **nl = realloc(list, (size_t)cap * sizeof *nl);
            if (!nl)
                break;
            list = nl;
        }
        list[(*count)++] = strdup(s);
    }
    fclose(f);
    return list;
}

static const mlopt_conf_result *find_result(const mlopt_conf_result *r, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(r[i].name, name) == 0)
            return &r[i];
    return NULL;
}

static void json_results(const char *key, const mlopt_conf_result *r, int n)
{
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) {
        printf("%s{\"name\": ", i ? ", " : "");
        json_write_string(stdout, r[i].name);
        printf(", \"op\": ");
        json_write_string(stdout, r[i].op);
        printf(", \"outcome\": ");
        json_write_string(stdout, mlopt_conf_outcome_name(r[i].outcome));
        printf(", \"cases\": %d", r[i].cases);
        if (isfinite(r[i].nmse))
            printf(", \"nmse\": %.3g", r[i].nmse);
        else
            printf(", \"nmse\": null");
        if (isfinite(r[i].max_rel))
            printf(", \"max_rel\": %.3g", r[i].max_rel);
        else
            printf(", \"max_rel\": null");
        printf(", \"tol_nmse\": %.3g, \"tol_rel\": %.3g, \"detail\": ", r[i].tol_nmse, r[i].tol_rel);
        json_write_string(stdout, r[i].detail);
        printf("}");
    }
    printf("]");
}

/* "op X has no mlopt mapping" reasons are grouped per op; others listed. */
static void print_unsupported(const backend_run *b)
{
    int mapped = 0;
    printf("\nunsupported ONNX tests on %s (%d):\n", b->name, counts(b->onnx, b->nonnx, MLOPT_CONF_UNSUPPORTED));
    for (int i = 0; i < b->nonnx; i++) {
        const mlopt_conf_result *r = &b->onnx[i];
        if (r->outcome != MLOPT_CONF_UNSUPPORTED || strstr(r->detail, "has no mlopt mapping") ||
            strstr(r->detail, "single-node"))
            continue;
        printf("  %-52s %-18s %s\n", r->name, r->op, r->detail);
        mapped++;
    }
    /* Tests of ops without a mapping, and multi-node graphs, counted per op. */
    char line[4096] = "";
    size_t used = 0;
    int unmapped = 0, multi = 0;
    for (int i = 0; i < b->nonnx; i++) {
        const mlopt_conf_result *r = &b->onnx[i];
        if (r->outcome != MLOPT_CONF_UNSUPPORTED)
            continue;
        if (strstr(r->detail, "single-node")) {
            multi++;
            continue;
        }
        if (!strstr(r->detail, "has no mlopt mapping"))
            continue;
        unmapped++;
        int first = 1;
        for (int k = 0; k < i; k++)
            if (b->onnx[k].outcome == MLOPT_CONF_UNSUPPORTED && strcmp(b->onnx[k].op, r->op) == 0 &&
                strstr(b->onnx[k].detail, "has no mlopt mapping"))
                first = 0;
        if (!first)
            continue;
        int c = 0;
        for (int k = i; k < b->nonnx; k++)
            c += b->onnx[k].outcome == MLOPT_CONF_UNSUPPORTED && strcmp(b->onnx[k].op, r->op) == 0 &&
                 strstr(b->onnx[k].detail, "has no mlopt mapping") != NULL;
        int w = snprintf(line + used, sizeof line - used, "%s%s(%d)", used ? ", " : "", r->op, c);
        if (w > 0 && (size_t)w < sizeof line - used)
            used += (size_t)w;
    }
    printf("  %d tests of mapped ops use variants listed above; %d are multi-node graphs (e.g. *_expanded);\n"
           "  %d tests are of ops without an mlopt mapping: %s\n",
           mapped, multi, unmapped, line);
}

int cmd_conformance(int argc, char **argv)
{
    const char *op = NULL, *onnx_dir = NULL, *expected = NULL;
    int skip_onnx = 0, skip_grad = 0, no_cache = 0;
    cli_option opts[] = {
        { "op", OPT_STRING, &op, "NAME", "only this kernel check / slot, gradient case, or ONNX op type", 0, 0 },
        { "onnx", OPT_STRING, &onnx_dir, "DIR", "ONNX node tests to run (default " DEFAULT_ONNX_DIR ")", 0, 0 },
        { "expected", OPT_STRING, &expected, "FILE",
          "ONNX tests that must pass (one per line); a listed test that does not pass fails the run", 0, 0 },
        { "skip-onnx", OPT_FLAG, &skip_onnx, NULL, "do not run the ONNX node tests", 0, 0 },
        { "skip-grad", OPT_FLAG, &skip_grad, NULL, "do not run gradient and training-step checks", 0, 0 },
        { "no-cache", OPT_FLAG, &no_cache, NULL, "do not record the training level in the cache", 0, 0 },
        GLOBAL_OPTIONS, { 0 } };
    const char *pos[1];
    int npos;
    if (args_parse("conformance", argc, argv, opts, pos, 0, &npos))
        return 2;
    if (G.help) {
        args_help("mlopt conformance [--backend=NAME|all] [--op NAME] [--onnx DIR] [--expected FILE] [--json]",
                  "Check every slot of each backend against the CPU scalar reference (MLOPT_CPU_REF=1) on generated "
                  "cases (odd shapes, edge values, NaN/Inf, guard regions), every layer's gradients against finite "
                  "differences and the reference, whole training steps, and the ONNX node tests.  Prints an op x "
                  "backend table and records each backend's training level ($XDG_CACHE_HOME/mlopt/"
                  "conformance-NAME.json) for `mlopt backends`.  Exit status 1 when anything fails.",
                  opts);
        return 0;
    }
    char names[MAX_BACKENDS][64];
    int nb = 0;
    if (!G.backend || !G.backend[0] || strcmp(G.backend, "all") == 0) {
        nb = usable_backends(names, MAX_BACKENDS);
        if (!nb) {
            fprintf(stderr, "mlopt conformance: no usable backend found (run `mlopt backends`)\n");
            return 1;
        }
    } else {
        snprintf(names[0], sizeof names[0], "%s", G.backend);
        nb = 1;
    }
    if (!onnx_dir) {
        struct stat st;
        onnx_dir = stat(DEFAULT_ONNX_DIR, &st) == 0 ? DEFAULT_ONNX_DIR : NULL;
    }
    mlopt_context *ref;
    mlopt_status s = mlopt_conformance_open_reference(&ref);
    if (s != MLOPT_OK)
        return report_failure("conformance", "opening the reference", s);

    char **tests = NULL;
    int ntests = 0;
    if (!skip_onnx && onnx_dir && (s = mlopt_conformance_onnx_list(onnx_dir, &tests, &ntests)) != MLOPT_OK) {
        mlopt_context_destroy(ref);
        return report_failure("conformance", "listing ONNX tests", s);
    }
    backend_run *runs = calloc((size_t)nb, sizeof *runs);
    int nk = mlopt_conformance_kernel_count(), ng = skip_grad ? 0 : mlopt_conformance_grad_count();
    int matched = 0, failed = 0;
    for (int b = 0; b < nb && runs; b++) {
        backend_run *br = &runs[b];
        snprintf(br->name, sizeof br->name, "%.63s", names[b]);
        br->level = -1;
        mlopt_context *ctx;
        if (mlopt_context_create(br->name, G.device, &ctx) != MLOPT_OK) {
            snprintf(br->why, sizeof br->why, "%s", mlopt_last_error());
            failed = 1;
            continue;
        }
        br->opened = 1;
        mlopt_device_info dev;
        if (mlopt_context_device_info(ctx, &dev) == MLOPT_OK)
            snprintf(br->device, sizeof br->device, "%s", dev.name);
        if (G.threads > 0)
            mlopt_context_set_threads(ctx, G.threads);
        br->kernels = calloc((size_t)nk, sizeof *br->kernels);
        br->grads = calloc((size_t)(ng ? ng : 1), sizeof *br->grads);
        br->onnx = calloc((size_t)(ntests ? ntests : 1), sizeof *br->onnx);
        if (!br->kernels || !br->grads || !br->onnx) {
            mlopt_context_destroy(ctx);
            break;
        }
        for (int i = 0; i < nk; i++) {
            if (op && strcasecmp(op, mlopt_conformance_kernel_name(i)) != 0)
                continue;
            mlopt_conf_result *r = &br->kernels[br->nkernels];
            if ((s = mlopt_conformance_kernel(ctx, ref, i, r)) != MLOPT_OK) {
                r->outcome = MLOPT_CONF_FAIL;
                snprintf(r->name, sizeof r->name, "%s", mlopt_conformance_kernel_name(i));
                snprintf(r->detail, sizeof r->detail, "%s", mlopt_last_error());
            }
            br->nkernels++;
        }
        for (int i = 0; i < ng; i++) {
            if (op && strcasecmp(op, mlopt_conformance_grad_name(i)) != 0)
                continue;
            mlopt_conf_result *r = &br->grads[br->ngrads];
            if ((s = mlopt_conformance_grad(ctx, ref, i, r)) != MLOPT_OK) {
                r->outcome = MLOPT_CONF_FAIL;
                snprintf(r->name, sizeof r->name, "%s", mlopt_conformance_grad_name(i));
                snprintf(r->detail, sizeof r->detail, "%s", mlopt_last_error());
            }
            br->ngrads++;
        }
        for (int i = 0; i < ntests; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", onnx_dir, tests[i]);
            mlopt_conf_result *r = &br->onnx[br->nonnx];
            if ((s = mlopt_conformance_onnx(ctx, path, r)) != MLOPT_OK) {
                r->outcome = MLOPT_CONF_FAIL;
                snprintf(r->name, sizeof r->name, "%s", tests[i]);
                snprintf(r->detail, sizeof r->detail, "%s", mlopt_last_error());
            }
            if (op && !op_matches(op, r)) {
                memset(r, 0, sizeof *r);
                continue;
            }
            br->nonnx++;
        }
        matched += br->nkernels + br->ngrads + br->nonnx;
        failed |= counts(br->kernels, br->nkernels, MLOPT_CONF_FAIL) || counts(br->grads, br->ngrads, MLOPT_CONF_FAIL) ||
                  counts(br->onnx, br->nonnx, MLOPT_CONF_FAIL);
        if (!op && !skip_grad) {
            br->level = mlopt_conformance_level(br->kernels, br->nkernels, br->grads, br->ngrads);
            if (!no_cache) {
                char summary[256];
                snprintf(summary, sizeof summary, "kernels %d/%d pass, gradients %d/%d pass, onnx %d pass",
                         counts(br->kernels, br->nkernels, MLOPT_CONF_PASS), br->nkernels,
                         counts(br->grads, br->ngrads, MLOPT_CONF_PASS), br->ngrads,
                         counts(br->onnx, br->nonnx, MLOPT_CONF_PASS));
                if (mlopt_conformance_cache_write(br->name, br->device, br->level, summary) != MLOPT_OK)
                    fprintf(stderr, "mlopt conformance: %s\n", mlopt_last_error());
            }
        }
        mlopt_context_destroy(ctx);
    }
    mlopt_context_destroy(ref);
    if (!runs) {
        mlopt_conformance_free_names(tests, ntests);
        fprintf(stderr, "mlopt conformance: out of memory\n");
        return 1;
    }
    if (op && matched == 0) {
        fprintf(stderr, "mlopt conformance: --op %s matches no kernel check, gradient case or ONNX op type\n", op);
        failed = 2;
    }

    /* Regressions: expected ONNX passes, and tests passing on cpu but not elsewhere. */
    char regress[8192] = "";
    size_t rused = 0;
    int nexp = 0;
    char **exp = expected ? read_expected(expected, &nexp) : NULL;
    if (expected && !exp) {
        fprintf(stderr, "mlopt conformance: cannot read --expected %s\n", expected);
        failed = 1;
    }
    const backend_run *cpu = NULL;
    for (int b = 0; b < nb; b++)
        if (runs[b].opened && strcmp(runs[b].name, "cpu") == 0)
            cpu = &runs[b];
    for (int b = 0; b < nb; b++) {
        const backend_run *br = &runs[b];
        if (!br->opened || !br->nonnx)
            continue;
        for (int e = 0; e < nexp; e++) {
            const mlopt_conf_result *r = find_result(br->onnx, br->nonnx, exp[e]);
            if (op && !r)
                continue; /* filtered out */
            if (!r || r->outcome != MLOPT_CONF_PASS) {
                int w = snprintf(regress + rused, sizeof regress - rused, "%s%s on %s: %s", rused ? "\n" : "",
                                 exp[e], br->name, r ? (r->detail[0] ? r->detail : "not passing") : "test not found");
                if (w > 0 && (size_t)w < sizeof regress - rused)
                    rused += (size_t)w;
            }
        }
        if (cpu && br != cpu)
            for (int i = 0; i < br->nonnx; i++) {
                const mlopt_conf_result *c = find_result(cpu->onnx, cpu->nonnx, br->onnx[i].name);
                if (c && c->outcome == MLOPT_CONF_PASS && br->onnx[i].outcome != MLOPT_CONF_PASS) {
                    int w = snprintf(regress + rused, sizeof regress - rused, "%s%s passes on cpu but not on %s: %s",
                                     rused ? "\n" : "", br->onnx[i].name, br->name, br->onnx[i].detail);
                    if (w > 0 && (size_t)w < sizeof regress - rused)
                        rused += (size_t)w;
                }
            }
    }
    if (rused)
        failed = failed ? failed : 1;

    if (G.json) {
        printf("{\"command\": \"conformance\", \"reference\": \"cpu (scalar, MLOPT_CPU_REF=1)\", \"onnx_dir\": ");
        json_write_string(stdout, onnx_dir ? onnx_dir : "");
        printf(", \"backends\": [");
        for (int b = 0; b < nb; b++) {
            const backend_run *br = &runs[b];
            printf("%s{\"name\": ", b ? ", " : "");
            json_write_string(stdout, br->name);
            printf(", \"device\": ");
            json_write_string(stdout, br->device);
            printf(", \"opened\": %s, \"why\": ", br->opened ? "true" : "false");
            json_write_string(stdout, br->why);
            printf(", \"level\": ");
            json_write_string(stdout, br->level >= 0 ? mlopt_conf_level_name(br->level) : "");
            json_results("kernels", br->kernels, br->nkernels);
            json_results("gradients", br->grads, br->ngrads);
            printf(", \"onnx_counts\": {\"pass\": %d, \"fail\": %d, \"unsupported\": %d}",
                   counts(br->onnx, br->nonnx, MLOPT_CONF_PASS), counts(br->onnx, br->nonnx, MLOPT_CONF_FAIL),
                   counts(br->onnx, br->nonnx, MLOPT_CONF_UNSUPPORTED));
            json_results("onnx", br->onnx, br->nonnx);
            printf("}");
        }
        printf("], \"regressions\": ");
        json_write_string(stdout, regress);
        printf(", \"ok\": %s}\n", failed ? "false" : "true");
    } else {
        printf("reference: cpu scalar path (MLOPT_CPU_REF=1)\n\n%-26s", "kernel / check");
        for (int b = 0; b < nb; b++)
            printf(" %-14s", runs[b].name);
        printf("\n");
        for (int i = 0; i < nk; i++) {
            const char *kn = mlopt_conformance_kernel_name(i);
            int any = 0;
            for (int b = 0; b < nb; b++)
                any |= find_result(runs[b].kernels, runs[b].nkernels, kn) != NULL;
            if (!any)
                continue;
            printf("%-26s", kn);
            for (int b = 0; b < nb; b++) {
                const mlopt_conf_result *r = find_result(runs[b].kernels, runs[b].nkernels, kn);
                printf(" %-14s", r ? mlopt_conf_outcome_name(r->outcome) : runs[b].opened ? "-" : "unavailable");
            }
            printf("\n");
        }
        if (ng || op) {
            printf("%-26s", "gradients (pass/run)");
            for (int b = 0; b < nb; b++) {
                char cell[32];
                snprintf(cell, sizeof cell, "%d/%d", counts(runs[b].grads, runs[b].ngrads, MLOPT_CONF_PASS),
                         runs[b].ngrads);
                printf(" %-14s", cell);
            }
            printf("\n");
        }
        if (ntests) {
            printf("%-26s", "ONNX pass/fail/unsup.");
            for (int b = 0; b < nb; b++) {
                char cell[48];
                snprintf(cell, sizeof cell, "%d/%d/%d", counts(runs[b].onnx, runs[b].nonnx, MLOPT_CONF_PASS),
                         counts(runs[b].onnx, runs[b].nonnx, MLOPT_CONF_FAIL),
                         counts(runs[b].onnx, runs[b].nonnx, MLOPT_CONF_UNSUPPORTED));
                printf(" %-14s", cell);
            }
            printf("\n");
        }
        printf("%-26s", "training level");
        for (int b = 0; b < nb; b++)
            printf(" %-14s", runs[b].level >= 0 ? mlopt_conf_level_name(runs[b].level) : "-");
        printf("\n");
        int header = 0;
        for (int b = 0; b < nb; b++) {
            const backend_run *br = &runs[b];
            if (!br->opened) {
                printf("%s  %s: cannot open: %s\n", header++ ? "" : "\nproblems:\n", br->name, br->why);
                continue;
            }
            const mlopt_conf_result *lists[3] = { br->kernels, br->grads, br->onnx };
            int lens[3] = { br->nkernels, br->ngrads, br->nonnx };
            for (int l = 0; l < 3; l++)
                for (int i = 0; i < lens[l]; i++) {
                    const mlopt_conf_result *r = &lists[l][i];
                    if (r->outcome == MLOPT_CONF_PASS || (l == 2 && r->outcome == MLOPT_CONF_UNSUPPORTED))
                        continue;
                    printf("%s  %s %s %s: %s\n", header++ ? "" : "\nproblems (worst case: shape, index, got, want):\n",
                           br->name, r->name, mlopt_conf_outcome_name(r->outcome), r->detail);
                }
        }
        if (ntests)
            for (int b = 0; b < nb; b++)
                if (runs[b].opened && runs[b].nonnx) {
                    print_unsupported(&runs[b]);
                    break; /* the reasons are the same on every backend with every slot */
                }
        if (rused)
            printf("\nONNX regressions:\n%s\n", regress);
        printf("\n%s\n", failed ? "conformance: FAILED" : "conformance: all checks passed");
    }
    for (int b = 0; b < nb; b++) {
        free(runs[b].kernels);
        free(runs[b].grads);
        free(runs[b].onnx);
    }
    free(runs);
    for (int e = 0; e < nexp; e++)
        free(exp[e]);
    free(exp);
    mlopt_conformance_free_names(tests, ntests);
    return failed;
}
