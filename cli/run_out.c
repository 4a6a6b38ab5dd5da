/*
 * run_out.c: where `popbench run` puts its results: --out, probed before anything runs,
 * written as the runs finish and once more at the end, and stdout as --format says.
 *
 * Rewriting the whole document after every run would cost time quadratic in the runs (a
 * thousand short runs: minutes), so a file is rewritten after a run only once CHECKPOINT_NS
 * have passed since the last write, and at least CHECKPOINT_COST times the last write's cost:
 * writing stays a small share of the time, and a crash or SIGKILL loses at most the runs of
 * that interval. The first run is written at once; an interruption (SIGINT, SIGTERM) writes
 * everything measured. A FIFO or a device is written once, at the end. With nothing
 * measured, the file is not touched.
 */
#include "cli/run.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "results/lockprof.h"

#define CHECKPOINT_NS   UINT64_C(1000000000) /* 1 s */
#define CHECKPOINT_COST 20

int pb_run_out_probe(const char *cmd, struct pb_run_out *f, const char *path)
{
    char err[PB_RESULTS_ERR_LEN];
    *f = (struct pb_run_out){.path = path};
    if (!path || pb_file_probe(path, &f->kind, err, sizeof(err)) == 0)
        return 0;
    return pb_cli_error(cmd, "--out: %s", err);
}

static int out_write(struct pb_run_out *f, const struct pb_report *rep)
{
    char err[PB_RESULTS_ERR_LEN];
    uint64_t t0 = pb_now_ns();
    int rc = pb_results_write_json(rep->doc, f->path, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "popbench run: --out: %s\n", err);
        return rc;
    }
    f->last_ns = pb_now_ns();
    f->cost_ns = f->last_ns - t0;
    f->written = rep->nr;
    return 0;
}

void pb_run_out_checkpoint(struct pb_run_out *f, struct pb_report *rep)
{
    if (!f || !f->path || f->kind == PB_FILE_STREAM || rep->nr == f->written)
        return;
    uint64_t wait =
        CHECKPOINT_COST * f->cost_ns > CHECKPOINT_NS ? CHECKPOINT_COST * f->cost_ns : CHECKPOINT_NS;
    if (f->written && pb_now_ns() - f->last_ns < wait)
        return;
    pb_report_finish(rep, true);
    out_write(f, rep);
}

int pb_run_out_final(struct pb_run_out *f, const struct pb_report *rep)
{
    if (!f || !f->path || rep->nr == 0)
        return 0;
    return out_write(f, rep);
}

int pb_run_print_results(const char *format, const struct pb_results *doc)
{
    char err[PB_RESULTS_ERR_LEN] = "";
    int rc = 0;
    if (strcmp(format, "table") == 0)
        rc = pb_run_print_verdicts(doc, stdout);
    else if (strcmp(format, "csv") == 0)
        rc = pb_results_print_csv(doc, stdout);
    else if (strcmp(format, "lockprof") == 0)
        rc = pb_lockprof_print(doc, stdout);
    else if (strcmp(format, "json") == 0)
        rc = pb_results_print_json(doc, stdout, err, sizeof(err));
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc == 0)
        return 0;
    if (err[0])
        fprintf(stderr, "popbench run: %s\n", err);
    else
        fprintf(stderr, "popbench run: cannot write the %s to standard output: %s\n", format,
                strerror(-rc));
    return PB_EXIT_USAGE;
}
