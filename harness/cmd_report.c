/* cmd_report.c — `qinsbench report RESULTS.h5… [--out REPORT.md] [--bench FILE.csv] [--charts DIR]`: writes
 * the markdown report (report.c) through OUT.tmp + rename, so a failed run never leaves half a report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "opts.h"
#include "report.h"

static const char REPORT_USAGE[] =
    "usage: qinsbench report RESULTS.h5... [--out REPORT.md] [--bench FILE.csv] [--charts DIR]\n"
    "Writes a markdown report from results files: the claims table (each claim of the QINS write-up beside\n"
    "what we measured, with 95% CIs and a verdict), what was run, per-model summary tables and the charts\n"
    "`qinsbench plot` drew.\n"
    "  --out FILE        output (default results/REPORT.md — the tracked REPORT.md only when asked; written via FILE.tmp + rename)\n"
    "  --bench FILE.csv  `qinsbench bench --format csv` output for the speed claim (e.g. results/bench-phi35.csv)\n"
    "  --charts DIR      where the charts are, as linked from the report (default docs/report)\n";

#define MAX_FILES 16

int cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"bench", required_argument, 0, 'b'},
                                             {"charts", required_argument, 0, 'c'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *out = "results/REPORT.md", *bench_path = NULL, *charts = "docs/report";
    int c, out_given = 0;
    opts_reset();
    while ((c = getopt_long(argc, argv, "o:b:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg, out_given = 1; break;
        case 'b': bench_path = optarg; break;
        case 'c': charts = optarg; break;
        case 'h': fputs(REPORT_USAGE, stdout); return 0;
        default: return opts_bad(REPORT_USAGE);
        }
    }
    if (!out_given && mkdir("results", 0755) && errno != EEXIST) {
        fprintf(stderr, "qinsbench %s: results: cannot create directory: %s\n", argv[0], strerror(errno));
        return 2;
    }
    for (int i = optind; i < argc; i++)
        if (qb_check_not_input(out, argv[i])) return opts_lib_error(argv[0], QB_ERR_INPUT);
    if (bench_path && qb_check_not_input(out, bench_path)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    int n = argc - optind;
    if (n < 1) return opts_fail(argv[0], REPORT_USAGE, "expected at least one results file");
    if (n > MAX_FILES) return opts_fail(argv[0], REPORT_USAGE, "at most %d results files", MAX_FILES);
    RdFile files[MAX_FILES];
    BenchFile bench = {0};
    qb_status st = QB_OK;
    int opened = 0;
    for (; opened < n && !st; opened++)
        if ((st = rd_open(argv[optind + opened], &files[opened]))) break;
    if (!st && bench_path) st = bench_load(bench_path, &bench);
    /* The command as given, quoted in the report (argv[0] is "report"). */
    char command[2048];
    size_t k = (size_t)snprintf(command, sizeof command, "qinsbench");
    for (int i = 0; i < argc && k < sizeof command; i++)
        k += (size_t)snprintf(command + k, sizeof command - k, " %s", argv[i]);
    char *tmp = NULL;
    if (!st && asprintf(&tmp, "%s.tmp", out) < 0) st = qb_errorf(QB_ERR_NOMEM, "out of memory");
    if (!st) {
        FILE *f = fopen(tmp, "w");
        if (!f) st = qb_errorf(QB_ERR_IO, "%s: cannot create", tmp);
        else {
            ReportInput in = {files, n, bench_path ? &bench : NULL, bench_path, charts, command};
            st = report_write(&in, f);
            if (fclose(f) && !st) st = qb_errorf(QB_ERR_IO, "%s: write error", tmp);
            if (!st && rename(tmp, out)) st = qb_errorf(QB_ERR_IO, "%s: cannot rename to %s", tmp, out);
            if (st) unlink(tmp);
        }
    }
    free(tmp);
    for (int i = 0; i < opened && i < n; i++) rd_close(&files[i]);
    bench_free(&bench);
    if (st) return opts_lib_error(argv[0], st);
    printf("qinsbench report: wrote %s\n", out);
    return 0;
}
