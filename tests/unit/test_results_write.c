/*
 * test_results_write.c: the writers of results/: atomic files (a failure leaves the old file
 * whole and nothing beside it), JSON to a stream, CSV, the terminal table, human numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "results/results.h"
#include "tests/unit/results_fixture.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ============================================================================================
 * Atomic writes
 * ========================================================================================== */

/*
 * pb_results_write_json(doc, path) in a child process, once setup(arg) has made it fail there
 * (it returns false when it cannot: the caller skips). Returns the child's exit status (77:
 * set-up impossible), with the write's result and message in *rc and err.
 */
static int write_in_child(const struct pb_results *doc, const char *path,
                          bool (*setup)(const char *), const char *arg, int *rc,
                          char err[PB_RESULTS_ERR_LEN])
{
    int pfd[2], status;
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        if (!setup(arg))
            _exit(77);
        *rc = pb_results_write_json(doc, path, err, PB_RESULTS_ERR_LEN);
        if (write(pfd[1], rc, sizeof(*rc)) != sizeof(*rc) ||
            write(pfd[1], err, PB_RESULTS_ERR_LEN) != PB_RESULTS_ERR_LEN)
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    ssize_t got = read(pfd[0], rc, sizeof(*rc));
    got += read(pfd[0], err, PB_RESULTS_ERR_LEN);
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0)
        assert_int_equal(got, (ssize_t)(sizeof(*rc) + PB_RESULTS_ERR_LEN));
    return WEXITSTATUS(status);
}

/* Root writes anywhere: the writer runs as nobody, in a directory it cannot write. */
static bool as_nobody(const char *dir)
{
    if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
        return false;
    return access(dir, W_OK) != 0 && access(dir, X_OK) == 0;
}

/* Files stop growing at 4 KiB. */
static bool small_files(const char *unused)
{
    (void)unused;
    struct rlimit lim = {4096, 4096};
    signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &lim) == 0;
}

/* A write that fails leaves the old file whole and nothing beside it; the message names the
 * file and the step. */
static void assert_failed_write(const char *dir, const char *path, const char *old, int rc,
                                const char *err, int want_rc, const char *step)
{
    char want[600];
    assert_int_equal(rc, want_rc);
    snprintf(want, sizeof(want), "cannot write results to '%s': %s", path, step);
    assert_non_null(strstr(err, want));
    char *now = fx_slurp(path), *ls = fx_dir_listing(dir);
    assert_string_equal(now, old);
    assert_string_equal(ls, "results.json");
    free(ls);
    free(now);
}

static void test_atomic_write_unwritable_dir(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *sub = fx_path(dir, "ro"), *p = fx_path(sub, "results.json");
    assert_int_equal(mkdir(sub, 0755), 0);
    struct pb_results *doc = fx_sample_doc(1.0, false, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    char *old = fx_slurp(p), err[PB_RESULTS_ERR_LEN] = "";
    assert_int_equal(pb_results_set_partial(doc, true), 0); /* the new content differs */

    if (geteuid() != 0)
        assert_int_equal(chmod(sub, 0555), 0);
    int rc = 0, status = write_in_child(doc, p, as_nobody, sub, &rc, err);
    chmod(sub, 0755);
    if (status != 77) {
        assert_int_equal(status, 0);
        assert_failed_write(sub, p, old, rc, err, -EACCES, "creating a temporary file");
    }
    free(old);
    pb_results_free(doc);
    free(p);
    free(sub);
    fx_rmtree(dir);
    if (status == 77)
        skip(); /* no way to make a directory unwritable here */
}

/* A write that fails halfway (the file-size limit) leaves the old file whole. */
static void test_atomic_write_fails_midway(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "results.json");
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    char *old = fx_slurp(p), err[PB_RESULTS_ERR_LEN] = "";
    assert_true(strlen(old) > 4096);
    assert_int_equal(pb_results_set_partial(doc, true), 0);

    int rc = 0;
    assert_int_equal(write_in_child(doc, p, small_files, NULL, &rc, err), 0);
    assert_failed_write(dir, p, old, rc, err, -EFBIG, "writing the temporary file");
    free(old);
    pb_results_free(doc);
    free(p);
    fx_rmtree(dir);
}

