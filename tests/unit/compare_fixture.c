#include "tests/unit/compare_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void fx_assert_near(double a, double b, double eps, const char *expr, const char *file, int line)
{
    if (!(fabs(a - b) <= eps) && !(a == b)) {
        print_error("%s = %.17g, expected %.17g within %g\n", expr, a, b, eps);
        _fail(file, line);
    }
}

void fx_ctx_default(struct fx_ctx *c)
{
    *c = (struct fx_ctx){.commit = "aaaaaaaaaaaa",
                         .host = "testhost",
                         .cpu_model = "Test CPU 1.0GHz",
                         .compiler = "GNU 12.2.0",
                         .build_type = "Release",
                         .date = "2026-11-26T06:00:00+00:00",
                         .num_cpus = 2};
}

struct fx_bench fx_bench_default(const char *workload, const char *variant, int threads)
{
    return (struct fx_bench){.workload = workload,
                             .variant = variant,
                             .threads = threads,
                             .reps = 8,
                             .pps = 1e6,
                             .p50 = 2e4,
                             .p99 = 5e4,
                             .lock_wait = 10,
                             .lock_acq = 0.004,
                             .scrub = 1,
                             .noise = 0.01};
}

/* splitmix64, to stay independent of the code under test */
static double uniform_pm1(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0 * 2 - 1;
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

int fx_write(const char *path, const struct fx_ctx *c, const struct fx_bench *b, size_t n,
             uint64_t seed)
{
    json_t *ctx = json_object();
    set_str(ctx, "date", c->date);
    set_str(ctx, "host_name", c->host);
    json_object_set_new(ctx, "num_cpus", json_integer(c->num_cpus));
    json_object_set_new(ctx, "popbench_results_version", json_integer(1));
    set_str(ctx, "git_commit", c->commit);
    set_str(ctx, "build_type", c->build_type);
    set_str(ctx, "compiler", c->compiler);
    set_str(ctx, "cpu_model", c->cpu_model);
    json_object_set_new(ctx, "partial", json_boolean(c->partial));

    json_t *benches = json_array();
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s/%s/threads:%d", b[i].workload, b[i].variant, b[i].threads);
        for (int r = 0; r < b[i].reps; r++) {
            double nz = b[i].noise;
            double pps = b[i].pps * (1 + nz * uniform_pm1(&s));
            json_t *e = json_pack(
                "{s:s,s:s,s:s,s:i,s:i,s:i,s:s,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:I}",
                "name", name, "run_name", name, "run_type", "iteration", "repetitions", b[i].reps,
                "repetition_index", r, "threads", b[i].threads, "workload", b[i].workload,
                "variant", b[i].variant, "time_unit", "ns", "pages_per_second", pps, "real_time",
                256e9 / pps, "call_p50_ns", b[i].p50 * (1 + nz * uniform_pm1(&s)), "call_p99_ns",
                b[i].p99 * (1 + nz * uniform_pm1(&s)), "lock_wait_ns_per_page",
                b[i].lock_wait * (1 + nz * uniform_pm1(&s)), "lock_acq_per_page", b[i].lock_acq,
                "scrub_pages_per_page", b[i].scrub, "continuations_per_call", 0.0,
                "pages_populated", (json_int_t)(pps * 2), "iterations", (json_int_t)(pps / 128));
            if (b[i].instructions > 0)
                json_object_set_new(e, "instructions", json_real(b[i].instructions));
            json_array_append_new(benches, e);
        }
    }
    json_t *doc =
        json_pack("{s:o,s:o,s:{s:[]}}", "context", ctx, "benchmarks", benches, "popbench", "runs");
    int rc = json_dump_file(doc, path, JSON_INDENT(1)) ? -EIO : 0;
    json_decref(doc);
    return rc;
}

char *fx_tmpdir(void)
{
    char *dir = strdup("/tmp/pb-compare-test-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fx_rmtree(char *dir)
{
    if (dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *fx_path(const char *dir, const char *name)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int fx_run_captured(int (*fn)(int, char **), int argc, char **argv, char **out)
{
    char tmpl[] = "/tmp/pb-compare-out-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -errno;
    unlink(tmpl);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    int rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    *out = calloc((size_t)len + 1, 1);
    if (*out && pread(fd, *out, (size_t)len, 0) != len) {
        free(*out);
        *out = NULL;
    }
    close(fd);
    /* echo it, so a failing test shows what the command said */
    fputs(*out ? *out : "(output lost)\n", stdout);
    return rc;
}
