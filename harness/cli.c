/* cli.c — the subcommand table and top-level dispatch (kept out of main.c so tests can call qb_main). */
#include <stdio.h>
#include <string.h>

#include "build_info.h"
#include "commands.h"

const qb_command qb_commands[] = {
    {"logits", cmd_logits, "run one forward pass and write the logits to a safetensors file"},
    {"generate", cmd_generate, "greedy generation from ids or a text prompt"},
    {"info", cmd_info, "config summary, parameters, bytes by tensor group, peak RSS"},
    {"verify", cmd_verify, "check the engine against a reference.safetensors file"},
    {"tokenize", cmd_tokenize, "text to token ids with a Hugging Face tokenizer.json"},
    {"detokenize", cmd_detokenize, "token ids to text"},
    {"codec", cmd_codec, "encode the 2-D tensors of a safetensors file with a codec and report errors"},
    {"run", cmd_run, "run an experiment config (every codec side by side) into an HDF5 results file"},
    {"show", cmd_show, "print the summary table of a results file"},
    {"merge", cmd_merge, "join shard results files of one config"},
    {"plot", cmd_plot, "draw the comparison charts of a results file with gnuplot"},
    {"report", cmd_report, "write REPORT.md from results files"},
    {"gate", cmd_gate, "check a results file against regression thresholds"},
    {"synth", cmd_synth, "write a synthetic Hugging Face checkpoint directory"},
    {"bench", cmd_bench, "prefill/decode speed per codec (llama-bench conventions)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
    fprintf(out, "usage: qinsbench COMMAND [options]   (qinsbench COMMAND --help for its options)\n\n"
                 "What does a weight codec do to a language model? Commands:\n");
    for (const qb_command *c = qb_commands; c->name; c++) fprintf(out, "  %-11s %s\n", c->name, c->summary);
}

int qb_main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("qinsbench %s\n", qb_git_rev);
        return 0;
    }
    for (const qb_command *c = qb_commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) {
            int rc = c->fn(argc - 1, argv + 1);
            /* output that never reached its destination (a full disk, a closed pipe) is a failure */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "qinsbench %s: writing the output failed\n", c->name);
                return rc ? rc : 2;
            }
            return rc;
        }
    fprintf(stderr, "qinsbench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
