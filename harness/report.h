/* report.h — REPORT.md from results files: what was run, per-model summary tables, the charts, and the
 * claims table (each claim of the QINS write-up beside what we measured, with CI and a verdict). */
#ifndef QB_REPORT_H
#define QB_REPORT_H

#include <stdio.h>
#include "plot.h"
#include "report_data.h"

typedef struct {
    const RdFile *files;
    int n_files;
    const BenchFile *bench;  /* may be NULL */
    const char *bench_path;  /* its path, for the text */
    const char *charts_dir;  /* where `qinsbench plot` wrote the charts, as linked from the report */
    const char *command;     /* the command line that made the report (quoted in it) */
} ReportInput;

qb_status report_write(const ReportInput *in, FILE *out);

#endif
