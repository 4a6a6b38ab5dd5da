/*
 * results_file.c: the files results go to and come from: what a path names (a regular file,
 * a link, a FIFO, a device), the probe that finds a bad destination before anything is
 * measured, the one atomic writer, and the reader of whole regular files.
 *
 * Destinations (results.h, "files"): a regular file or a new name is replaced atomically; a
 * symbolic link is followed and its final target replaced, so that the link keeps pointing at
 * it; a FIFO or a character device is written through once; anything else is refused. Nothing
 * is ever renamed over what is not a regular file: the target is looked at again just before
 * the rename.
 */
#include "results/results_internal.h"

#include "core/input.h"
#include "core/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINK_HOPS 40 /* the kernel's own limit on links followed in one lookup */

/* The directory part of path, malloc'd; NULL without memory. */
static char *dir_of(const char *path)
{
    char *copy = strdup(path), *d = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    return d;
}

/*
 * The file path's symbolic links end at (path itself when it is not a link; the end may not
 * exist yet): each relative link is read from its own directory. malloc'd into *out; 0,
 * -ELOOP or -ENOMEM.
 */
static int follow_links(const char *path, char **out)
{
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) {
            *out = cur;
            return 0;
        }
        char link[PATH_MAX];
        ssize_t n = hops < MAX_LINK_HOPS ? readlink(cur, link, sizeof(link) - 1) : -1;
        if (n < 0) {
            int e = hops < MAX_LINK_HOPS ? errno : ELOOP;
            free(cur);
            return -e;
        }
        link[n] = '\0';
        char *next = NULL, *dir = link[0] == '/' ? NULL : dir_of(cur);
        if (link[0] == '/')
            next = strdup(link);
        else if (!dir || asprintf(&next, "%s/%s", dir, link) < 0)
            next = NULL;
        free(dir);
        free(cur);
        cur = next;
    }
    return -ENOMEM;
}

/*
 * Where a destination goes: for PB_FILE_REPLACE the file to replace (links followed), for
 * PB_FILE_STREAM path itself. 0, or -errno with "'PATH': problem" in err.
 */
static int destination(const char *path, char **target, enum pb_file_kind *kind, char *err,
                       size_t errsz)
{
    struct stat st;
    *target = NULL;
    *kind = PB_FILE_REPLACE;
    if (stat(path, &st) == 0) {
        if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
            *kind = PB_FILE_STREAM;
            *target = strdup(path);
            return *target ? 0 : -ENOMEM;
        }
        if (!S_ISREG(st.st_mode)) {
            pb_errf(err, errsz,
                    "cannot write results to '%s': it is %s (expected a regular file, a new file "
                    "name, a FIFO or a character device)",
                    path, pb_file_type_name(st.st_mode));
            return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        }
    } else if (errno != ENOENT) {
        int e = errno;
        pb_errf(err, errsz, "cannot write results to '%s': %s", path, strerror(e));
        return -e;
    }
    *kind = PB_FILE_REPLACE;
    int rc = follow_links(path, target);
    if (rc)
        pb_errf(err, errsz, "cannot write results to '%s': following its symbolic links: %s", path,
                strerror(-rc));
    return rc;
}

/* "'TARGET'", or "'PATH' (-> 'TARGET')" when a link led there, for messages. */
static void shown(char *buf, size_t sz, const char *path, const char *target)
{
    if (strcmp(path, target) == 0)
        snprintf(buf, sz, "'%s'", path);
    else
        snprintf(buf, sz, "'%s' (-> '%s')", path, target);
}

/*
 * The temporary sibling's template: "TARGET.tmp.XXXXXX", or "DIR/.popbench.tmp.XXXXXX" when
 * that name would be longer than a file name may be. malloc'd; NULL without memory.
 */
static char *temp_template(const char *target)
{
    const char *base = strrchr(target, '/');
    base = base ? base + 1 : target;
    char *t = NULL, *dir;
    if (strlen(base) + strlen(".tmp.XXXXXX") <= NAME_MAX)
        return asprintf(&t, "%s.tmp.XXXXXX", target) < 0 ? NULL : t;
    if (!(dir = dir_of(target)))
        return NULL;
    if (asprintf(&t, "%s/.popbench.tmp.XXXXXX", dir) < 0)
        t = NULL;
    free(dir);
    return t;
}