static void test_atomic_write_failures_leave_nothing(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, false, true);

    /* A directory in the way is refused before a temporary file is made. */
    char *target = fx_path(dir, "target");
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(pb_results_write_json(doc, target, err, sizeof(err)), -EISDIR);
    assert_non_null(strstr(err, target));
    assert_non_null(strstr(err, "it is a directory"));
    char *ls = fx_dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);
    assert_int_equal(pb_results_write_csv(doc, target, err, sizeof(err)), -EISDIR);
    ls = fx_dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);

    /* No such directory. */
    char *nowhere = fx_path(dir, "nope/r.json");
    assert_int_equal(pb_results_write_json(doc, nowhere, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, nowhere));

    /* A document without its environment is refused, not written unreadable. */
    struct pb_results *bare;
    assert_int_equal(pb_results_create(&bare), 0);
    char *p = fx_path(dir, "bare.json");
    assert_int_equal(pb_results_write_json(bare, p, err, sizeof(err)), -EINVAL);
    char want[600];
    snprintf(want, sizeof(want),
             "cannot write results to '%s': missing required field 'context.date'", p);
    assert_string_equal(err, want);
    assert_int_equal(access(p, F_OK), -1);
    /* ... nor one whose entry holds a string counter. */
    fx_fill_context(bare, false);
    struct pb_results_bench *b = fx_add(bare, "w", "v", 1, 0, 1, 1.0);
    json_object_set_new((json_t *)pb_results_bench_json(b), "zeta", json_string("fast"));
    assert_int_equal(pb_results_write_json(bare, p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'benchmarks[0].zeta' must be a number"));
    ls = fx_dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);

    /* Replacing: the new content, the old mode, nothing left beside it. */
    char *r = fx_path(dir, "r.json");
    assert_int_equal(pb_results_write_json(doc, r, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(r, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(chmod(r, 0600), 0);
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    assert_int_equal(pb_results_write_json(doc, r, err, sizeof(err)), 0);
    assert_int_equal(stat(r, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct pb_results *back = fx_load_ok(r);
    assert_true(pb_results_is_partial(back));
    pb_results_free(back);
    ls = fx_dir_listing(dir);
    assert_string_equal(ls, "r.json target");
    free(ls);

    free(r);
    free(p);
    pb_results_free(bare);
    free(nowhere);
    free(target);
    pb_results_free(doc);
    fx_rmtree(dir);
}

/* The one atomic writer also copies a file (popbench gate --update): the bytes, atomically. */
static void test_file_copy_atomic(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *a = fx_path(dir, "a.json"), *b = fx_path(dir, "b.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, a, err, sizeof(err)), 0);
    assert_int_equal(pb_file_copy_atomic(a, b, err, sizeof(err)), 0);
    char *ta = fx_slurp(a), *tb = fx_slurp(b);
    assert_string_equal(ta, tb);
    char *ls = fx_dir_listing(dir);
    assert_string_equal(ls, "a.json b.json");
    free(ls);
    char *gone = fx_path(dir, "gone.json");
    assert_int_equal(pb_file_copy_atomic(gone, b, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, gone));
    char *nowhere = fx_path(dir, "no/b.json");
    assert_int_equal(pb_file_copy_atomic(a, nowhere, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, nowhere));
    free(tb);
    tb = fx_slurp(b);
    assert_string_equal(ta, tb);
    free(nowhere);
    free(gone);
    free(ta);
    free(tb);
    free(a);
    free(b);
    pb_results_free(doc);
    fx_rmtree(dir);
}

/* A symbolic link is followed: its target is replaced, the link stays a link. */
static void test_destination_symlink(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *link = fx_path(dir, "latest.json"),
         *target = fx_path(dir, "run-42.json");
    char *sub = fx_path(dir, "runs"), *deep = fx_path(dir, "runs/deep.json");
    char *hop = fx_path(dir, "hop.json"), *loop = fx_path(dir, "loop.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, false, true);
    assert_int_equal(symlink("run-42.json", link), 0);
    /* A dangling link: its target is made. */
    assert_int_equal(pb_results_write_json(doc, link, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(lstat(target, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* Again, through a chain of two links with relative targets from their own directory. */
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(symlink("../latest.json", deep), 0);
    assert_int_equal(symlink("runs/deep.json", hop), 0);
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    assert_int_equal(pb_results_write_json(doc, hop, err, sizeof(err)), 0);
    struct pb_results *back = fx_load_ok(target);
    assert_true(pb_results_is_partial(back));
    pb_results_free(back);
    assert_int_equal(lstat(hop, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char *ls = fx_dir_listing(dir);
    assert_string_equal(ls, "hop.json latest.json run-42.json runs");
    free(ls);
    /* A loop is refused. */
    assert_int_equal(symlink("loop.json", loop), 0);
    assert_int_equal(pb_results_write_json(doc, loop, err, sizeof(err)), -ELOOP);
    assert_non_null(strstr(err, loop));
    enum pb_file_kind kind;
    assert_int_equal(pb_file_probe(loop, &kind, err, sizeof(err)), -ELOOP);
    pb_results_free(doc);
    free(link);
    free(target);
    free(sub);
    free(deep);
    free(hop);
    free(loop);
    fx_rmtree(dir);
}

/* A character device and a FIFO are written through: no temporary file, no rename. */
static void test_destination_stream(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *fifo = fx_path(dir, "fifo"), *copy = fx_path(dir, "copy.json");
    char *ref = fx_path(dir, "ref.json"), err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    enum pb_file_kind kind;
    assert_int_equal(pb_file_probe("/dev/null", &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, PB_FILE_STREAM);
    assert_int_equal(pb_results_write_json(doc, "/dev/null", err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat("/dev/null", &st), 0);
    assert_true(S_ISCHR(st.st_mode));

    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(pb_file_probe(fifo, &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, PB_FILE_STREAM);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the reader: the FIFO's bytes into copy */
        FILE *in = fopen(fifo, "r"), *out = fopen(copy, "w");
        int c;
        while (in && out && (c = fgetc(in)) != EOF)
            fputc(c, out);
        _exit(in && out && fclose(out) == 0 ? 0 : 1);
    }
    assert_int_equal(pb_results_write_json(doc, fifo, err, sizeof(err)), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(pb_results_write_json(doc, ref, err, sizeof(err)), 0);
    char *a = fx_slurp(copy), *b = fx_slurp(ref);
    assert_string_equal(a, b);
    assert_int_equal(lstat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    char *ls = fx_dir_listing(dir);
    assert_string_equal(ls, "copy.json fifo ref.json");
    free(ls);
    free(a);
    free(b);
    pb_results_free(doc);
    free(fifo);
    free(copy);
    free(ref);
    fx_rmtree(dir);
}

/* The probe finds a bad destination without writing it; a name too long for its temporary
 * sibling takes a short one. */
static void test_destination_probe(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *nowhere = fx_path(dir, "no/r.json"), *file = fx_path(dir, "r.json");
    char err[PB_RESULTS_ERR_LEN], name[256];
    enum pb_file_kind kind;
    assert_int_equal(pb_file_probe(nowhere, &kind, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, nowhere));
    assert_non_null(strstr(err, "creating a temporary file beside it"));
    assert_int_equal(pb_file_probe(dir, &kind, err, sizeof(err)), -EISDIR);
    assert_non_null(strstr(err, "it is a directory"));
    assert_int_equal(pb_file_probe(file, &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, PB_FILE_REPLACE);
    char *ls = fx_dir_listing(dir);
    assert_string_equal(ls, ""); /* the temporary file made and gone */
    free(ls);

    /* 250 characters: the name fits, "NAME.tmp.XXXXXX" would not. */
    memset(name, 'x', 250);
    strcpy(name + 245, ".json");
    char *longname = fx_path(dir, name);
    assert_int_equal(pb_file_probe(longname, &kind, err, sizeof(err)), 0);
    struct pb_results *doc = fx_sample_doc(1.0, false, true);
    assert_int_equal(pb_results_write_json(doc, longname, err, sizeof(err)), 0);
    ls = fx_dir_listing(dir);
    assert_string_equal(ls, name);
    free(ls);
    /* 300: no file may have that name. */
    char toolong[301];
    memset(toolong, 'y', 300);
    toolong[300] = '\0';
    char *bad = fx_path(dir, toolong);
    assert_int_equal(pb_file_probe(bad, &kind, err, sizeof(err)), -ENAMETOOLONG);
    assert_int_equal(pb_results_write_json(doc, bad, err, sizeof(err)), -ENAMETOOLONG);
    pb_results_free(doc);
    free(bad);
    free(longname);
    free(file);
    free(nowhere);
    fx_rmtree(dir);
}

/* JSON on a stream is the file's text; a document missing a field is refused there too. */
static void test_print_json(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "r.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, err, sizeof(err)), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(pb_results_print_json(doc, f, err, sizeof(err)), 0);
    fclose(f);
    char *file = fx_slurp(p);
    assert_string_equal(text, file);
    /* Small objects of scalars on one line: a thread, a metric of the table. */
    assert_non_null(strstr(file, "{\"index\": 0, \"vcpu\": 0, \"node\": 0, \"pu\": 0"));
    assert_non_null(strstr(file, "\"pages_per_second\": {\"rank\": 0, \"unit\": \"pages/s\""));
    free(text);
    free(file);
    struct pb_results *bare;
    assert_int_equal(pb_results_create(&bare), 0);
    f = open_memstream(&text, &len);
    assert_int_equal(pb_results_print_json(bare, f, err, sizeof(err)), -EINVAL);
    fclose(f);
    assert_string_equal(text, "");
    assert_non_null(strstr(err, "missing required field 'context.date'"));
    free(text);
    pb_results_free(bare);
    pb_results_free(doc);
    free(p);
    fx_rmtree(dir);
}

/* ============================================================================================
 * JSON, CSV and the table
 * ========================================================================================== */

static void test_csv(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    struct pb_results_bench_spec spec = {"boot", "xen", NULL, 2, 0, 1, 10, 0.1, 2.0};
    struct pb_results_bench *a, *b;
    assert_int_equal(pb_results_add_bench(doc, &spec, &a), 0);
    spec.variant = "pernode";
    spec.lock_kind = "ticket";
    assert_int_equal(pb_results_add_bench(doc, &spec, &b), 0);
    /* Counters set in an odd order, unknown ones among them. */
    assert_int_equal(pb_results_bench_set_counter(a, "zeta", 1), 0);
    assert_int_equal(pb_results_bench_set_counter(a, "call_p99_ns", 250.5), 0);
    assert_int_equal(pb_results_bench_set_counter(a, "pages_per_second", 1e6), 0);
    assert_int_equal(pb_results_bench_set_string(a, "lock_hottest", "heap, \"node0\""), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", 2.5e6), 0);
    assert_int_equal(pb_results_bench_set_count(b, "calls", 42), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "alpha", 0.3), 0);

    char *csv = fx_capture(pb_results_print_csv, doc);
    assert_string_equal(
        csv, "name,workload,variant,lock_kind,threads,repetition_index,repetitions,iterations,"
             "real_time,cpu_time,time_unit,pages_per_second,call_p99_ns,lock_hottest,calls,"
             "alpha,zeta\n"
             "boot/xen/threads:2,boot,xen,,2,0,1,10,0.1,2,ns,1000000,250.5,"
             "\"heap, \"\"node0\"\"\",,,1\n"
             "boot/pernode/threads:2,boot,pernode,ticket,2,0,1,10,0.1,2,ns,2500000,,,42,0.3,\n");

    char *dir = fx_tmpdir(), *p = fx_path(dir, "r.csv");
    assert_int_equal(pb_results_write_csv(doc, p, NULL, 0), 0);
    char *file = fx_slurp(p);
    assert_string_equal(file, csv);
    free(file);
    free(csv);

    /* No entries: the header of the fixed columns alone. */
    struct pb_results *empty;
    assert_int_equal(pb_results_create(&empty), 0);
    csv = fx_capture(pb_results_print_csv, empty);
    assert_string_equal(csv, "name,workload,variant,lock_kind,threads,repetition_index,"
                             "repetitions,iterations,real_time,cpu_time,time_unit\n");
    free(csv);
    pb_results_free(empty);
    free(p);
    fx_rmtree(dir);
    pb_results_free(doc);
}

static void test_table(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    static const double pps[3] = {1e6, 3e6, 2e6}, p50[3] = {300, 100, 200};
    static const char *const hot[3] = {"heap.node1", "heap.global", "heap.global"};
    for (unsigned r = 0; r < 3; r++) {
        struct pb_results_bench *b = fx_add(doc, "bootstorm", "xen", 2, r, 3, 1.0);
        assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", pps[r]), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", p50[r]), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p99_ns", 1500), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p999_ns", 2.5e6 * (r + 1)), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "lock_contended_pct", 10.0 * r), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "lock_wait_ns_per_page", 40 + r), 0);
        assert_int_equal(pb_results_bench_set_string(b, "lock_hottest", hot[r]), 0);
        /* Another group between the repetitions: grouping is by name, not adjacency. */
        if (r == 0) {
            struct pb_results_bench *o = fx_add(doc, "bootstorm", "pernode", 16, 0, 2, 1.0);
            assert_int_equal(pb_results_bench_set_counter(o, "pages_per_second", 4.56e9), 0);
        }
    }
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    char *t = fx_capture(pb_results_print_table, doc);
    assert_string_equal(
        t, "partial run: only the repetitions that finished\n"
           "workload   variant  threads  reps  pages/s  call p50     p99   p99.9  hottest lock  "
           "contended  wait/page\n"
           "bootstorm  xen            2     3    2.00M     200ns  1.50us  5.00ms  heap.global   "
           "    10.0%     41.0ns\n"
           "bootstorm  pernode       16   1/2    4.56G         -       -       -  -             "
           "        -          -\n");
    free(t);
    pb_results_free(doc);

    assert_int_equal(pb_results_create(&doc), 0);
    t = fx_capture(pb_results_print_table, doc);
    assert_string_equal(t, "no benchmarks\n");
    free(t);
    pb_results_free(doc);
}

static void test_human_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *rate, *ns;
    } cases[] = {
        {0, "0", "0ns"},
        {5.5, "5.50", "5.50ns"},
        {812, "812", "812ns"},
        {999.4, "999", "999ns"},
        {999.6, "1.00k", "1.00us"},
        {1234, "1.23k", "1.23us"},
        {45.6e6, "45.6M", "45.6ms"},
        {7e9, "7.00G", "7.00s"},
        {3.6e12, "3.60T", "3600s"},
        {-2500, "-2.50k", "-2.50us"},
        {NAN, "-", "-"},
    };
    char buf[PB_RESULTS_FMT_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(pb_results_fmt_rate(cases[i].v, buf), cases[i].rate);
        assert_string_equal(pb_results_fmt_ns(cases[i].v, buf), cases[i].ns);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_unwritable_dir),
        cmocka_unit_test(test_atomic_write_fails_midway),
        cmocka_unit_test(test_atomic_write_failures_leave_nothing),
        cmocka_unit_test(test_file_copy_atomic),
        cmocka_unit_test(test_destination_symlink),
        cmocka_unit_test(test_destination_stream),
        cmocka_unit_test(test_destination_probe),
        cmocka_unit_test(test_print_json),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_human_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
