/*
 * input.c: a user's file read whole: regular files only, bounded, never blocking.
 */
#include "core/input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pb.h"

const char *pb_file_type_name(unsigned mode)
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
    if (S_ISLNK(mode))
        return "a symbolic link";
    return S_ISREG(mode) ? "a regular file" : "a special file";
}

/* Who the messages are about: the file, and the flag that named it (or NULL). */
struct subject {
    const char *path, *flag, *kind;
    char *err;
    size_t errlen;
};

/* "PATH: is a FIFO (expected a KIND)", or "FLAG: 'PATH' is a FIFO (expected a KIND)". */
static int refuse(const struct subject *s, int rc, const char *state, const char *expected_more)
{
    if (s->flag)
        pb_errf(s->err, s->errlen, "%s: '%s' %s (expected a %s%s)", s->flag, s->path, state,
                s->kind, expected_more);
    else
        pb_errf(s->err, s->errlen, "%s: %s (expected a %s%s)", s->path, state, s->kind,
                expected_more);
    return rc;
}

/* A system call that failed on the file: "PATH: cannot open: why (...)", or with the flag
 * "FLAG: cannot open 'PATH': why (...)". Returns -errno. */
static int sys_failure(const struct subject *s, const char *verb)
{
    int rc = -errno;

    if (s->flag)
        pb_errf(s->err, s->errlen, "%s: cannot %s '%s': %s (expected a readable %s)", s->flag, verb,
                s->path, strerror(-rc), s->kind);
    else
        pb_errf(s->err, s->errlen, "%s: cannot %s: %s (expected a readable %s)", s->path, verb,
                strerror(-rc), s->kind);
    return rc;
}

static int check_type(const struct subject *s, const struct stat *st)
{
    char state[64];

    if (S_ISREG(st->st_mode))
        return 0;
    snprintf(state, sizeof(state), "is %s", pb_file_type_name(st->st_mode));
    return refuse(s, S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL, state, "");
}

static int too_large(const struct subject *s, size_t max_bytes)
{
    char size[32], state[64], more[64];

    if (max_bytes % (1 << 20) == 0)
        snprintf(size, sizeof(size), "%zuMiB", max_bytes >> 20);
    else
        snprintf(size, sizeof(size), "%zu bytes", max_bytes);
    snprintf(state, sizeof(state), "is larger than %s", size);
    snprintf(more, sizeof(more), " of at most %s", size);
    return refuse(s, -EINVAL, state, more);
}

int pb_input_read(const char *path, size_t max_bytes, const char *flag, const char *kind,
                  char **buf, size_t *len, char *err, size_t errlen)
{
    const struct subject s = {path, flag, kind, err, errlen};
    struct stat st;
    size_t got = 0, cap;
    char *data;
    int fd, rc;

    *buf = NULL;
    *len = 0;
    if (stat(path, &st) != 0)
        return sys_failure(&s, "open");
    if ((rc = check_type(&s, &st)))
        return rc;
    /* O_NONBLOCK: should the path have become a FIFO since stat, open must not wait for a
     * writer; fstat then sees what was really opened. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sys_failure(&s, "open");
    if (fstat(fd, &st) != 0) {
        rc = sys_failure(&s, "read");
        goto out_fd;
    }
    if ((rc = check_type(&s, &st)))
        goto out_fd;
    if ((uint64_t)st.st_size > max_bytes) {
        rc = too_large(&s, max_bytes);
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
            rc = sys_failure(&s, "read");
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (!data || (got == cap && cap <= max_bytes)) {
        free(data);
        pb_errf(err, errlen, "%s: out of memory", path);
        rc = -ENOMEM;
        goto out_fd;
    }
    if (!rc && got > max_bytes)
        rc = too_large(&s, max_bytes);
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
