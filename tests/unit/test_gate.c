/*
 * test_gate: `gate` exit codes on synthetic runs: 0 pass, 1 regression in a deterministic
 * metric or a confirmed wall-clock one, 3 environment mismatch, unconfirmed wall-clock failure
 * or a wall-clock tier refused for want of a calibration that supports it, 2 bad input or
 * nothing gated; --update; and the pairing of repeatable (operation-bounded, single-thread)
 * runs repetition by repetition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/cli.h"
#include "tests/unit/results_fixture.h"

struct gate_state {
    char *dir;
    char *base, *fresh, *confirm;
    struct fx_ctx ctx;
    struct fx_bench bench[4]; /* xen and pernode at 1 and 2 threads */
};

static int setup(void **state)
{
    struct gate_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = fx_tmpdir()))
        return -1;
    s->base = fx_path(s->dir, "base.json");
    s->fresh = fx_path(s->dir, "fresh.json");
    s->confirm = fx_path(s->dir, "confirm.json");
    fx_ctx_default(&s->ctx);
    s->bench[0] = fx_bench_default("boot", "xen", 1);
    s->bench[1] = fx_bench_default("boot", "xen", 2);
    s->bench[2] = fx_bench_default("boot", "pernode", 1);
    s->bench[3] = fx_bench_default("boot", "pernode", 2);
    s->bench[3].pps = 1.6e6;
    if (fx_write(s->base, &s->ctx, s->bench, 4, 1) != 0)
        return -1;
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct gate_state *s = *state;
    free(s->base);
    free(s->fresh);
    free(s->confirm);
    fx_rmtree(s->dir);
    free(s);
    return 0;
}

/* gate --baseline BASE [extra...] FRESH, its output in *out (may be NULL) */
static int gate(struct gate_state *s, char **out, const char *const *extra, int nextra)
{
    char *argv[16] = {"gate", "--baseline", s->base};
    int argc = 3;
    for (int i = 0; i < nextra; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc++] = s->fresh;
    char *text = NULL;
    int rc = fx_run_captured(pb_cmd_gate, argc, argv, &text);
    if (out)
        *out = text;
    else
        free(text);
    return rc;
}

static void test_pass(void **state)
{
    struct gate_state *s = *state;
    /* same code, other noise */
    assert_int_equal(fx_write(s->fresh, &s->ctx, s->bench, 4, 2), 0);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 0);
    assert_non_null(strstr(out, "gate: PASS"));
    /* per metric: baseline, fresh, ratio, tolerance, verdict */
    assert_non_null(strstr(out, "tolerance"));
    assert_non_null(strstr(out, "lock_acq_per_page"));
    free(out);
    static const char *const wall[] = {"--tier", "wallclock"};
    static const char *const det[] = {"--tier=deterministic"};
    assert_int_equal(gate(s, NULL, wall, 2), 0);
    assert_int_equal(gate(s, NULL, det, 1), 0);
}

static void test_deterministic_regression(void **state)
{
    struct gate_state *s = *state;
    struct fx_bench b[4];
    memcpy(b, s->bench, sizeof(b));
    b[3].lock_acq *= 1.1; /* one more lock round trip every ten pages */
    assert_int_equal(fx_write(s->fresh, &s->ctx, b, 4, 2), 0);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 1);
    assert_non_null(strstr(out, "REGRESSION"));
    free(out);
    /* deterministic tier only: still caught; wall-clock tier only: not its business */
    static const char *const det[] = {"--tier", "deterministic"};
    static const char *const wall[] = {"--tier", "wallclock"};
    assert_int_equal(gate(s, NULL, det, 2), 1);
    assert_int_equal(gate(s, NULL, wall, 2), 0);
    /* exact means exact, unless a tolerance says otherwise */
    b[3].lock_acq = s->bench[3].lock_acq * 1.001;
    assert_int_equal(fx_write(s->fresh, &s->ctx, b, 4, 2), 0);
    assert_int_equal(gate(s, NULL, det, 2), 1);
    static const char *const tol[] = {"--tier", "deterministic", "--count-tolerance", "1%"};
    assert_int_equal(gate(s, NULL, tol, 4), 0);
    /* fewer locks per page is fine */
    b[3].lock_acq = s->bench[3].lock_acq * 0.5;
    assert_int_equal(fx_write(s->fresh, &s->ctx, b, 4, 2), 0);
    assert_int_equal(gate(s, NULL, det, 2), 0);
}

