/*
 * test_noise.c: the noise probes (bench/noise.h) read files the test writes in place of
 * /proc/stat and /sys/devices/system/cpu; a source that is missing or lacks its field says
 * "unavailable" and never gives a 0.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/noise.h"

static char dir[] = "/tmp/pb-noise-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_unreadable_is_unavailable(void **state)
{
    (void)state;
    char stat[256], sys[256];
    snprintf(stat, sizeof(stat), "%s/no-such-stat", dir);
    snprintf(sys, sizeof(sys), "%s/no-such-sys", dir);
    struct pb_noise_paths paths = {.proc_stat = stat, .sys_cpu = sys};
    const unsigned pus[] = {0, 1};
    struct pb_noise_snapshot a, b;
    assert_int_equal(pb_noise_snapshot(&paths, pus, 2, &a), 0);
    assert_false(a.stat_ok);
    assert_false(a.freq_ok);
    assert_int_equal(pb_noise_snapshot(&paths, pus, 2, &b), 0);

    struct pb_noise n;
    pb_noise_init(&n);
    pb_noise_add_interval(&n, &a, &b);
    pb_noise_judge(&n);
    assert_false(n.steal_ok);
    assert_true(isnan(n.steal_pct)); /* not 0 */
    assert_false(n.freq_ok);
    assert_false(n.migrations_ok); /* no sample was taken */
    assert_false(n.disturbed);

    /* A kernel without the steal field: unavailable too. */
    write_file(stat, "cpu  10 0 10 100\ncpu0 5 0 5 50\ncpu1 5 0 5 50\n");
    assert_int_equal(pb_noise_snapshot(&paths, pus, 2, &a), 0);
    assert_false(a.stat_ok);
    /* A PU the file does not list: unavailable. */
    write_file(stat, "cpu0 1 2 3 4 5 6 7 8 0 0\n");
    assert_int_equal(pb_noise_snapshot(&paths, pus, 2, &a), 0);
    assert_false(a.stat_ok);
    /* No interval at all: nothing is known. */
    pb_noise_init(&n);
    pb_noise_judge(&n);
    assert_false(n.steal_ok);
    assert_false(n.freq_ok);
}

static void test_steal_and_frequency(void **state)
{
    (void)state;
    char stat[256], sys[256], path[512];
    snprintf(stat, sizeof(stat), "%s/stat", dir);
    snprintf(sys, sizeof(sys), "%s/cpu", dir);
    struct pb_noise_paths paths = {.proc_stat = stat, .sys_cpu = sys};
    const unsigned pus[] = {1};
    /* cpu1: user nice system idle iowait irq softirq steal guest guest_nice */
    write_file(stat, "cpu  0 0 0 0 0 0 0 0 0 0\n"
                     "cpu0 900 0 0 0 0 0 0 900 0 0\n"
                     "cpu1 100 0 100 700 0 0 0 100 50 0\n"
                     "intr 12345\n");
    mkdir(sys, 0755);
    snprintf(path, sizeof(path), "%s/cpu1", sys);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/cpu1/cpufreq", sys);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/cpu1/cpufreq/scaling_cur_freq", sys);
    write_file(path, "2400000\n");

    struct pb_noise_snapshot a, b;
    assert_int_equal(pb_noise_snapshot(&paths, pus, 1, &a), 0);
    assert_true(a.stat_ok);
    assert_int_equal(a.steal, 100);
    assert_int_equal(a.total, 1000); /* guest time is inside user: not added again */
    assert_true(a.freq_ok);
    assert_true(fabs(a.mhz_min - 2400) < 1e-9 && fabs(a.mhz_max - 2400) < 1e-9);

    /* 1000 more jiffies, 80 of them stolen: 8% of the PU's time, beyond the 5% limit */
    write_file(stat, "cpu0 900 0 0 0 0 0 0 9000 0 0\n"
                     "cpu1 500 0 200 1120 0 0 0 180 50 0\n");
    write_file(path, "1200000\n");
    assert_int_equal(pb_noise_snapshot(&paths, pus, 1, &b), 0);
    struct pb_noise n;
    pb_noise_init(&n);
    pb_noise_add_interval(&n, &a, &b);
    n.cpu_samples = 10;
    pb_noise_judge(&n);
    assert_true(n.steal_ok);
    assert_true(fabs(n.steal_pct - 8.0) < 1e-9);
    assert_true(n.freq_ok);
    assert_true(fabs(n.mhz_min - 1200) < 1e-9 && fabs(n.mhz_max - 2400) < 1e-9);
    assert_true(n.disturbed);
    assert_non_null(strstr(n.why, "steal 8.0%"));

    /* a migrated worker disturbs it too; a quiet interval does not */
    pb_noise_init(&n);
    pb_noise_add_interval(&n, &a, &a);
    n.cpu_samples = 10;
    pb_noise_judge(&n);
    assert_false(n.steal_ok); /* no tick elapsed: unknown, not 0 */
    assert_false(n.disturbed);
    n.migrations = 1;
    pb_noise_judge(&n);
    assert_true(n.disturbed);
    assert_non_null(strstr(n.why, "off the pinned PU"));

    /* involuntary switches: 100 per worker-second is beyond the limit, unless oversubscribed */
    pb_noise_init(&n);
    pb_noise_add_interval(&n, &a, &b);
    n.cpu_samples = 10;
    n.steal_ticks = 0; /* no steal: only the switches count */
    n.nivcsw = 100;
    n.worker_ns = 1000000000;
    n.threads_per_pu = 1;
    pb_noise_judge(&n);
    assert_true(n.disturbed);
    assert_non_null(strstr(n.why, "involuntary"));
    n.threads_per_pu = 2;
    pb_noise_judge(&n);
    assert_false(n.disturbed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreadable_is_unavailable),
        cmocka_unit_test(test_steal_and_frequency),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
