/* plot.h — the comparison charts of one results file (gnuplot): greedy match with CIs, survival curves,
 * quality vs size, speed, memory breakdown and flip margins. */
#ifndef QB_PLOT_H
#define QB_PLOT_H

#include "report_data.h"

/* A memory-bandwidth bound from `qinsbench bench --format csv` (NaN where unknown). */
typedef struct {
    char model[128];
    char codec[128];
    char test[8];     /* "pp" or "tg" */
    double avg_ts, bound_ts;
} BenchRow;
typedef struct {
    BenchRow *rows;
    int n;
} BenchFile;
/* Reads the CSV (header checked, quoted fields allowed). */
qb_status bench_load(const char *path, BenchFile *b);
void bench_free(BenchFile *b);

/* Writes the charts of `f` into out_dir as PREFIX-NAME.png and .svg (prefix = the config name). `bench` may
 * be NULL. Names of the charts written are printed to `log` (may be NULL). */
qb_status plot_results(const RdFile *f, const char *out_dir, const BenchFile *bench, FILE *log);

/* The file name stem the charts of model `model` (or NULL: all models) get: "<prefix>-<kind>[-<model>]",
 * with characters outside [A-Za-z0-9_.-] mapped to '_'. */
void plot_chart_name(const RdFile *f, const char *kind, const char *model, char *buf, size_t n);

#endif
