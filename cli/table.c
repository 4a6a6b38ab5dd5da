/*
 * table.c: aligned text and Markdown tables (table.h).
 */
#include "cli/table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void pb_ctable_init(struct pb_ctable *t, size_t ncol)
{
    *t = (struct pb_ctable){.ncol = ncol};
}

void pb_ctable_add_row(struct pb_ctable *t, const char *const *cells)
{
    if (t->failed)
        return;
    if (t->nrow == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **cell = realloc(t->cell, cap * t->ncol * sizeof(*cell));
        if (!cell) {
            t->failed = true;
            return;
        }
        t->cell = cell;
        t->cap = cap;
    }
    char **row = &t->cell[t->nrow * t->ncol];
    for (size_t c = 0; c < t->ncol; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "-");
        t->failed |= !row[c];
    }
    t->nrow++;
}

void pb_ctable_add(struct pb_ctable *t, ...)
{
    const char *cells[PB_CTABLE_MAX_COLS];
    va_list ap;
    va_start(ap, t);
    for (size_t c = 0; c < t->ncol && c < PB_CTABLE_MAX_COLS; c++)
        cells[c] = va_arg(ap, const char *);
    va_end(ap);
    if (t->ncol > PB_CTABLE_MAX_COLS)
        t->failed = true;
    else
        pb_ctable_add_row(t, cells);
}

void pb_ctable_print(const struct pb_ctable *t, bool markdown, FILE *out)
{
    if (t->failed) {
        fprintf(out, "(out of memory: table not printed)\n");
        return;
    }
    size_t width[PB_CTABLE_MAX_COLS] = {0};
    size_t ncol = t->ncol < PB_CTABLE_MAX_COLS ? t->ncol : PB_CTABLE_MAX_COLS;
    for (size_t r = 0; r < t->nrow; r++)
        for (size_t c = 0; c < ncol; c++) {
            size_t w = strlen(t->cell[r * t->ncol + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    for (size_t r = 0; r < t->nrow; r++) {
        for (size_t c = 0; c < ncol; c++) {
            const char *s = t->cell[r * t->ncol + c];
            if (markdown)
                fprintf(out, "| %-*s ", (int)width[c], s);
            else if (c + 1 < ncol)
                fprintf(out, "%-*s  ", (int)width[c], s);
            else
                fprintf(out, "%s", s);
        }
        fputs(markdown ? "|\n" : "\n", out);
        if (markdown && r == 0) {
            for (size_t c = 0; c < ncol; c++) {
                fputs("|", out);
                for (size_t i = 0; i < width[c] + 2; i++)
                    fputc('-', out);
            }
            fputs("|\n", out);
        }
    }
}

void pb_ctable_free(struct pb_ctable *t)
{
    for (size_t i = 0; i < t->nrow * t->ncol; i++)
        free(t->cell[i]);
    free(t->cell);
    *t = (struct pb_ctable){0};
}
