/*
 * results_fixture.c: results files and documents for the tests of results/ and cli/ (see
 * results_fixture.h).
 */
#include "tests/unit/results_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/prng.h"
#include "results/results.h"

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
                         .num_cpus = 2,
                         .false_alarm_rate = 0.02,
                         .detection_rate = 0.95};
}

/* context.calibration of c: 100 A/A and 100 known-effect verdicts at its rates. */
static int fx_calibrate(struct pb_results *doc, const struct fx_ctx *c)
{
    if (c->uncalibrated)
        return 0;
    struct pb_results_calibration cal = {
        .aa_runs = 10,
        .aa_verdicts = 100,
        .aa_false_alarms = (uint64_t)llround(c->false_alarm_rate * 100),
        .aa_false_alarm_rate = c->false_alarm_rate,
        .effect_ns = 50,
        .effect_runs = 10,
        .effect_verdicts = 100,
        .effect_detected = (uint64_t)llround(c->detection_rate * 100),
        .effect_detection_rate = c->detection_rate,
        .precision_target = 0.03,
        .date = c->date,
    };
    return pb_results_set_calibration(doc, &cal);
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

/* Uniform in [-1, 1). */
static double uniform_pm1(uint64_t *s)
{
    return (double)(pb_splitmix64(s) >> 11) / 9007199254740992.0 * 2 - 1;
}

int fx_write(const char *path, const struct fx_ctx *c, const struct fx_bench *b, size_t n,
             uint64_t seed)
{
    struct pb_results *doc;
    int rc = pb_results_create(&doc);
    if (rc)
        return rc;
    rc = pb_results_context_set_string(doc, "date", c->date);
    rc = rc ? rc : pb_results_context_set_string(doc, "host_name", c->host);
    rc = rc ? rc : pb_results_context_set_string(doc, "executable", "unknown");
    rc = rc ? rc : pb_results_context_set_int(doc, "num_cpus", c->num_cpus);
    rc = rc ? rc : pb_results_context_set_string(doc, "compiler", c->compiler);
    rc = rc ? rc : pb_results_context_set_string(doc, "kernel", "Linux test");
    rc = rc ? rc : pb_results_context_set_string(doc, "cpu_model", c->cpu_model);
    rc = rc ? rc : pb_results_set_build_info(doc, c->commit, c->build_type, NULL);
    rc = rc ? rc : pb_results_set_partial(doc, c->partial);
    rc = rc ? rc : fx_calibrate(doc, c);
    uint64_t s = seed;
    for (size_t i = 0; i < n && rc == 0; i++) {
        for (int r = 0; r < b[i].reps && rc == 0; r++) {
            double nz = b[i].noise, pps = b[i].pps * (1 + nz * uniform_pm1(&s));
            double p50 = b[i].p50 * (1 + nz * uniform_pm1(&s));
            double p99 = b[i].p99 * (1 + nz * uniform_pm1(&s));
            double wait = b[i].lock_wait * (1 + nz * uniform_pm1(&s));
            struct pb_results_bench_spec spec = {
                .workload = b[i].workload,
                .variant = b[i].variant,
                .threads = (unsigned)b[i].threads,
                .repetition_index = (unsigned)r,
                .repetitions = (unsigned)b[i].reps,
                .iterations = (uint64_t)(pps / 128),
                .real_time_ns = 256e9 / pps,
                .cpu_time_ns = 256e9 / pps,
            };
            struct pb_results_bench *e;
            rc = pb_results_add_bench(doc, &spec, &e);
            rc = rc ? rc : pb_results_bench_set_counter(e, "pages_per_second", pps);
            rc = rc ? rc : pb_results_bench_set_counter(e, "call_p50_ns", p50);
            rc = rc ? rc : pb_results_bench_set_counter(e, "call_p99_ns", p99);
            rc = rc ? rc : pb_results_bench_set_counter(e, "lock_wait_ns_per_page", wait);
            rc = rc ? rc : pb_results_bench_set_counter(e, "lock_acq_per_page", b[i].lock_acq);
            rc = rc ? rc : pb_results_bench_set_counter(e, "scrub_pages_per_page", b[i].scrub);
            rc = rc ? rc : pb_results_bench_set_counter(e, "continuations_per_call", 0);
            rc = rc ? rc : pb_results_bench_set_count(e, "pages_populated", (uint64_t)(pps * 2));
            if (b[i].instructions > 0)
                rc = rc ? rc : pb_results_bench_set_counter(e, "instructions", b[i].instructions);
        }
    }
    rc = rc ? rc : pb_results_write_json(doc, path, NULL, 0);
    pb_results_free(doc);
    return rc;
}

char *fx_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir;
    assert_true(asprintf(&dir, "%s/pb-results-XXXXXX", base && *base ? base : "/tmp") > 0);
    assert_non_null(mkdtemp(dir));
    /* Traversable by all: the unwritable-directory test runs a child as another user. */
    assert_int_equal(chmod(dir, 0755), 0);
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
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *fx_path(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

char *fx_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    assert_true(n >= 0);
    return buf;
}

/* Names in dir, sorted, joined by spaces. */
char *fx_dir_listing(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            fprintf(f, "%s%s", first ? "" : " ", names[i]->d_name);
            first = false;
        }
        free(names[i]);
    }
    free(names);
    fclose(f);
    return out;
}

