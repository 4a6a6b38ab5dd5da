/*
 * popbench-histbench: what timing one operation costs, i.e. one pb_hist_record() and one
 * pb_now_ns(). Records loop over a precomputed array (L2-resident) so only the histogram is
 * measured; a constant value is the worst case (every increment hits the same counter).
 *
 * usage: popbench-histbench [--trials N]   prints the median over the trials
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/hist.h"
#include "core/pb.h"
#include "core/prng.h"

#define NVALUES     (1u << 16)
#define RECORDS     (UINT64_C(1) << 27) /* per trial */
#define CLOCK_READS (UINT64_C(1) << 24)

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double ns_per_record(struct pb_hist *h, const uint64_t *values)
{
    pb_hist_reset(h);
    uint64_t t0 = pb_now_ns();
    for (uint64_t r = 0; r < RECORDS / NVALUES; r++) {
        for (uint32_t i = 0; i < NVALUES; i++)
            pb_hist_record(h, values[i]);
    }
    uint64_t t1 = pb_now_ns();
    PB_BUG_ON(pb_hist_count(h) != RECORDS);
    return (double)(t1 - t0) / (double)RECORDS;
}

/* ns per call, and the smallest non-zero step between two consecutive reads. */
static double ns_per_clock_read(uint64_t *min_step)
{
    uint64_t t0 = pb_now_ns(), prev = t0, step = UINT64_MAX;
    for (uint64_t i = 0; i < CLOCK_READS; i++) {
        uint64_t now = pb_now_ns();
        if (now != prev && now - prev < step)
            step = now - prev;
        prev = now;
    }
    *min_step = step;
    return (double)(prev - t0) / (double)CLOCK_READS;
}

static void print_file_line(const char *label, const char *path)
{
    char line[256] = "?\n";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof(line), f))
            strcpy(line, "?\n");
        fclose(f);
    }
    printf("%s: %s", label, line);
}

int main(int argc, char **argv)
{
    unsigned long trials = 7;
    if (argc == 3 && strcmp(argv[1], "--trials") == 0 && atol(argv[2]) > 0) {
        trials = (unsigned long)atol(argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: popbench-histbench [--trials N]\n");
        return 2;
    }

    /* Log-uniform over 50 ns .. 1 ms, the span of one populate operation. */
    uint64_t *spread = malloc(NVALUES * sizeof(*spread));
    uint64_t *constant = malloc(NVALUES * sizeof(*constant));
    struct pb_hist *h = pb_hist_alloc();
    double *rec_spread = malloc(trials * sizeof(double));
    double *rec_const = malloc(trials * sizeof(double));
    double *clock = malloc(trials * sizeof(double));
    PB_BUG_ON(!spread || !constant || !h || !rec_spread || !rec_const || !clock);
    uint64_t rng = 1;
    for (uint32_t i = 0; i < NVALUES; i++) {
        double u = (double)(pb_splitmix64(&rng) >> 11) * 0x1.0p-53;
        spread[i] = (uint64_t)(50.0 * exp(u * log(1e6 / 50.0)));
        constant[i] = 1234;
    }

    uint64_t min_step = UINT64_MAX;
    for (unsigned long t = 0; t < trials; t++) {
        uint64_t step;
        rec_spread[t] = ns_per_record(h, spread);
        rec_const[t] = ns_per_record(h, constant);
        clock[t] = ns_per_clock_read(&step);
        min_step = step < min_step ? step : min_step;
    }
    qsort(rec_spread, trials, sizeof(double), cmp_double);
    qsort(rec_const, trials, sizeof(double), cmp_double);
    qsort(clock, trials, sizeof(double), cmp_double);

    print_file_line("clocksource", "/sys/devices/system/clocksource/clocksource0/"
                                   "current_clocksource");
    printf("trials %lu, median of each (min .. max)\n", trials);
    printf("pb_hist_record, log-uniform 50ns..1ms: %.2f ns (%.2f .. %.2f)\n",
           rec_spread[trials / 2], rec_spread[0], rec_spread[trials - 1]);
    printf("pb_hist_record, constant value:        %.2f ns (%.2f .. %.2f)\n", rec_const[trials / 2],
           rec_const[0], rec_const[trials - 1]);
    printf("pb_now_ns (clock_gettime MONOTONIC):   %.2f ns (%.2f .. %.2f), smallest step %lu ns\n",
           clock[trials / 2], clock[0], clock[trials - 1], (unsigned long)min_step);

    free(spread);
    free(constant);
    free(rec_spread);
    free(rec_const);
    free(clock);
    pb_hist_free(h);
    return 0;
}
