/* progress.h — progress of a `run` that moves: the forked cell (or reference) child counts the prompts,
 * windows and speed repeats it has finished in a shared record (progress_tick, one call per loop); the parent
 * reads it while it waits and prints one live line on a terminal (\r, at most 4 times a second) or, in a
 * log, one line per change at most every `interval` seconds. Permanent lines (a cell's headline) go through
 * progress_note so the live line never garbles them. */
#ifndef QB_PROGRESS_H
#define QB_PROGRESS_H

#include <stdint.h>

/* prompts decoded greedily, prompts teacher-forced, perplexity windows, speed repeats */
enum { QB_PROG_PROMPT, QB_PROG_FORCED, QB_PROG_WINDOW, QB_PROG_REPEAT, QB_PROG_KINDS };

/* Maps the shared record (before any fork; the children inherit it). Returns 0, or -1 when mmap fails
 * (progress is then silent, nothing else changes). */
int progress_init(void);
/* Parent, before starting a child: zero the counters. */
void progress_reset(void);
/* Child: one more unit of `kind` done (a no-op when progress_init was never called). */
void progress_tick(int kind);
void progress_add(int kind, int n);
/* Parent: the counters now. */
void progress_read(int64_t done[QB_PROG_KINDS]);

typedef struct {
    int quiet, tty;
    double interval;  /* log mode: seconds between lines */
    double last;      /* when the last live line was printed */
    int live;         /* tty: a live line is on screen */
    int force;        /* the next live line is printed whatever the interval (a cell's first line) */
    char last_text[256];
} ProgressOut;

void progress_out_init(ProgressOut *o, int quiet, double interval);
/* A live status line (replaced by the next one); rate-limited as described above. */
void progress_live(ProgressOut *o, const char *text);
/* A permanent line (clears the live line first). Silent when quiet. */
void progress_note(ProgressOut *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the live line (before an error message or the end of the run). */
void progress_end(ProgressOut *o);

#endif
