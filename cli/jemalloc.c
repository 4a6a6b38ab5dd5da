/*
 * jemalloc.c: whether jemalloc serves this process's malloc. The popbench binary links it with
 * --no-as-needed (cli/popbench.cmake); a sanitizer build replaces malloc with its own.
 */
#include "cli/cli.h"

#include <jemalloc/jemalloc.h>
#include <stdint.h>
#include <stdlib.h>

const char *pb_cli_jemalloc_version(void)
{
    static const char *ver;
    size_t len = sizeof(ver);
    if (!ver && mallctl("version", (void *)&ver, &len, NULL, 0) != 0)
        ver = NULL;
    return ver;
}

bool pb_cli_jemalloc_active(void)
{
    uint64_t before = 0, after = 0;
    size_t len = sizeof(uint64_t);

    if (!pb_cli_jemalloc_version())
        return false;
    if (mallctl("thread.allocated", &before, &len, NULL, 0) != 0)
        return false;
    void *volatile p = malloc(4096);
    len = sizeof(uint64_t);
    int rc = mallctl("thread.allocated", &after, &len, NULL, 0);
    free(p);
    /* Under a sanitizer malloc is the sanitizer's, and jemalloc sees nothing. */
    return rc == 0 && after > before;
}
