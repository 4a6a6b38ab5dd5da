/*
 * dir.c: a workloads directory: resolving what the user typed to a file, and listing every
 * workload of the directory with its description or its load error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pb.h"
#include "workloads/reader.h"
#include "workloads/workload.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stems of DIR's *.yaml files, sorted. */
static int list_stems(const char *dir, char ***out, size_t *nr)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    *nr = 0;
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char **grown;

        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        if (!grown || !(grown[n] = strndup(de->d_name, len - 5))) {
            names = grown ? grown : names;
            rc = -ENOMEM;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *nr = n;
    return 0;
}

static void free_stems(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int pb_workload_find(const char *name_or_path, const char *dir, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    size_t len;
    char **names;
    size_t n;
    int rc;

    if (!name_or_path || !path || !pathlen) {
        pb_errf(err, errlen, "pb_workload_find: no name or no room for the path");
        return -EINVAL;
    }
    len = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (len > 5 && strcmp(name_or_path + len - 5, ".yaml") == 0)) {
        if (len >= pathlen) {
            pb_errf(err, errlen, "%s: path too long (expected at most %zu bytes)", name_or_path,
                    pathlen - 1);
            return -ENAMETOOLONG;
        }
        if (access(name_or_path, R_OK)) {
            rc = -errno;
            pb_errf(err, errlen, "%s: %s (expected a readable workload file)", name_or_path,
                    strerror(-rc));
            return rc;
        }
        memcpy(path, name_or_path, len + 1);
        return 0;
    }
    if (!wl_valid_name(name_or_path)) {
        char shown[64];
        wl_sanitize(name_or_path, len, shown, sizeof(shown));
        pb_errf(err, errlen,
                "'%s' is not a workload name (expected letters, digits, '-', '_' and '.', or a "
                "path to a .yaml file)",
                shown);
        return -EINVAL;
    }
    if (!dir) {
        pb_errf(err, errlen, "pb_workload_find: no directory to look for '%s' in", name_or_path);
        return -EINVAL;
    }
    if ((size_t)snprintf(path, pathlen, "%s/%s.yaml", dir, name_or_path) >= pathlen) {
        pb_errf(err, errlen, "%s/%s.yaml: path too long (expected at most %zu bytes)", dir,
                name_or_path, pathlen - 1);
        path[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (access(path, R_OK) == 0)
        return 0;
    pb_errf(err, errlen, "no workload '%s' in %s (expected one of: ", name_or_path, dir);
    if (list_stems(dir, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            wl_msg_append(err, errlen, "%s%s", i ? ", " : "", names[i]);
        free_stems(names, n);
    }
    wl_msg_append(err, errlen, ")");
    path[0] = '\0';
    return -ENOENT;
}

int pb_workload_list(const char *dir, struct pb_wl_info **infos, size_t *nr)
{
    char **names;
    size_t n;
    struct pb_wl_info *out;
    int rc;

    if (!dir || !infos || !nr)
        return -EINVAL;
    *infos = NULL;
    *nr = 0;
    if ((rc = list_stems(dir, &names, &n)))
        return rc;
    out = calloc(n ? n : 1, sizeof(*out));
    if (!out) {
        free_stems(names, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct pb_workload wl;
        char err[1024];
        size_t need = strlen(dir) + strlen(names[i]) + 7;

        out[i].name = names[i];
        names[i] = NULL;
        out[i].path = malloc(need);
        if (!out[i].path) {
            rc = -ENOMEM;
            break;
        }
        snprintf(out[i].path, need, "%s/%s.yaml", dir, out[i].name);
        rc = pb_workload_load(out[i].path, &wl, err, sizeof(err));
        if (rc == -ENOMEM)
            break;
        if (rc) {
            out[i].error = strdup(err);
            if (!out[i].error) {
                rc = -ENOMEM;
                break;
            }
            rc = 0;
            continue;
        }
        out[i].kind = wl.kind;
        out[i].nr_members = wl.nr_members;
        out[i].description = wl.description;
        wl.description = NULL;
        pb_workload_free(&wl);
    }
    free_stems(names, n);
    if (rc) {
        pb_workload_list_free(out, n);
        return rc;
    }
    *infos = out;
    *nr = n;
    return 0;
}

void pb_workload_list_free(struct pb_wl_info *infos, size_t nr)
{
    if (!infos)
        return;
    for (size_t i = 0; i < nr; i++) {
        free(infos[i].name);
        free(infos[i].path);
        free(infos[i].description);
        free(infos[i].error);
    }
    free(infos);
}