static void test_instructions(void **state)
{
    struct gate_state *s = *state;
    struct fx_bench b = fx_bench_default("callgrind", "xen", 1);
    b.reps = 1;
    b.noise = 0; /* under callgrind every count repeats */
    b.instructions = 1e6;
    assert_int_equal(fx_write(s->base, &s->ctx, &b, 1, 1), 0);
    b.instructions = 1.003e6; /* within the 0.5% default */
    assert_int_equal(fx_write(s->fresh, &s->ctx, &b, 1, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 0);
    b.instructions = 1.01e6;
    assert_int_equal(fx_write(s->fresh, &s->ctx, &b, 1, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 1);
}

static void test_environment_mismatch(void **state)
{
    struct gate_state *s = *state;
    struct fx_ctx c = s->ctx;
    c.compiler = "Clang 16.0.6";
    assert_int_equal(fx_write(s->fresh, &c, s->bench, 4, 2), 0);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 3);
    assert_non_null(strstr(out, "ENVIRONMENT DIFFERS"));
    assert_non_null(strstr(out, "compiler"));
    free(out);
    c = s->ctx;
    c.cpu_model = "Another CPU";
    assert_int_equal(fx_write(s->fresh, &c, s->bench, 4, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 3);
    c = s->ctx;
    c.build_type = "Debug";
    assert_int_equal(fx_write(s->fresh, &c, s->bench, 4, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 3);
}

static void write_slow_pernode(struct gate_state *s, const char *path, uint64_t seed, double factor)
{
    struct fx_bench b[4];
    memcpy(b, s->bench, sizeof(b));
    b[3].pps *= factor; /* pernode slower relative to xen in the same run */
    assert_int_equal(fx_write(path, &s->ctx, b, 4, seed), 0);
}

static void test_wallclock_needs_confirmation(void **state)
{
    struct gate_state *s = *state;
    write_slow_pernode(s, s->fresh, 2, 0.8);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 3);
    assert_non_null(strstr(out, "needs confirmation"));
    free(out);

    /* a re-run that fails too: a regression */
    write_slow_pernode(s, s->confirm, 3, 0.8);
    const char *const confirm[] = {"--confirm", s->confirm};
    assert_int_equal(gate(s, &out, confirm, 2), 1);
    assert_non_null(strstr(out, "confirmed by the re-run"));
    free(out);

    /* a re-run that does not: a fluke */
    write_slow_pernode(s, s->confirm, 3, 1.0);
    assert_int_equal(gate(s, &out, confirm, 2), 0);
    assert_non_null(strstr(out, "not confirmed"));
    free(out);

    /* whole machine 20% slower, variants alike: the ratios hold, so wall-clock passes */
    struct fx_bench b[4];
    memcpy(b, s->bench, sizeof(b));
    for (int i = 0; i < 4; i++)
        b[i].pps *= 0.8;
    assert_int_equal(fx_write(s->fresh, &s->ctx, b, 4, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 0);
}

/* Gates a fresh file of slower pernode written with calibration ctx; the exit status is want,
 * the output says `says` and not `never` (NULL: no such check). */
static void gate_calibrated(struct gate_state *s, const struct fx_ctx *ctx,
                            const char *const *extra, int nextra, int want, const char *says,
                            const char *never)
{
    char *out;
    s->ctx = *ctx;
    write_slow_pernode(s, s->fresh, 2, 0.8);
    assert_int_equal(gate(s, &out, extra, nextra), want);
    if (says && !strstr(out, says))
        fail_msg("the gate's output lacks \"%s\"", says);
    if (never && strstr(out, never))
        fail_msg("the gate's output has \"%s\"", never);
    free(out);
}

/* The fresh file's calibration decides whether the wall-clock tier may judge at all. */
static void test_wallclock_needs_calibration(void **state)
{
    struct gate_state *s = *state;
    static const char *const wall[] = {"--tier", "wallclock"};
    static const char *const det[] = {"--tier", "deterministic"};
    static const char *const loose[] = {"--alpha", "0.2"};
    const struct fx_ctx good = s->ctx;
    struct fx_ctx none = good, noisy = good, blind = good;
    none.uncalibrated = true;
    noisy.false_alarm_rate = 0.12;
    blind.detection_rate = 0.85;

    /* Without one: refused, said why, no wall-clock verdict; the counts are still gated. */
    gate_calibrated(s, &none, NULL, 0, 3, "wall-clock tier REFUSED: ", "needs confirmation");
    gate_calibrated(s, &none, NULL, 0, 3, "has no context.calibration", NULL);
    gate_calibrated(s, &none, NULL, 0, 3, "lock_acq_per_page", NULL);
    gate_calibrated(s, &none, det, 2, 0, "gate: PASS", "REFUSED");
    gate_calibrated(s, &none, wall, 2, 2, "nothing gated", NULL); /* only the refused tier */
    /* A machine that calls identical code different too often, unless alpha allows it. */
    gate_calibrated(s, &noisy, NULL, 0, 3,
                    "false-alarm rate of 0.12 (12 of 100 A/A verdicts), above --alpha 0.05",
                    "needs confirmation");
    gate_calibrated(s, &noisy, loose, 2, 3, "needs confirmation", "REFUSED");
    /* A machine that misses the known slowdown too often. */
    gate_calibrated(s, &blind, NULL, 0, 3,
                    "a detection rate of 0.85 for a 50 ns slowdown (85 of 100 verdicts), below 0.9",
                    "needs confirmation");
    /* A good one: judged (the regression needs its confirmation, as it always did). */
    gate_calibrated(s, &good, NULL, 0, 3, "needs confirmation", "REFUSED");
}

/* Nothing of the baseline in the fresh file: an error, not a pass or "inconclusive". */
static void test_nothing_gated(void **state)
{
    struct gate_state *s = *state;
    struct fx_bench other[2] = {fx_bench_default("other", "xen", 1),
                                fx_bench_default("other", "pernode", 1)};
    assert_int_equal(fx_write(s->fresh, &s->ctx, other, 2, 2), 0);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 2);
    assert_non_null(strstr(out, "gate: ERROR (exit 2): nothing gated"));
    free(out);
    /* an empty file: the same, and it cannot become a baseline */
    assert_int_equal(fx_write(s->fresh, &s->ctx, other, 0, 2), 0);
    assert_int_equal(gate(s, NULL, NULL, 0), 2);
    char *target = fx_path(s->dir, "empty-baseline.json");
    char *up[] = {"gate", "--update", "--baseline", target, s->fresh, NULL};
    assert_int_equal(pb_cmd_gate(5, up), 2);
    struct stat st;
    assert_int_equal(stat(target, &st), -1);
    free(target);
}

static void test_zero_reference_not_gated(void **state)
{
    struct gate_state *s = *state;
    /* one thread never waits for a lock: no ratio to gate, and no reason to be inconclusive */
    s->bench[0].lock_wait = s->bench[2].lock_wait = 0;
    assert_int_equal(fx_write(s->base, &s->ctx, s->bench, 4, 1), 0);
    assert_int_equal(fx_write(s->fresh, &s->ctx, s->bench, 4, 2), 0);
    char *out;
    assert_int_equal(gate(s, &out, NULL, 0), 0);
    assert_non_null(strstr(out, "no ratio"));
    free(out);
}

static void test_bad_input(void **state)
{
    struct gate_state *s = *state;
    assert_int_equal(fx_write(s->fresh, &s->ctx, s->bench, 4, 2), 0);
    char *missing = fx_path(s->dir, "missing.json");
    char *junk = fx_path(s->dir, "junk.json");
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not json", f);
    fclose(f);

    char *a1[] = {"gate", s->fresh, NULL};
    char *a2[] = {"gate", "--baseline", missing, s->fresh, NULL};
    char *a3[] = {"gate", "--baseline", s->base, missing, NULL};
    char *a4[] = {"gate", "--baseline", s->base, junk, NULL};
    char *a5[] = {"gate", "--baseline", s->base, "--tier", "fast", s->fresh, NULL};
    char *a6[] = {"gate", "--baseline", s->base, s->fresh, s->fresh, NULL};
    char *a7[] = {"gate", "--baseline", s->base, "--alpha", "2", s->fresh, NULL};
    char *a8[] = {"gate", "--baseline", s->base, "--confirm", missing, s->fresh, NULL};
    char *a9[] = {"gate", "--baseline", junk, s->fresh, NULL};
    assert_int_equal(pb_cmd_gate(2, a1), 2);
    assert_int_equal(pb_cmd_gate(4, a2), 2);
    assert_int_equal(pb_cmd_gate(4, a3), 2);
    assert_int_equal(pb_cmd_gate(4, a4), 2);
    assert_int_equal(pb_cmd_gate(6, a5), 2);
    assert_int_equal(pb_cmd_gate(5, a6), 2);
    assert_int_equal(pb_cmd_gate(6, a7), 2);
    assert_int_equal(pb_cmd_gate(6, a8), 2);
    assert_int_equal(pb_cmd_gate(4, a9), 2);
    free(missing);
    free(junk);
}

static void test_missing_benchmark_inconclusive(void **state)
{
    struct gate_state *s = *state;
    struct fx_ctx c = s->ctx;
    c.partial = true;
    assert_int_equal(fx_write(s->fresh, &c, s->bench, 3, 2), 0); /* pernode/threads:2 lost */
    assert_int_equal(gate(s, NULL, NULL, 0), 3);
}

static void test_update(void **state)
{
    struct gate_state *s = *state;
    char *dir = fx_path(s->dir, "baselines");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(fx_write(s->fresh, &s->ctx, s->bench, 4, 2), 0);
    char *up[] = {"gate", "--update", "--baseline", dir, s->fresh, NULL};
    assert_int_equal(pb_cmd_gate(5, up), 0);
    char *stored = fx_path(dir, "fresh.json");
    struct stat st;
    assert_int_equal(stat(stored, &st), 0);
    assert_true(st.st_size > 0);
    /* gating a file against itself through the directory passes */
    char *run[] = {"gate", "--baseline", dir, s->fresh, NULL};
    char *out;
    assert_int_equal(fx_run_captured(pb_cmd_gate, 4, run, &out), 0);
    free(out);
    /* a partial run does not become a baseline */
    struct fx_ctx c = s->ctx;
    c.partial = true;
    assert_int_equal(fx_write(s->fresh, &c, s->bench, 4, 2), 0);
    assert_int_equal(pb_cmd_gate(5, up), 2);
    free(stored);
    free(dir);
}

/* Rewrites `metric` of the entry of repetition r in the results file at path to vals[r]. */
static void set_per_rep(const char *path, const char *metric, const double *vals, int n)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    assert_non_null(doc);
    json_t *benches = json_object_get(doc, "benchmarks"), *e;
    size_t i;
    int seen = 0;
    json_array_foreach(benches, i, e)
    {
        json_int_t r = json_integer_value(json_object_get(e, "repetition_index"));
        assert_true(r >= 0 && r < n);
        json_object_set_new(e, metric, json_real(vals[r]));
        seen++;
    }
    assert_int_equal(seen, n);
    assert_int_equal(json_dump_file(doc, path, JSON_INDENT(1)), 0);
    json_decref(doc);
}

/* One repeatable benchmark: one thread, no noise, so every repetition makes as many calls. */
static struct fx_bench repeatable_bench(int threads)
{
    struct fx_bench b = fx_bench_default("ops", "xen", threads);
    b.reps = 4;
    b.noise = 0;
    return b;
}

static const double base_acq[4] = {0.0040, 0.0044, 0.0048, 0.0052}; /* seed + r differ */
static const double base_pages[4] = {708608, 796672, 712192, 800256};

static void write_pair_base(struct gate_state *s, int threads)
{
    struct fx_bench b = repeatable_bench(threads);
    assert_int_equal(fx_write(s->base, &s->ctx, &b, 1, 1), 0);
    set_per_rep(s->base, "lock_acq_per_page", base_acq, 4);
    set_per_rep(s->base, "pages_populated", base_pages, 4);
}

static void write_pair_fresh(struct gate_state *s, int threads, const double *acq,
                             const double *pages)
{
    struct fx_bench b = repeatable_bench(threads);
    assert_int_equal(fx_write(s->fresh, &s->ctx, &b, 1, 2), 0);
    set_per_rep(s->fresh, "lock_acq_per_page", acq, 4);
    set_per_rep(s->fresh, "pages_populated", pages, 4);
}

static void test_paired_by_repetition(void **state)
{
    struct gate_state *s = *state;
    static const char *const det[] = {"--tier", "deterministic"};
    char *out;
    write_pair_base(s, 1);
    /* the same counts, repetition by repetition: pass, though the repetitions disagree */
    write_pair_fresh(s, 1, base_acq, base_pages);
    assert_int_equal(gate(s, &out, det, 2), 0);
    assert_non_null(strstr(out, "paired by repetition: all 4 equal"));
    assert_null(strstr(out, "Mann-Whitney"));
    free(out);

    /* one repetition 1% worse: far below the Mann-Whitney minimum effect, caught when paired */
    double acq[4];
    memcpy(acq, base_acq, sizeof(acq));
    acq[2] *= 1.01;
    write_pair_fresh(s, 1, acq, base_pages);
    assert_int_equal(gate(s, &out, det, 2), 1);
    assert_non_null(strstr(out, "REGRESSION"));
    assert_non_null(strstr(out, "1 of 4 differ, rep 2 shown"));
    free(out);

    /* the same values in another order are other counts for the same seeds */
    double swapped[4] = {base_acq[1], base_acq[0], base_acq[2], base_acq[3]};
    write_pair_fresh(s, 1, swapped, base_pages);
    assert_int_equal(gate(s, NULL, det, 2), 1);

    /* a plain count that changes in one repetition */
    double pages[4];
    memcpy(pages, base_pages, sizeof(pages));
    pages[3] += 3584;
    write_pair_fresh(s, 1, base_acq, pages);
    assert_int_equal(gate(s, &out, det, 2), 1);
    assert_non_null(strstr(out, "CHANGED"));
    free(out);

    /* fewer locks per page in one repetition: better, not a failure */
    memcpy(acq, base_acq, sizeof(acq));
    acq[0] *= 0.9;
    write_pair_fresh(s, 1, acq, base_pages);
    assert_int_equal(gate(s, &out, det, 2), 0);
    assert_non_null(strstr(out, "better"));
    free(out);
}

static void test_unpaired_falls_back(void **state)
{
    struct gate_state *s = *state;
    static const char *const det[] = {"--tier", "deterministic"};
    char *out;
    /* two threads: repetitions of one seed need not repeat, so no pairing */
    write_pair_base(s, 2);
    double acq[4];
    memcpy(acq, base_acq, sizeof(acq));
    acq[2] *= 1.01;
    write_pair_fresh(s, 2, acq, base_pages);
    assert_int_equal(gate(s, &out, det, 2), 0);
    assert_non_null(strstr(out, "cannot be paired: Mann-Whitney"));
    assert_non_null(strstr(out, "not gated"));
    assert_null(strstr(out, "paired by repetition"));
    free(out);

    /* one thread, but other repetitions in the fresh run: medians, not pairs */
    write_pair_base(s, 1);
    struct fx_bench b = repeatable_bench(1);
    b.reps = 3;
    assert_int_equal(fx_write(s->fresh, &s->ctx, &b, 1, 2), 0);
    set_per_rep(s->fresh, "lock_acq_per_page", base_acq, 3);
    assert_int_equal(gate(s, &out, det, 2), 3);
    assert_non_null(strstr(out, "cannot be paired"));
    free(out);

    /* a timed run: the call count varies, so the repetitions are not repeatable */
    b = repeatable_bench(1);
    b.noise = 0.01;
    assert_int_equal(fx_write(s->base, &s->ctx, &b, 1, 1), 0);
    set_per_rep(s->base, "lock_acq_per_page", base_acq, 4);
    assert_int_equal(fx_write(s->fresh, &s->ctx, &b, 1, 2), 0);
    set_per_rep(s->fresh, "lock_acq_per_page", acq, 4);
    assert_int_equal(gate(s, &out, det, 2), 0);
    assert_non_null(strstr(out, "cannot be paired: Mann-Whitney"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_regression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instructions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wallclock_needs_confirmation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_reference_not_gated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_benchmark_inconclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wallclock_needs_calibration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_gated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paired_by_repetition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpaired_falls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