int pb_file_probe(const char *path, enum pb_file_kind *kind, char *err, size_t errsz)
{
    char *target = NULL, *tmp = NULL, who[2 * PATH_MAX];
    enum pb_file_kind k;
    if (!path || !*path || !kind) {
        pb_errf(err, errsz, "no file name");
        return -EINVAL;
    }
    int rc = destination(path, &target, &k, err, errsz);
    if (rc)
        return rc;
    shown(who, sizeof(who), path, target);
    if (k == PB_FILE_STREAM) {
        /* A FIFO may have no reader yet, and opening it would wait for one: only its mode is
         * asked. A device is opened. */
        struct stat st;
        if (stat(target, &st) == 0 && S_ISFIFO(st.st_mode)) {
            rc = access(target, W_OK) == 0 ? 0 : -errno;
        } else {
            int fd = open(target, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
            rc = fd < 0 ? -errno : 0;
            if (fd >= 0)
                close(fd);
        }
        if (rc)
            pb_errf(err, errsz, "cannot write results to %s: %s", who, strerror(-rc));
    } else {
        int fd = -1;
        if (!(tmp = temp_template(target)))
            rc = -ENOMEM;
        else if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
            rc = -errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        if (rc)
            pb_errf(err, errsz,
                    "cannot write results to %s: creating a temporary file beside it: %s", who,
                    strerror(-rc));
    }
    free(tmp);
    free(target);
    if (rc == 0)
        *kind = k;
    return rc;
}

/* All of data to fd; 0 or -errno. */
static int write_all(int fd, const void *data, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    return 0;
}

/* A FIFO or a device, written through: no temporary file, no rename, no fsync. */
static int write_stream(const char *path, const void *data, size_t len, char *err, size_t errsz)
{
    const char *step = "opening it";
    struct stat st;
    /* Blocks until a FIFO has a reader, as a shell's redirection does; a signal ends the wait. */
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY), rc = fd < 0 ? -errno : 0;
    if (rc == 0 && fstat(fd, &st) != 0)
        rc = -errno;
    else if (rc == 0 && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
        pb_errf(err, errsz, "cannot write results to '%s': it became %s", path,
                pb_file_type_name(st.st_mode));
        close(fd);
        return -EINVAL;
    }
    if (rc == 0) {
        step = "writing it";
        rc = write_all(fd, data, len);
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        step = "closing it";
        rc = -errno;
    }
    if (rc)
        pb_errf(err, errsz, "cannot write results to '%s': %s: %s", path, step, strerror(-rc));
    return rc;
}

/* Best effort: the rename is done; a directory that cannot be synced does not undo it. */
static void sync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(dir);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* A crash between the creation and the rename leaves at worst a stray temporary file. */
static int replace_file(const char *path, const char *target, const void *data, size_t len,
                        char *err, size_t errsz)
{
    char who[2 * PATH_MAX], *tmp = temp_template(target);
    shown(who, sizeof(who), path, target);
    if (!tmp) {
        pb_errf(err, errsz, "cannot write results to %s: out of memory", who);
        return -ENOMEM;
    }
    const char *step = "creating a temporary file beside it";
    bool created = false;
    struct stat st;
    int e = 0, fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        goto fail;
    created = true;
    /* A replaced file keeps its mode; a new one is readable by all, as results are shared. */
    mode_t mode = stat(target, &st) == 0 ? (st.st_mode & 07777) : 0644;
    step = "setting the temporary file's mode";
    if (fchmod(fd, mode))
        goto fail;
    step = "writing the temporary file";
    if ((e = -write_all(fd, data, len)) != 0)
        goto fail;
    step = "flushing the temporary file to disk";
    if (fsync(fd))
        goto fail;
    step = "closing the temporary file";
    int rc = close(fd);
    fd = -1;
    if (rc)
        goto fail;
    /* What is there now must still be a regular file, or nothing. */
    if (lstat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        unlink(tmp);
        free(tmp);
        pb_errf(err, errsz, "cannot write results to %s: it is now %s; not replaced", who,
                pb_file_type_name(st.st_mode));
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    step = "renaming the temporary file over it";
    if (rename(tmp, target))
        goto fail;
    free(tmp);
    sync_dir_of(target);
    return 0;
fail:
    e = e ? e : errno;
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    pb_errf(err, errsz, "cannot write results to %s: %s: %s", who, step, strerror(e));
    return -e;
}

int pb_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errsz)
{
    char *target;
    enum pb_file_kind kind;
    if (!path || !*path || (len && !data)) {
        pb_errf(err, errsz, "cannot write results: no file name or no data");
        return -EINVAL;
    }
    int rc = destination(path, &target, &kind, err, errsz);
    if (rc)
        return rc;
    rc = kind == PB_FILE_STREAM ? write_stream(target, data, len, err, errsz)
                                : replace_file(path, target, data, len, err, errsz);
    free(target);
    return rc;
}

int pb_file_read(const char *path, const char *what, char **data, size_t *len, char *err,
                 size_t errsz)
{
    *data = NULL;
    *len = 0;
    return pb_input_read(path, SIZE_MAX, NULL, what, data, len, err, errsz);
}

int pb_file_copy_atomic(const char *src, const char *dst, char *err, size_t errsz)
{
    char *data;
    size_t len;
    int rc = pb_file_read(src, "file", &data, &len, err, errsz);
    if (rc)
        return rc;
    rc = pb_file_write_atomic(dst, data, len, err, errsz);
    free(data);
    return rc;
}
