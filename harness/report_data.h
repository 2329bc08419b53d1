/* report_data.h — read-side view of a results file for plot, report and gate: the summary rows, the root
 * attributes a report quotes, and checked reads of per-cell and per-model datasets (schema:
 * docs/results.md). Built on the h5r_* helpers; every error names the file. */
#ifndef QB_REPORT_DATA_H
#define QB_REPORT_DATA_H

#include <hdf5.h>
#include <stddef.h>
#include <stdio.h>
#include "h5_results.h"

typedef struct {
    char *path;
    hid_t file;
    SummaryRow *rows;
    size_t n;
    /* root attributes ("" when absent: files from older runners stay readable) */
    char *config_name, *config_path, *config_text, *git_commit, *compiler, *cflags, *cpu_model, *start_time,
        *qinsbench_version, *hdf5_version;
} RdFile;

/* Opens `path` read-only and reads /summary and the root attributes. On error the message starts with path. */
qb_status rd_open(const char *path, RdFile *f);
void rd_close(RdFile *f);

/* 1 when the row's status is "ok". */
int rd_ok(const SummaryRow *r);
/* 1 when the object exists in the file. */
int rd_exists(const RdFile *f, const char *obj);
/* Reads /cells/<cell>/<name> (e.g. "greedy/survival") as `type` into a heap buffer. */
qb_status rd_cell(const RdFile *f, const SummaryRow *r, const char *name, hid_t type, void **out, size_t *n);
/* Reads /models/<model>/<name>. */
qb_status rd_model(const RdFile *f, const char *model, const char *name, hid_t type, void **out, size_t *n);
/* A string attribute of /models/<model> ("path", "reference"); heap string, "" when absent. */
char *rd_model_attr(const RdFile *f, const char *model, const char *name);

/* The distinct model labels of the rows, in first-seen order (pointers into rows); returns the count. */
size_t rd_models(const RdFile *f, const char **out, size_t max);
/* The row of (model, codec, kv), or NULL. kv NULL matches any mode. */
const SummaryRow *rd_find(const RdFile *f, const char *model, const char *codec, const char *kv);

/* Markdown helpers shared by the report and the claims table: a table cell with '|' escaped and newlines
 * folded; a rate as "12.34% [lo, hi]" ("–" when not measured, no interval when the bounds are not finite). */
void rd_md_cell(FILE *o, const char *s);
const char *rd_fmt_rate(char *b, size_t n, double v, double lo, double hi);

#endif
