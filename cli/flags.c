/*
 * flags.c: the flag parsing the commands share (cli.h).
 */
#include "cli/cli.h"

#include "core/heap.h"
#include "results/compare.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pb_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "popbench %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return PB_EXIT_USAGE;
}

int pb_cli_close_stdout(const char *cmd, int rc)
{
    /* errno of the write that failed is gone by now; the flush or close gives one again. */
    bool lost = ferror(stdout) != 0;
    errno = 0;
    if (fflush(stdout) != 0)
        lost = true;
    int e = errno;
    if (fclose(stdout) != 0) {
        lost = true;
        e = e ? e : errno;
    }
    if (!lost)
        return rc;
    fprintf(stderr, "popbench %s: cannot write to standard output%s%s: the output is incomplete\n",
            cmd, e ? ": " : "", e ? strerror(e) : "");
    return rc == PB_EXIT_OK ? PB_EXIT_USAGE : rc;
}

int pb_cli_option_error(const char *cmd, int c, int argc, char **argv)
{
    const char *arg = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return pb_cli_error(cmd, "%s needs a value (see popbench %s --help)", arg, cmd);
    return pb_cli_error(cmd, "unknown option '%s' (see popbench %s --help)", arg, cmd);
}

int pb_cli_double(const char *cmd, const char *flag, const char *arg, double lo, double hi,
                  bool percent, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    bool ok = end != arg && errno == 0 && isfinite(v);
    if (ok && percent && *end == '%') {
        v /= 100;
        end++;
    }
    if (!ok || *end != '\0' || v < lo || v > hi) {
        pb_cli_error(cmd, "%s '%s': expected a number from %g to %g%s", flag, arg, lo, hi,
                     percent ? " (or a percentage such as 5%)" : "");
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int pb_cli_effect_alpha(const char *cmd, int c, const char *arg, double *min_effect, double *alpha)
{
    if (c == 'e')
        return pb_cli_double(cmd, "--min-effect", arg, 0, 0.99, true, min_effect);
    return pb_cli_double(cmd, "--alpha", arg, 1e-9, 0.5, false, alpha);
}

int pb_cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

int pb_cli_u64(const char *cmd, const char *flag, const char *arg, uint64_t lo, uint64_t hi,
               uint64_t *out)
{
    uint64_t v;
    if (pb_cli_parse_u64(arg, &v) || v < lo || v > hi) {
        pb_cli_error(cmd, "%s '%s': expected an integer from %llu to %llu", flag, arg,
                     (unsigned long long)lo, (unsigned long long)hi);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int pb_cli_parse_threads(const char *s, unsigned *v, unsigned *n)
{
    char buf[256];
    *n = 0;
    if (!s || strlen(s) >= sizeof(buf) || !*s)
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t lo, hi;
        char *dash = strchr(tok, '-');
        if (dash) {
            *dash = '\0';
            if (pb_cli_parse_u64(tok, &lo) || pb_cli_parse_u64(dash + 1, &hi) || hi < lo)
                return -EINVAL;
        } else {
            if (pb_cli_parse_u64(tok, &lo))
                return -EINVAL;
            hi = lo;
        }
        if (lo < 1 || hi > 1024)
            return -EINVAL;
        for (uint64_t t = lo; t <= hi; t++) {
            bool dup = false;
            for (unsigned i = 0; i < *n; i++)
                dup |= v[i] == t;
            if (dup)
                continue;
            if (*n == PB_CLI_MAX_THREAD_COUNTS)
                return -E2BIG;
            v[(*n)++] = (unsigned)t;
        }
    }
    return *n ? 0 : -EINVAL;
}

char **pb_cli_split(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char **v = calloc(n + 1, sizeof(*v));
    char *copy = strdup(list);
    if (!v || !copy) {
        free(v);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!(v[k++] = strdup(tok))) {
            free(copy);
            pb_strv_free(v);
            return NULL;
        }
    free(copy);
    return v;
}

void pb_cli_variant_list(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *const *v = pb_variant_names(); *v && used < len; v++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", *v);
}
