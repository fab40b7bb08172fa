#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static void atomic_release(mlopt_atomic_file *af)
{
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
}

mlopt_status mlopt_atomic_open(const char *path, mlopt_atomic_file *af)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path)
        return mlopt_set_error(MLOPT_E_INVALID, "atomic write: empty path");
    size_t len = strlen(path);
    af->path = malloc(len + 1);
    af->tmp_path = malloc(len + 32);
    if (!af->path || !af->tmp_path) {
        atomic_release(af);
        return mlopt_set_error(MLOPT_E_NOMEM, "atomic write %s: out of memory", path);
    }
    memcpy(af->path, path, len + 1);
    /* The pid keeps concurrent writers (e.g. tuning trials) off each other's
     * temporary files. */
    snprintf(af->tmp_path, len + 32, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        mlopt_status s = mlopt_set_error(MLOPT_E_IO, "cannot create %s: %s", af->tmp_path, strerror(errno));
        atomic_release(af);
        return s;
    }
    return MLOPT_OK;
}

mlopt_status mlopt_atomic_write(mlopt_atomic_file *af, const void *data, size_t n)
{
    if (af->status || n == 0)
        return af->status;
    if (!af->fp)
        return af->status = mlopt_set_error(MLOPT_E_INVALID, "atomic write: file is not open");
    if (fwrite(data, 1, n, af->fp) != n)
        af->status = mlopt_set_error(MLOPT_E_IO, "writing %s failed: %s", af->tmp_path, strerror(errno));
    return af->status;
}

/* Make the rename itself durable. */
static mlopt_status fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return mlopt_set_error(MLOPT_E_NOMEM, "atomic write %s: out of memory", path);
    mlopt_status s = MLOPT_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        s = mlopt_set_error(MLOPT_E_IO, "cannot open directory %s to fsync it: %s", dir, strerror(errno));
    } else {
        /* Some file systems cannot fsync a directory (EINVAL); the rename
         * has still happened, so only real I/O errors count. */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
            s = mlopt_set_error(MLOPT_E_IO, "fsync of directory %s failed: %s", dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

mlopt_status mlopt_atomic_commit(mlopt_atomic_file *af)
{
    mlopt_status s = af->status;
    if (!af->fp)
        return s ? s : mlopt_set_error(MLOPT_E_INVALID, "atomic write: file is not open");
    if (!s && fflush(af->fp) != 0)
        s = mlopt_set_error(MLOPT_E_IO, "writing %s failed: %s", af->tmp_path, strerror(errno));
    if (!s && fsync(fileno(af->fp)) != 0)
        s = mlopt_set_error(MLOPT_E_IO, "fsync of %s failed: %s", af->tmp_path, strerror(errno));
    int close_failed = fclose(af->fp) != 0;
    af->fp = NULL;
    if (!s && close_failed)
        s = mlopt_set_error(MLOPT_E_IO, "closing %s failed: %s", af->tmp_path, strerror(errno));
    if (!s && rename(af->tmp_path, af->path) != 0)
        s = mlopt_set_error(MLOPT_E_IO, "cannot rename %s to %s: %s", af->tmp_path, af->path, strerror(errno));
    if (s) {
        unlink(af->tmp_path);
        atomic_release(af);
        return s;
    }
    s = fsync_parent_dir(af->path);
    atomic_release(af);
    return s;
}

void mlopt_atomic_abort(mlopt_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
        unlink(af->tmp_path);
    }
    atomic_release(af);
}