char *fx_capture(int (*print)(const struct pb_results *, FILE *), const struct pb_results *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(print(d, f), 0);
    fclose(f);
    return buf;
}

/* ============================================================================================
 * A document with every section, deterministic apart from the environment
 * ========================================================================================== */

struct pb_results_bench *fx_add(struct pb_results *doc, const char *workload, const char *variant,
                                unsigned threads, unsigned rep, unsigned reps, double speed)
{
    struct pb_results_bench_spec spec = {
        .workload = workload,
        .variant = variant,
        .lock_kind = "ticket",
        .threads = threads,
        .repetition_index = rep,
        .repetitions = reps,
        .iterations = 1000 + rep,
        .real_time_ns = (812.5 + rep) / speed,
        .cpu_time_ns = (800.1 + rep) / speed,
    };
    struct pb_results_bench *b = NULL;
    assert_int_equal(pb_results_add_bench(doc, &spec, &b), 0);
    assert_non_null(b);
    return b;
}

/* speed scales the throughput figures: A and B of the compare.py test differ by it. */
static void fill_bench(struct pb_results_bench *b, double speed, unsigned rep, bool sections)
{
    assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", speed * (1.2e6 + rep)), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "gib_per_second", speed * 4.5), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", 100.0 * (rep + 1)), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p99_ns", 1500.25), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p999_ns", 0.1), 0); /* not exact */
    assert_int_equal(pb_results_bench_set_counter(b, "lock_contended_pct", 12.5), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "lock_wait_ns_per_page", 1e-300), 0);
    assert_int_equal(pb_results_bench_set_string(b, "lock_hottest", "heap.node0"), 0);
    assert_int_equal(pb_results_bench_set_count(b, "pages_populated", 123456789012345ull), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "zeta_custom", 123456789.123456789), 0);
    if (!sections)
        return;
    const struct pb_results_bucket buckets[] = {{0, 64, 3}, {64, 128, 10}, {256, 512, 1}};
    assert_int_equal(pb_results_bench_set_histogram(b, "call_ns", buckets, 3), 0);
    assert_int_equal(pb_results_bench_set_histogram(b, "p2m_lookup_ns", NULL, 0), 0);
    const struct pb_results_lock lock = {"heap.node0", 100, 7, 5000, 900, 20000, 300, false};
    assert_int_equal(pb_results_bench_add_lock(b, &lock), 0);
    const uint64_t t[] = {100, 200, 300}, pages[] = {10, 20, 30}, backlog[] = {5, 0, 0};
    assert_int_equal(pb_results_bench_set_timeseries(b, 100, t, 3), 0);
    assert_int_equal(pb_results_bench_add_series(b, "pages", pages, 3), 0);
    assert_int_equal(pb_results_bench_add_series(b, "scrub_backlog", backlog, 3), 0);
    const struct pb_results_thread th0 = {0, 0, 0, 0, 500, 50}, th1 = {1, 1, 0, 1, 700, 60};
    assert_int_equal(pb_results_bench_add_thread(b, &th0), 0);
    assert_int_equal(pb_results_bench_add_thread(b, &th1), 0);
    const struct pb_results_scrub scrub = {100, 200, 0, 3};
    assert_int_equal(pb_results_bench_set_scrub(b, &scrub), 0);
    assert_int_equal(pb_results_bench_set_validator(b, "ok"), 0);
}

