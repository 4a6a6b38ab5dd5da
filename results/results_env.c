/*
 * results_env.c: what a run can find out about its machine and build by itself, for the
 * context. Whatever /proc or /sys lacks becomes a neutral value, never an error: a results
 * file from a container is still a results file.
 */
#include "results/results_internal.h"

#include "core/pb.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* As CMake names the compiler (CMAKE_C_COMPILER_ID) and its version: "GNU 12.2.0". */
static void compiler_name(char *buf, size_t sz)
{
#if defined(__clang__)
    snprintf(buf, sz, "Clang %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    snprintf(buf, sz, "GNU %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    snprintf(buf, sz, "unknown %s", __VERSION__);
#endif
}

/* The first line of a small file, trailing whitespace dropped; false if unreadable. */
static bool read_line(const char *path, char *buf, size_t sz)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)sz, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    return n > 0;
}

/* The value of the first "key<spaces>: value" line of /proc/cpuinfo. */
static bool cpuinfo_field(const char *key, char *buf, size_t sz)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) || !strchr(" \t:", line[klen]))
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(buf, sz, "%s", v);
        size_t n = strlen(buf);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        found = n > 0;
    }
    fclose(f);
    return found;
}

/* How many CPUs a sysfs list such as "0-3,8,10-11" names. */
static unsigned cpu_list_count(const char *list)
{
    unsigned n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        unsigned long a = strtoul(p, &end, 10), b = a;
        if (end == p)
            break;
        if (*end == '-') {
            p = end + 1;
            b = strtoul(p, &end, 10);
            if (end == p || b < a)
                break;
        }
        n += (unsigned)(b - a + 1);
        p = *end == ',' ? end + 1 : end;
        if (*end != ',')
            break;
    }
    return n;
}

/* "32K" -> 32768. */
static uint64_t parse_size(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 10);
    switch (*end) {
    case 'K':
        return v << 10;
    case 'M':
        return v << 20;
    case 'G':
        return v << 30;
    default:
        return v;
    }
}

/* Google Benchmark's shape: [{"type","level","size","num_sharing"}] for CPU 0. */
static json_t *read_caches(void)
{
    json_t *caches = json_array();
    for (unsigned i = 0; caches; i++) {
        char path[128], type[32], level[16], size[32], shared[256];
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%u/type", i);
        if (!read_line(path, type, sizeof(type)))
            break;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%u/level", i);
        if (!read_line(path, level, sizeof(level)))
            break;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%u/size", i);
        if (!read_line(path, size, sizeof(size)))
            break;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%u/shared_cpu_list",
                 i);
        unsigned sharing = read_line(path, shared, sizeof(shared)) ? cpu_list_count(shared) : 1;
        json_t *c = json_pack("{s:s, s:I, s:I, s:I}", "type", type, "level",
                              (json_int_t)strtoul(level, NULL, 10), "size",
                              (json_int_t)parse_size(size), "num_sharing", (json_int_t)sharing);
        if (json_array_append_new(caches, c)) {
            json_decref(caches);
            return NULL;
        }
    }
    return caches;
}

/* ISO-8601 local time with a colon in the offset: "2026-11-26T06:00:00+00:00". */
static void iso_date(char *buf, size_t sz)
{
    time_t now = time(NULL);
    struct tm tm;
    char tz[8];
    localtime_r(&now, &tm);
    strftime(buf, sz, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(tz, sizeof(tz), "%z", &tm); /* "+0000" */
    size_t n = strlen(buf);
    if (strlen(tz) == 5)
        snprintf(buf + n, sz - n, "%.3s:%.2s", tz, tz + 3);
}

/* A string from the system; one that is not UTF-8 cannot go into JSON. */
static json_t *text(const char *s)
{
    json_t *v = json_string(s);
    return v ? v : json_string("unknown");
}

static int set_new(struct pb_results *doc, const char *key, json_t *v)
{
    return json_object_set_new(doc->context, key, v) ? -ENOMEM : 0;
}

int pb_results_fill_environment(struct pb_results *doc)
{
    if (!doc)
        return -EINVAL;
    int rc = 0;
    char buf[PATH_MAX + 1];

    iso_date(buf, sizeof(buf));
    rc = rc ? rc : set_new(doc, "date", text(buf));
    if (gethostname(buf, sizeof(buf) - 1))
        snprintf(buf, sizeof(buf), "unknown");
    buf[sizeof(buf) - 1] = '\0';
    rc = rc ? rc : set_new(doc, "host_name", text(buf));
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    rc = rc ? rc : set_new(doc, "executable", text(n > 0 ? buf : "unknown"));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    rc = rc ? rc : set_new(doc, "num_cpus", json_integer(cpus > 0 ? cpus : 0));
    double mhz = cpuinfo_field("cpu MHz", buf, sizeof(buf)) ? strtod(buf, NULL) : 0;
    rc = rc ? rc : set_new(doc, "mhz_per_cpu", json_integer((json_int_t)(mhz + 0.5)));

    char gov[64];
    bool have_gov =
        read_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", gov, sizeof(gov));
    /* As Google Benchmark reports it: a governor that is not "performance" scales. */
    rc = rc ? rc
            : set_new(doc, "cpu_scaling_enabled",
                      json_boolean(have_gov && strcmp(gov, "performance") != 0));
    rc = rc ? rc : set_new(doc, "caches", read_caches());
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = 0;
    rc = rc ? rc : set_new(doc, "load_avg", json_pack("[f, f, f]", load[0], load[1], load[2]));
#ifdef __OPTIMIZE__
    rc = rc ? rc : set_new(doc, "library_build_type", json_string("release"));
#else
    rc = rc ? rc : set_new(doc, "library_build_type", json_string("debug"));
#endif
    compiler_name(buf, sizeof(buf));
    rc = rc ? rc : set_new(doc, "compiler", text(buf));

    struct utsname u;
    if (uname(&u) == 0)
        snprintf(buf, sizeof(buf), "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
    else
        snprintf(buf, sizeof(buf), "unknown");
    rc = rc ? rc : set_new(doc, "kernel", text(buf));
    if (!cpuinfo_field("model name", buf, sizeof(buf)))
        snprintf(buf, sizeof(buf), "unknown");
    rc = rc ? rc : set_new(doc, "cpu_model", text(buf));
    rc = rc ? rc : set_new(doc, "governor", text(have_gov ? gov : "unknown"));
    if (!rc)
        rc = pb_results_set_library_version(doc, "jansson", jansson_version_str());
    if (!rc)
        rc = pb_results_set_library_version(doc, "glibc", gnu_get_libc_version());
    return rc;
}
