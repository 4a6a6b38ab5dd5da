/*
 * fuzz_workload: a libFuzzer target for the workload loader (workloads/).
 *
 * Each input is written as DIR/fuzz.yaml, in a directory that also holds the shipped workloads
 * and the test fixtures, so that suite entries resolve, and loaded with pb_workload_load. The
 * loader's own promises are checked, and any broken one aborts (a crash to libFuzzer):
 *   - it never crashes, leaks (ASan's leak check) or blocks (libFuzzer's -timeout);
 *   - a load fails with -EINVAL (or -ENOMEM) and a message whose every line is
 *     `FILE:LINE:COL: text`, FILE one of DIR's files, LINE and COL from 1, and an empty workload;
 *   - a loaded workload is named after its file and dumps; a single one's dump loads back to the
 *     same dump; a machine from the topology binds, or fails with a positioned message too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workloads/workload.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX];
static char input[PATH_MAX + 16];

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_workload: broken promise: %s: ", #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *p = data;

    CHECK(fd >= 0, "%s: %s", path, strerror(errno));
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        CHECK(n > 0, "%s: %s", path, strerror(errno));
        p += n;
        size -= (size_t)n;
    }
    CHECK(close(fd) == 0, "%s: %s", path, strerror(errno));
}

/* Copies every *.yaml of src into dir (fuzz.yaml excepted: that is the input's). */
static void copy_workloads(const char *src)
{
    char cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof(cmd), "cp '%s'/*.yaml '%s'/ && rm -f '%s'/fuzz.yaml", src, dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

static void remove_dir(void)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_workload: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "%s/pb-fuzz-workload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    atexit(remove_dir);
    copy_workloads(POPBENCH_SOURCE_DIR "/workloads");
    copy_workloads(POPBENCH_SOURCE_DIR "/tests/data/workloads");
    snprintf(input, sizeof(input), "%s/fuzz.yaml", dir);
    return 0;
}

/* Every line: DIR/NAME:LINE:COL: text. */
static void check_message(const char *err)
{
    const size_t dirlen = strlen(dir);

    CHECK(err[0], "an error without a message");
    for (const char *line = err; line;) {
        const char *end = strchr(line, '\n'), *colon;
        unsigned long l, c;
        char *next;

        CHECK(strncmp(line, dir, dirlen) == 0 && line[dirlen] == '/', "no file in: %s", err);
        colon = strchr(line + dirlen, ':');
        CHECK(colon && (!end || colon < end), "no position in: %s", err);
        l = strtoul(colon + 1, &next, 10);
        CHECK(l >= 1 && *next == ':', "no line in: %s", err);
        c = strtoul(next + 1, &next, 10);
        CHECK(c >= 1 && next[0] == ':' && next[1] == ' ' && next[2] && next[2] != '\n',
              "no column or text in: %s", err);
        line = end ? end + 1 : NULL;
    }
}

static char *dump(const struct pb_workload *wl)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    CHECK(f, "open_memstream");
    CHECK(pb_workload_dump(f, wl) == 0, "the dump of a loaded workload fails");
    CHECK(fclose(f) == 0, "fclose");
    return text;
}

static void check_loaded(struct pb_workload *wl)
{
    char err[4096] = "";
    char *first, *second;
    struct pb_workload again;
    int rc;

    CHECK(wl->name && strcmp(wl->name, "fuzz") == 0, "named '%s'", wl->name);
    CHECK(wl->description && wl->description[0] && !strchr(wl->description, '\n'),
          "a description that is not one line");
    first = dump(wl);
    if (wl->kind == PB_WL_SINGLE) {
        CHECK(wl->nr_groups >= 1 && wl->nr_domains >= 1 && wl->nr_domains <= PB_WL_MAX_DOMAINS,
              "%u domains in %u groups", wl->nr_domains, wl->nr_groups);
        /* What the model can hold and the runner can run. */
        CHECK(wl->machine.from_topology ||
                  (uint64_t)wl->machine.nodes * wl->machine.pages_per_node < PB_MAX_FRAMES,
              "%u nodes of %llu frames", wl->machine.nodes,
              (unsigned long long)wl->machine.pages_per_node);
        CHECK(wl->scrub.mode != PB_WL_SCRUB_NONE, "scrub mode none loaded");
        write_file(input, first, strlen(first));
        rc = pb_workload_load(input, &again, err, sizeof(err));
        CHECK(rc == 0, "the dump does not load back: %s\n%s", err, first);
        second = dump(&again);
        CHECK(strcmp(first, second) == 0, "the dump changes on reload:\n%s---\n%s", first, second);
        free(second);
        pb_workload_free(&again);
    } else {
        CHECK(wl->nr_members >= 1 && wl->nr_members <= PB_WL_MAX_SUITE, "%u members",
              wl->nr_members);
    }
    free(first);
    /* A machine of the harness's: two nodes of 1 GiB. */
    rc = pb_workload_bind_machine(wl, 2, UINT64_C(1) << (30 - PB_WL_PAGE_SHIFT), err, sizeof(err));
    CHECK(rc == 0 || rc == -EINVAL, "bind: rc %d", rc);
    if (rc)
        check_message(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pb_workload wl;
    char err[4096] = "";
    int rc;

    write_file(input, data, size);
    memset(&wl, 0x5a, sizeof(wl)); /* the loader must empty it whatever it held */
    rc = pb_workload_load(input, &wl, err, sizeof(err));
    if (rc == 0) {
        check_loaded(&wl);
        pb_workload_free(&wl);
        return 0;
    }
    CHECK(rc == -EINVAL || rc == -ENOMEM, "rc %d: %s", rc, err);
    CHECK(!wl.name && !wl.groups && !wl.members, "a failed load left the workload filled in");
    if (rc == -EINVAL)
        check_message(err);
    return 0;
}
