/* plot_gp.c — the gnuplot pipe (see plot_gp.h). gnuplot reads commands from the pipe non-interactively, so
 * an error in a script makes it exit nonzero, which pclose reports: a chart that failed to draw fails the
 * command instead of leaving a silently empty file. */
#include "plot_gp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int in_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s/%s", *d ? d : ".", prog);
        found = access(buf, X_OK) == 0;
    }
    free(copy);
    return found;
}

qb_status gp_open(Gp *g, const char *out_dir) {
    memset(g, 0, sizeof *g);
    if (strchr(out_dir, '\'') || strchr(out_dir, '\n'))
        return qb_errorf(QB_ERR_INPUT, "%s: output directory names with quotes or newlines are not supported", out_dir);
    if (!in_path("gnuplot"))
        return qb_errorf(QB_ERR_INPUT, "gnuplot: not found in PATH; install it (Debian: apt-get install gnuplot-nox) "
                                       "to draw charts — every other command works without it");
    fflush(NULL);
    g->pipe = popen("gnuplot", "w");
    if (!g->pipe) return qb_errorf(QB_ERR_IO, "gnuplot: cannot start it");
    g->out_dir = strdup(out_dir);
    /* noenhanced: codec names such as q8_0 must not turn into subscripts. */
    fputs("set encoding utf8\nset termoption noenhanced\n", g->pipe);
    return QB_OK;
}

void gp_block_begin(Gp *g, const char *name) { fprintf(g->pipe, "$%s << EOD\n", name); }
void gp_block_end(Gp *g) { fputs("EOD\n", g->pipe); }

void gp_chart(Gp *g, const char *name, int w, int h, const char *body) {
    fprintf(g->pipe, "reset\nset termoption noenhanced\n");
    fprintf(g->pipe, "set terminal pngcairo size %d,%d font 'DejaVu Sans,10' noenhanced\nset output '%s/%s.png'\n%s\nunset output\n",
            w, h, g->out_dir, name, body);
    fprintf(g->pipe, "reset\nset terminal svg size %d,%d font 'DejaVu Sans,10' noenhanced background '#ffffff'\nset output '%s/%s.svg'\n%s\nunset output\n",
            w, h, g->out_dir, name, body);
    g->n_charts++;
}

qb_status gp_close(Gp *g) {
    if (!g->pipe) return QB_OK;
    fputs("exit\n", g->pipe);
    int st = pclose(g->pipe);
    g->pipe = NULL;
    free(g->out_dir);
    g->out_dir = NULL;
    if (st == -1) return qb_errorf(QB_ERR_IO, "gnuplot: cannot wait for it");
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        return qb_errorf(QB_ERR_IO, "gnuplot: failed (%s %d; its messages are above)",
                         WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return QB_OK;
}

const char *gp_str(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s != '"' && *s != '\'' && *s != '\\' && (unsigned char)*s >= 0x20) buf[k++] = *s;
    buf[k] = 0;
    return buf;
}