/* real_env: what this machine reports; otherwise fixed values, for documents built twice. */
void fx_fill_context(struct pb_results *doc, bool real_env)
{
    if (real_env) {
        assert_int_equal(pb_results_fill_environment(doc), 0);
    } else {
        assert_int_equal(pb_results_context_set_string(doc, "date", "2026-11-26T06:00:00+00:00"),
                         0);
        assert_int_equal(pb_results_context_set_string(doc, "host_name", "h"), 0);
        assert_int_equal(pb_results_context_set_string(doc, "executable", "/bin/popbench"), 0);
        assert_int_equal(pb_results_context_set_int(doc, "num_cpus", 2), 0);
        assert_int_equal(pb_results_context_set_string(doc, "compiler", "GNU 12.2.0"), 0);
        assert_int_equal(pb_results_context_set_string(doc, "kernel", "Linux 6.1"), 0);
    }
    assert_int_equal(pb_results_set_build_info(doc, "abc123def456", "RelWithDebInfo", "-O2 -g"), 0);
    assert_int_equal(pb_results_set_library_version(doc, "hwloc", "2.9.0"), 0);
    assert_int_equal(pb_results_context_set_string(doc, "topology_real", "pack:1 core:2 pu:1"), 0);
    assert_int_equal(pb_results_context_set_string(doc, "backing", "real"), 0);
    assert_int_equal(pb_results_context_set_bool(doc, "oversubscribed", false), 0);
    assert_int_equal(pb_results_context_set_bool(doc, "jemalloc_active", true), 0);
    assert_int_equal(pb_results_context_set_int(doc, "seed", 1), 0);
    char *argv[] = {"popbench", "run", "--workload", "bootstorm"};
    assert_int_equal(pb_results_set_command_line(doc, 4, argv), 0);
}

/*
 * bootstorm/xen/threads:{1,2} and bootstorm/pernode/threads:2, three repetitions each; speed
 * scales throughput up and time per call down.
 */
struct pb_results *fx_sample_doc(double speed, bool sections, bool real_env)
{
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    fx_fill_context(doc, real_env);
    static const struct {
        const char *variant;
        unsigned threads;
    } cases[] = {{"xen", 1}, {"xen", 2}, {"pernode", 2}};
    for (size_t c = 0; c < 3; c++)
        for (unsigned rep = 0; rep < 3; rep++)
            fill_bench(fx_add(doc, "bootstorm", cases[c].variant, cases[c].threads, rep, 3, speed),
                       speed, rep, sections);
    return doc;
}

struct pb_results *fx_load_ok(const char *path)
{
    struct pb_results *doc = NULL;
    char err[PB_RESULTS_ERR_LEN];
    int rc = pb_results_load(path, &doc, err, sizeof(err));
    if (rc)
        fail_msg("load %s: %d %s", path, rc, err);
    return doc;
}

/* Loads a file expected to be refused; returns the message (static buffer). */
const char *fx_load_fails(const char *path, int expect_rc)
{
    static char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = NULL;
    assert_int_equal(pb_results_load(path, &doc, err, sizeof(err)), expect_rc);
    assert_null(doc);
    assert_non_null(strstr(err, path));
    return err;
}

json_t *fx_load_json(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

void fx_dump_json(const json_t *j, const char *path)
{
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(1)), 0);
}

int fx_run_captured(int (*fn)(int, char **), int argc, char **argv, char **out)
{
    const char *base = getenv("TMPDIR");
    char *tmpl;
    if (asprintf(&tmpl, "%s/pb-compare-out-XXXXXX", base && *base ? base : "/tmp") < 0)
        return -ENOMEM;
    int fd = mkstemp(tmpl);
    if (fd >= 0)
        unlink(tmpl);
    free(tmpl);
    if (fd < 0)
        return -errno;
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
