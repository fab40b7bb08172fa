/* Plugin discovery.  Search order: MLOPT_PLUGIN_PATH (colon-separated),
 * then the install directory (next to libmlopt, then the configured
 * prefix), then the build tree.  The first file for a name wins. */
#define _GNU_SOURCE 1 /* dladdr */
#include "plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_slots.h"
#include "error.h"

#define PLUGIN_PREFIX "mlopt-backend-"
#define PLUGIN_SUFFIX ".so"
#define MAX_DIRS 32

static void append_dir(char dirs[][1024], int *n, const char *dir, size_t len)
{
    if (len == 0 || *n >= MAX_DIRS || len >= 1024)
        return;
    for (int i = 0; i < *n; i++)
        if (strlen(dirs[i]) == len && strncmp(dirs[i], dir, len) == 0)
            return;
    memcpy(dirs[*n], dir, len);
    dirs[*n][len] = '\0';
    (*n)++;
}

/* Directory of libmlopt itself, so an installed tree can be moved. */
static int library_plugin_dir(char *buf, size_t len)
{
    Dl_info info;
    if (!dladdr((void *)&mlopt_plugin_search_path, &info) || !info.dli_fname)
        return 0;
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return 0;
    int w = snprintf(buf, len, "%.*s/mlopt/plugins", (int)(slash - info.dli_fname), info.dli_fname);
    return w > 0 && (size_t)w < len;
}

static int search_dirs(char dirs[][1024])
{
    int n = 0;
    const char *env = getenv("MLOPT_PLUGIN_PATH");
    if (env) {
        const char *p = env;
        while (*p) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            append_dir(dirs, &n, p, len);
            p += len;
            if (*p == ':')
                p++;
        }
    }
    char libdir[1024];
    if (library_plugin_dir(libdir, sizeof libdir))
        append_dir(dirs, &n, libdir, strlen(libdir));
    append_dir(dirs, &n, MLOPT_INSTALL_PLUGIN_DIR, strlen(MLOPT_INSTALL_PLUGIN_DIR));
    append_dir(dirs, &n, MLOPT_BUILD_PLUGIN_DIR, strlen(MLOPT_BUILD_PLUGIN_DIR));
    return n;
}

void mlopt_plugin_search_path(char *buf, size_t len)
{
    char dirs[MAX_DIRS][1024];
    int n = search_dirs(dirs);
    size_t used = 0;
    if (len)
        buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ":" : "", dirs[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int mlopt_plugin_open_file(const char *path, mlopt_loaded_plugin *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot load %s: %s", path, e ? e : "unknown dlopen error");
        return 1;
    }
    mlopt_backend_entry_fn entry;
    void *sym = dlsym(dl, MLOPT_BACKEND_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(why, whylen, "%s does not export %s(): not an mlopt backend plugin", path,
                 MLOPT_BACKEND_ENTRY_SYMBOL);
        dlclose(dl);
        return 1;
    }
    memcpy(&entry, &sym, sizeof entry);
    const mlopt_backend *be = entry();
    if (!be) {
        snprintf(why, whylen, "%s: %s() returned NULL", path, MLOPT_BACKEND_ENTRY_SYMBOL);
        dlclose(dl);
        return 1;
    }
    if (be->abi_major != MLOPT_BACKEND_ABI_MAJOR) {
        snprintf(why, whylen,
                 "%s was built for backend ABI %u.%u but this mlopt needs ABI %d.x: "
                 "rebuild the plugin against this mlopt's include/mlopt/backend.h",
                 path, be->abi_major, be->abi_minor, MLOPT_BACKEND_ABI_MAJOR);
        dlclose(dl);
        return 1;
    }
    size_t min_size = offsetof(mlopt_backend, probe);
    if (be->struct_size < min_size || !be->name || !be->name[0]) {
        snprintf(why, whylen, "%s: backend table is malformed (struct_size %zu, name %s)", path,
                 be->struct_size, be->name ? be->name : "NULL");
        dlclose(dl);
        return 1;
    }
    /* Copy what the plugin has; newer slots it does not know stay NULL. */
    size_t n = be->struct_size < sizeof out->be ? be->struct_size : sizeof out->be;
    memcpy(&out->be, be, n);
    out->be.struct_size = n;

    int nslots;
    const mlopt_slot_desc *slots = mlopt_backend_slots(&nslots);
    char missing[512] = "";
    size_t used = 0;
    for (int i = 0; i < nslots; i++) {
        if (slots[i].required && !mlopt_backend_has_slot(&out->be, slots[i].offset)) {
            int w = snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "",
                             slots[i].name);
            if (w > 0 && (size_t)w < sizeof missing - used)
                used += (size_t)w;
        }
    }
    if (used) {
        snprintf(why, whylen, "backend %s (%s) does not implement required slot(s): %s",
                 out->be.name, path, missing);
        dlclose(dl);
        return 1;
    }
    out->dl = dl;
    return 0;
}

void mlopt_plugin_close(mlopt_loaded_plugin *p)
{
    /* Plugins stay mapped: OpenCL ICDs and Vulkan drivers register exit
     * handlers that must still be there when the process ends. */
    (void)p;
}

static int has_plugin_name(const char *file)
{
    size_t len = strlen(file), pl = strlen(PLUGIN_PREFIX), sl = strlen(PLUGIN_SUFFIX);
    return len > pl + sl && strncmp(file, PLUGIN_PREFIX, pl) == 0 &&
           strcmp(file + len - sl, PLUGIN_SUFFIX) == 0;
}

