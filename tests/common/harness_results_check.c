/*
 * harness_results_check.c: the shell tests' reader of what `popbench run` wrote. Loads a
 * results file with results' own reader and checks it.
 *
 *   harness_results_check FILE partial|complete MIN_ENTRIES [NAME ...]
 *
 * Exit 0 when the file loads, its partial flag is as stated, it has at least MIN_ENTRIES
 * benchmark entries, every run section's validator says "ok", every entry did some work (a
 * populate or decrease call in its measure phase) with a pages_per_second >= 0, and every NAME
 * is an entry's name; else 1 with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results.h"

int main(int argc, char **argv)
{
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc;

    if (argc < 4 || (strcmp(argv[2], "partial") && strcmp(argv[2], "complete"))) {
        fprintf(stderr, "usage: %s FILE partial|complete MIN_ENTRIES [NAME ...]\n", argv[0]);
        return 2;
    }
    if (pb_results_load(argv[1], &doc, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = 0;
    bool want_partial = strcmp(argv[2], "partial") == 0;
    size_t n = pb_results_bench_count(doc), min = (size_t)strtoul(argv[3], NULL, 10);
    if (pb_results_is_partial(doc) != want_partial) {
        fprintf(stderr, "%s: partial is %s\n", argv[1], want_partial ? "false" : "true");
        rc = 1;
    }
    if (n < min) {
        fprintf(stderr, "%s: %zu entries, expected at least %zu\n", argv[1], n, min);
        rc = 1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct pb_results_bench *b = pb_results_bench_at(doc, i);
        const json_t *run = pb_results_bench_run_json(b);
        const char *verdict = run ? json_string_value(json_object_get(run, "validator")) : NULL;
        double pps = -1, calls = 0, decreases = 0;
        if (!verdict || strcmp(verdict, "ok") != 0) {
            fprintf(stderr, "%s: %s: validator %s\n", argv[1], pb_results_bench_name(b),
                    verdict ? verdict : "missing");
            rc = 1;
        }
        if (pb_results_bench_counter(b, "pages_per_second", &pps) != 0 || !(pps >= 0)) {
            fprintf(stderr, "%s: %s: pages_per_second %g\n", argv[1], pb_results_bench_name(b),
                    pps);
            rc = 1;
        }
        pb_results_bench_counter(b, "calls", &calls);
        pb_results_bench_counter(b, "decrease_calls", &decreases);
        if (!(calls + decreases > 0)) {
            fprintf(stderr, "%s: %s: no populate or decrease call was measured\n", argv[1],
                    pb_results_bench_name(b));
            rc = 1;
        }
    }
    for (int a = 4; a < argc; a++) {
        bool found = false;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(pb_results_bench_name(pb_results_bench_at(doc, i)), argv[a]) == 0;
        if (!found) {
            fprintf(stderr, "%s: no entry named %s\n", argv[1], argv[a]);
            rc = 1;
        }
    }
    printf("%s: %zu entries, partial %s\n", argv[1], n,
           pb_results_is_partial(doc) ? "true" : "false");
    pb_results_free(doc);
    return rc;
}
