/* cmd_gate.c — `qinsbench gate RESULTS.h5 [--thresholds FILE]`: the CI regression gate's command. Prints one
 * line per check and exits 1 if any failed (2 for bad input). `--suggest` prints a thresholds file derived
 * from the results instead (how configs/gate-thresholds.json was made). The checks live in gate.c. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gate.h"
#include "opts.h"

static const char GATE_USAGE[] =
    "usage: qinsbench gate RESULTS.h5 [--thresholds FILE] [--suggest]\n"
    "Checks a results file (qinsbench run) against regression thresholds: per model, codec and KV mode the\n"
    "minimum greedy match rate and teacher-forced agreement, the maximum KL mean and dPPL, exact losslessness\n"
    "of fp32 vs the fp32 reference, and bits/weight exactly as each codec defines them. One line per check;\n"
    "exit 0 when all pass, 1 when any fails, 2 on bad input.\n"
    "  --thresholds FILE  thresholds JSON (default configs/gate-thresholds.json)\n"
    "  --suggest          print thresholds derived from RESULTS.h5 with the stated margins, check nothing\n";

int cmd_gate(int argc, char **argv) {
    static const struct option longopts[] = {
        {"thresholds", required_argument, 0, 't'}, {"suggest", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *thresholds = "configs/gate-thresholds.json";
    int suggest = 0, c;
    opts_reset();
    while ((c = getopt_long(argc, argv, "t:sh", longopts, NULL)) != -1) {
        switch (c) {
        case 't': thresholds = optarg; break;
        case 's': suggest = 1; break;
        case 'h': fputs(GATE_USAGE, stdout); return 0;
        default: return opts_bad(GATE_USAGE);
        }
    }
    if (argc - optind != 1) return opts_fail(argv[0], GATE_USAGE, "expected one results file");
    RdFile f;
    qb_status st = rd_open(argv[optind], &f);
    if (st) return opts_lib_error(argv[0], st);
    if (suggest) {
        st = gate_suggest(&f, stdout);
        rd_close(&f);
        return st ? opts_lib_error(argv[0], st) : 0;
    }
    GateSpec g;
    if ((st = gate_load(thresholds, &g))) {
        rd_close(&f);
        return opts_lib_error(argv[0], st);
    }
    int n = 0, fail = 0;
    st = gate_check(&f, &g, stdout, &n, &fail);
    if (!st) {
        if (fail) printf("gate: FAILED: %d of %d checks failed (%s against %s)\n", fail, n, f.path, thresholds);
        else printf("gate: passed: all %d checks (%s against %s)\n", n, f.path, thresholds);
    }
    gate_free(&g);
    rd_close(&f);
    if (st) return opts_lib_error(argv[0], st);
    return fail ? 1 : 0;
}
