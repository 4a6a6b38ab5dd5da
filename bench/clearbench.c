/*
 * popbench-clearbench: bandwidth of each pb_clear() method on 4 KiB and 2 MiB regions, warm
 * (the same small pool over and over, so it stays in cache) and cold (one pass over a pool far
 * larger than the LLC, regions in a shuffled order as an allocator hands frames out). memset
 * runs on the same pools in the same run, interleaved with the others, as the reference.
 *
 * usage: popbench-clearbench [--cold-mib N] [--trials N] [--warm-mib-per-trial N]
 * Prints the median GB/s (10^9 bytes/s) over the trials and the ratio to memset's median.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clear.h"
#include "core/pb.h"
#include "core/prng.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)

struct config {
    const char *region_name;
    size_t region;    /* bytes per pb_clear() call */
    const char *mode; /* "warm" or "cold" */
    size_t pool;      /* bytes the calls walk over */
};

struct pool {
    char *base;
    size_t bytes;
    uint32_t *order; /* region indices in the order they are cleared */
    size_t nregions;
};

static const enum pb_clear_method methods[] = {PB_CLEAR_MEMSET, PB_CLEAR_STOSB, PB_CLEAR_NT,
                                               PB_CLEAR_AUTO};
#define NR_METHODS PB_ARRAY_SIZE(methods)

/* 2 MiB-aligned, huge pages asked for (the hypervisor's direct map uses large pages too),
 * faulted in before any timing. */
static char *pool_map(size_t bytes)
{
    char *base = pb_clear_buffer_alloc(bytes);
    if (!base) {
        fprintf(stderr, "popbench-clearbench: cannot map %zu MiB\n", bytes >> 20);
        exit(1);
    }
    return base;
}

static void pool_init(struct pool *p, char *base, size_t bytes, size_t region, uint64_t seed)
{
    p->base = base;
    p->bytes = bytes;
    p->nregions = bytes / region;
    p->order = malloc(p->nregions * sizeof(*p->order));
    if (!p->order) {
        perror("popbench-clearbench: malloc");
        exit(1);
    }
    for (size_t i = 0; i < p->nregions; i++)
        p->order[i] = (uint32_t)i;
    for (size_t i = p->nregions - 1; i > 0; i--) {
        size_t j = pb_splitmix64(&seed) % (i + 1);
        uint32_t t = p->order[i];
        p->order[i] = p->order[j];
        p->order[j] = t;
    }
}

/* GB/s of one measurement: warm repeats passes up to min_bytes after one untimed pass; cold
 * times one pass over memory the previous measurement did not leave in cache. */
static double measure(const struct pool *p, size_t region, bool warm, size_t min_bytes,
                      enum pb_clear_method m)
{
    size_t passes = 1;
    if (warm) {
        pb_clear_sweep(p->base, region, p->nregions, p->order, m);
        passes = (min_bytes + p->bytes - 1) / p->bytes;
    }
    /* Seconds per byte add up over the passes. */
    double ns = 0;
    for (size_t i = 0; i < passes; i++) {
        double gbps = pb_clear_sweep(p->base, region, p->nregions, p->order, m);
        PB_BUG_ON(gbps <= 0);
        ns += (double)p->bytes / gbps;
    }
    return (double)(passes * p->bytes) / ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned long parse_arg(const char *flag, const char *val)
{
    char *end;
    errno = 0;
    unsigned long v = val ? strtoul(val, &end, 10) : 0;
    if (!val || errno || *end || v == 0) {
        fprintf(stderr, "popbench-clearbench: %s expects a positive integer, not '%s'\n", flag,
                val ? val : "");
        exit(2);
    }
    return v;
}

static void print_cpu(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            printf("cpu:%s", strchr(line, ':') + 1);
            break;
        }
    }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    unsigned long cold_mib = 1024, trials = 7, warm_mib = 512;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cold-mib") == 0)
            cold_mib = parse_arg(argv[i], argv[i + 1]), i++;
        else if (strcmp(argv[i], "--trials") == 0)
            trials = parse_arg(argv[i], argv[i + 1]), i++;
        else if (strcmp(argv[i], "--warm-mib-per-trial") == 0)
            warm_mib = parse_arg(argv[i], argv[i + 1]), i++;
        else {
            fprintf(stderr, "usage: popbench-clearbench [--cold-mib N] [--trials N] "
                            "[--warm-mib-per-trial N]\n");
            return 2;
        }
    }
    if (cold_mib < 4) {
        fprintf(stderr, "popbench-clearbench: --cold-mib must be at least 4\n");
        return 2;
    }

    const struct config configs[] = {
        {"4KiB", 4 * KIB, "warm", 64 * KIB},
        {"4KiB", 4 * KIB, "cold", cold_mib * MIB},
        {"2MiB", 2 * MIB, "warm", 2 * MIB},
        {"2MiB", 2 * MIB, "cold", cold_mib * MIB},
    };
    char *cold_base = pool_map(cold_mib * MIB);
    char *warm_base = pool_map(2 * MIB);

    print_cpu();
    printf("cold pool %lu MiB, warm pools 64 KiB (4 KiB regions) and 2 MiB (2 MiB regions), "
           "%lu trials of >= %lu MiB warm / one cold pass; median GB/s\n",
           cold_mib, trials, warm_mib);
    for (size_t k = 0; k < NR_METHODS; k++) {
        if (!pb_clear_method_native(methods[k]))
            printf("note: %s falls back to memset on this build\n",
                   pb_clear_method_name(methods[k]));
    }
    printf("%-6s %-5s %-11s %6s %9s\n", "region", "cache", "method", "GB/s", "vs memset");

    double *gbs = malloc(trials * NR_METHODS * sizeof(*gbs));
    PB_BUG_ON(!gbs);
    for (size_t c = 0; c < PB_ARRAY_SIZE(configs); c++) {
        const struct config *cf = &configs[c];
        bool warm = strcmp(cf->mode, "warm") == 0;
        struct pool p;
        pool_init(&p, warm ? warm_base : cold_base, cf->pool, cf->region, 42 + c);

        /* Rotate the order every trial so no method always follows the same one. */
        for (size_t t = 0; t < trials; t++) {
            for (size_t k = 0; k < NR_METHODS; k++) {
                size_t mi = (k + t) % NR_METHODS;
                gbs[mi * trials + t] = measure(&p, cf->region, warm, warm_mib * MIB, methods[mi]);
            }
        }
        double median[NR_METHODS];
        for (size_t mi = 0; mi < NR_METHODS; mi++) {
            qsort(&gbs[mi * trials], trials, sizeof(*gbs), cmp_double);
            median[mi] = gbs[mi * trials + trials / 2];
        }
        for (size_t mi = 0; mi < NR_METHODS; mi++) {
            char name[32];
            if (methods[mi] == PB_CLEAR_AUTO)
                snprintf(name, sizeof(name), "auto=%s",
                         pb_clear_method_name(pb_clear_auto_method(cf->region)));
            else
                snprintf(name, sizeof(name), "%s", pb_clear_method_name(methods[mi]));
            printf("%-6s %-5s %-11s %6.1f %9.2f\n", cf->region_name, cf->mode, name, median[mi],
                   median[mi] / median[0]);
        }
        free(p.order);
    }
    free(gbs);
    return 0;
}
