/*
 * input.c: a user's file read whole: regular files only, bounded, never blocking.
 */
#include "workloads/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pb.h"

/* What a file that is not regular is, for "<path>: is <a FIFO>". */
static const char *file_type(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

static int check_type(const struct stat *st, const char *what, const char *kind, char *err,
                      size_t errlen)
{
    if (S_ISREG(st->st_mode))
        return 0;
    pb_errf(err, errlen, "%s: is %s (expected a %s)", what, file_type(st->st_mode), kind);
    return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
}

/* A system call that failed on the file: -errno, with a message. */
static int sys_failure(const char *verb, const char *what, const char *kind, char *err,
                       size_t errlen)
{
    int rc = -errno;

    pb_errf(err, errlen, "%s: cannot %s: %s (expected a readable %s)", what, verb, strerror(-rc),
            kind);
    return rc;
}

static void size_str(size_t bytes, char *buf, size_t len)
{
    if (bytes % (1 << 20) == 0)
        snprintf(buf, len, "%zuMiB", bytes >> 20);
    else
        snprintf(buf, len, "%zu bytes", bytes);
}

static int too_large(size_t max_bytes, const char *what, const char *kind, char *err, size_t errlen)
{
    char max[32];

    size_str(max_bytes, max, sizeof(max));
    pb_errf(err, errlen, "%s: is larger than %s (expected a %s of at most %s)", what, max, kind,
            max);
    return -EINVAL;
}

int pb_input_read(const char *path, size_t max_bytes, const char *what, const char *kind,
                  char **buf, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    size_t got = 0, cap;
    char *data;
    int fd, rc;

    *buf = NULL;
    *len = 0;
    if (stat(path, &st) != 0)
        return sys_failure("open", what, kind, err, errlen);
    if ((rc = check_type(&st, what, kind, err, errlen)))
        return rc;
    /* O_NONBLOCK: should the path have become a FIFO since stat, open must not wait for a
     * writer; fstat then sees what was really opened. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sys_failure("open", what, kind, err, errlen);
    if (fstat(fd, &st) != 0) {
        rc = sys_failure("read", what, kind, err, errlen);
        goto out_fd;
    }
    if ((rc = check_type(&st, what, kind, err, errlen)))
        goto out_fd;
    if ((uint64_t)st.st_size > max_bytes) {
        rc = too_large(max_bytes, what, kind, err, errlen);
        goto out_fd;
    }
    /* Room for what fstat saw; a file that grows since is read on, to one byte past the limit. */
    cap = (size_t)st.st_size < max_bytes ? (size_t)st.st_size + 1 : max_bytes + 1;
    data = malloc(cap + 1);
    while (data) {
        ssize_t n;

        if (got == cap) {
            char *grown;
            if (cap > max_bytes)
                break;
            cap = cap > max_bytes / 2 ? max_bytes + 1 : 2 * cap;
            if (!(grown = realloc(data, cap + 1)))
                break;
            data = grown;
        }
        n = read(fd, data + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sys_failure("read", what, kind, err, errlen);
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (!data || (got == cap && cap <= max_bytes)) {
        free(data);
        pb_errf(err, errlen, "%s: out of memory", what);
        rc = -ENOMEM;
        goto out_fd;
    }
    if (!rc && got > max_bytes)
        rc = too_large(max_bytes, what, kind, err, errlen);
    if (rc) {
        free(data);
        goto out_fd;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
out_fd:
    close(fd);
    return rc;
}
