/* plot_gp.h — a gnuplot process driven through a pipe: data go inline as datablocks ($name << EOD), each
 * chart is drawn twice (PNG via pngcairo, then SVG) from one body of commands, nothing is written to
 * temporary files, and the exit status of gnuplot is checked. */
#ifndef QB_PLOT_GP_H
#define QB_PLOT_GP_H

#include <stdio.h>
#include "util.h"

typedef struct {
    FILE *pipe;
    char *out_dir;
    int n_charts;
} Gp;

/* Finds gnuplot in PATH (a clear QB_ERR_INPUT if it is missing) and starts it. */
qb_status gp_open(Gp *g, const char *out_dir);
/* Starts a datablock; write rows with fprintf(g->pipe, …), then gp_block_end. */
void gp_block_begin(Gp *g, const char *name);
void gp_block_end(Gp *g);
/* Draws `body` (gnuplot commands ending with a plot) into out_dir/name.png (w × h pixels) and name.svg. */
void gp_chart(Gp *g, const char *name, int w, int h, const char *body);
/* Closes the pipe; fails when gnuplot exited nonzero (its own messages went to stderr). */
qb_status gp_close(Gp *g);
/* Copies s into buf as text safe inside a double-quoted gnuplot string (drops quotes, backslashes and
 * control characters). */
const char *gp_str(const char *s, char *buf, size_t n);

#endif