/* Calls fn(path, stem) for each plugin file in search order, first per stem. */
typedef void (*visit_fn)(const char *path, const char *stem, void *user);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void visit_plugins(visit_fn fn, void *user)
{
    char dirs[MAX_DIRS][1024];
    int ndirs = search_dirs(dirs);
    char seen[64][64];
    int nseen = 0;
    for (int d = 0; d < ndirs; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        char *names[256];
        int nnames = 0;
        struct dirent *ent;
        while ((ent = readdir(dir)) && nnames < 256)
            if (has_plugin_name(ent->d_name))
                names[nnames++] = strdup(ent->d_name);
        closedir(dir);
        qsort(names, (size_t)nnames, sizeof names[0], cmp_str);
        for (int i = 0; i < nnames; i++) {
            if (!names[i])
                continue;
            char stem[64];
            size_t sl = strlen(names[i]) - strlen(PLUGIN_PREFIX) - strlen(PLUGIN_SUFFIX);
            if (sl >= sizeof stem)
                sl = sizeof stem - 1;
            memcpy(stem, names[i] + strlen(PLUGIN_PREFIX), sl);
            stem[sl] = '\0';
            int dup = 0;
            for (int s = 0; s < nseen; s++)
                dup |= strcmp(seen[s], stem) == 0;
            if (!dup && nseen < 64) {
                snprintf(seen[nseen++], sizeof seen[0], "%s", stem);
                char path[2048];
                snprintf(path, sizeof path, "%.1023s/%.255s", dirs[d], names[i]);
                fn(path, stem, user);
            }
            free(names[i]);
        }
    }
}

struct find_state {
    const char *want;
    char path[2048];
};

static void find_visit(const char *path, const char *stem, void *user)
{
    struct find_state *st = user;
    if (!st->path[0] && strcmp(stem, st->want) == 0)
        snprintf(st->path, sizeof st->path, "%s", path);
}

struct name_list {
    char text[1024];
};

static void list_visit(const char *path, const char *stem, void *user)
{
    (void)path;
    struct name_list *l = user;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s%s", used ? ", " : "", stem);
}

mlopt_status mlopt_plugin_open_by_name(const char *name, mlopt_loaded_plugin *out)
{
    struct find_state st = { name, "" };
    visit_plugins(find_visit, &st);
    if (!st.path[0]) {
        struct name_list l = { "" };
        visit_plugins(list_visit, &l);
        char sp[2048];
        mlopt_plugin_search_path(sp, sizeof sp);
        return mlopt_set_error(MLOPT_E_NOT_FOUND,
                               "unknown backend '%s': no file %s%s%s on the plugin path (%s); "
                               "available backends: %s (run `mlopt backends` for details, "
                               "or add a directory to MLOPT_PLUGIN_PATH)",
                               name, PLUGIN_PREFIX, name, PLUGIN_SUFFIX, sp,
                               l.text[0] ? l.text : "none");
    }
    char why[1024];
    if (mlopt_plugin_open_file(st.path, out, why, sizeof why))
        return mlopt_set_error(MLOPT_E_BACKEND, "backend '%s' refused: %s", name, why);
    if (strcmp(out->be.name, name) != 0)
        return mlopt_set_error(MLOPT_E_BACKEND, "backend file %s calls itself '%s', not '%s'",
                               st.path, out->be.name, name);
    return MLOPT_OK;
}

struct scan_state {
    mlopt_plugin_report *list;
    int count, cap;
    int failed_alloc;
};

static void scan_visit(const char *path, const char *stem, void *user)
{
    struct scan_state *st = user;
    if (st->count == st->cap) {
        int cap = st->cap ? st->cap * 2 : 8;
        mlopt_plugin_report *l = realloc(st->list, (size_t)cap * sizeof *l);
        if (!l) {
            st->failed_alloc = 1;
            return;
        }
        st->list = l;
        st->cap = cap;
    }
    mlopt_plugin_report *r = &st->list[st->count++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", stem);
    snprintf(r->path, sizeof r->path, "%s", path);
    mlopt_loaded_plugin p;
    if (mlopt_plugin_open_file(path, &p, r->why, sizeof r->why))
        return;
    snprintf(r->name, sizeof r->name, "%s", p.be.name);
    r->abi_major = p.be.abi_major;
    r->abi_minor = p.be.abi_minor;
    char err[512] = "";
    int n = 0;
    if (p.be.probe(r->devices, MLOPT_MAX_DEVICES, &n, err, sizeof err)) {
        snprintf(r->why, sizeof r->why, "%s", err[0] ? err : "probe failed");
        return;
    }
    r->device_count = n < MLOPT_MAX_DEVICES ? n : MLOPT_MAX_DEVICES;
    int any = 0;
    for (int i = 0; i < r->device_count; i++)
        any |= r->devices[i].usable;
    if (!any) {
        snprintf(r->why, sizeof r->why, "%s", r->device_count ? "no usable device" : "no device found");
        return;
    }
    r->usable = 1;
}

mlopt_status mlopt_plugins_scan(mlopt_plugin_report **out, int *count)
{
    struct scan_state st = { NULL, 0, 0, 0 };
    visit_plugins(scan_visit, &st);
    if (st.failed_alloc) {
        free(st.list);
        return mlopt_set_error(MLOPT_E_NOMEM, "out of memory while scanning plugins");
    }
    *out = st.list;
    *count = st.count;
    return MLOPT_OK;
}
