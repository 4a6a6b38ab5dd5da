/*
 * table.h: the aligned text / Markdown tables that compare, gate and history print.
 * A table belongs to the one function that builds and prints it.
 */
#ifndef POPBENCH_CLI_TABLE_H
#define POPBENCH_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define PB_CTABLE_MAX_COLS 64

struct pb_ctable {
    size_t ncol, nrow, cap;
    char **cell; /* [nrow * ncol], row-major; the first row is the header */
    bool failed; /* an allocation failed: printing says so instead of a partial table */
};

void pb_ctable_init(struct pb_ctable *t, size_t ncol);
/* Appends one row of exactly t->ncol strings (copied; NULL prints as "-"). */
void pb_ctable_add(struct pb_ctable *t, ...);
/* The same from an array of t->ncol strings. */
void pb_ctable_add_row(struct pb_ctable *t, const char *const *cells);
/* Columns padded to their widest cell; Markdown puts pipes and a separator under the header. */
void pb_ctable_print(const struct pb_ctable *t, bool markdown, FILE *out);
void pb_ctable_free(struct pb_ctable *t);

#endif
