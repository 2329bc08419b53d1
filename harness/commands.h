/* commands.h — every qinsbench subcommand: int cmd_NAME(int argc, char **argv) returns the process exit
 * status (0 ok, 1 a check failed, 2 bad input). argv[0] is the command name. main() only dispatches. */
#ifndef QB_COMMANDS_H
#define QB_COMMANDS_H

int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_codec(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} qb_command;

extern const qb_command qb_commands[];
/* Runs argv[1] as a command (the whole CLI; main just calls this). */
int qb_main(int argc, char **argv);

#endif
