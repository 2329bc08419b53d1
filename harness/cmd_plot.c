/* cmd_plot.c — `qinsbench plot RESULTS.h5 [--out DIR] [--bench FILE.csv]`: draws the comparison charts of a
 * results file with gnuplot (plot.c), each as PNG and SVG. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "opts.h"
#include "plot.h"

static const char PLOT_USAGE[] =
    "usage: qinsbench plot RESULTS.h5 [--out DIR] [--bench FILE.csv]\n"
    "Draws the comparison charts of a results file with gnuplot, each as DIR/<config>-<chart>.png (pngcairo)\n"
    "and .svg: greedy match rate with 95% CIs, survival curves, quality vs size (KL and dPPL against\n"
    "bits/weight), decode and prefill speed, memory breakdown, and flip margins. Needs gnuplot in PATH.\n"
    "  --out DIR         output directory (default results/), created if missing\n"
    "  --bench FILE.csv  `qinsbench bench --format csv` output: draws its memory-bandwidth bound on the speed\n"
    "                    chart where model and codec match\n";

int cmd_plot(int argc, char **argv) {
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'}, {"bench", required_argument, 0, 'b'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = "results", *bench_path = NULL;
    int c;
    opts_reset();
    while ((c = getopt_long(argc, argv, "o:b:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'b': bench_path = optarg; break;
        case 'h': fputs(PLOT_USAGE, stdout); return 0;
        default: return opts_bad(PLOT_USAGE);
        }
    }
    if (argc - optind != 1) return opts_fail(argv[0], PLOT_USAGE, "expected one results file");
    if (qb_check_not_input(out, argv[optind]) || (bench_path && qb_check_not_input(out, bench_path)))
        return opts_lib_error(argv[0], QB_ERR_INPUT);
    RdFile f;
    qb_status st = rd_open(argv[optind], &f);
    if (st) return opts_lib_error(argv[0], st);
    BenchFile bench = {0};
    if (bench_path && (st = bench_load(bench_path, &bench))) {
        rd_close(&f);
        return opts_lib_error(argv[0], st);
    }
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "qinsbench %s: %s: cannot create directory: %s\n", argv[0], out, strerror(errno));
        rd_close(&f);
        bench_free(&bench);
        return 2;
    }
    st = plot_results(&f, out, bench_path ? &bench : NULL, stdout);
    rd_close(&f);
    bench_free(&bench);
    return st ? opts_lib_error(argv[0], st) : 0;
}
