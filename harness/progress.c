/* progress.c — see progress.h. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

static int64_t *g_counts; /* [QB_PROG_KINDS], MAP_SHARED: written by the child, read by the parent */

int progress_init(void) {
    if (g_counts) return 0;
    void *p = mmap(NULL, sizeof(int64_t) * QB_PROG_KINDS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    g_counts = p;
    return 0;
}

void progress_reset(void) {
    for (int i = 0; g_counts && i < QB_PROG_KINDS; i++) __atomic_store_n(&g_counts[i], 0, __ATOMIC_RELAXED);
}

void progress_tick(int kind) {
    if (g_counts && kind >= 0 && kind < QB_PROG_KINDS) __atomic_fetch_add(&g_counts[kind], 1, __ATOMIC_RELAXED);
}

void progress_add(int kind, int n) {
    if (g_counts && kind >= 0 && kind < QB_PROG_KINDS) __atomic_fetch_add(&g_counts[kind], n, __ATOMIC_RELAXED);
}

void progress_read(int64_t done[QB_PROG_KINDS]) {
    for (int i = 0; i < QB_PROG_KINDS; i++) done[i] = g_counts ? __atomic_load_n(&g_counts[i], __ATOMIC_RELAXED) : 0;
}

void progress_out_init(ProgressOut *o, int quiet, double interval) {
    memset(o, 0, sizeof *o);
    o->quiet = quiet;
    o->tty = isatty(2);
    o->interval = interval > 0 ? interval : 5;
    o->last = -1e9;
}

void progress_live(ProgressOut *o, const char *text) {
    if (o->quiet) return;
    double now = qb_now();
    if (o->tty) {
        if (now - o->last < 0.25) return;
        fprintf(stderr, "\r\033[K%s", text);
        o->live = 1;
    } else {
        if (!o->force && (now - o->last < o->interval || !strcmp(text, o->last_text))) return;
        fprintf(stderr, "%s\n", text);
        snprintf(o->last_text, sizeof o->last_text, "%s", text);
    }
    fflush(stderr);
    o->last = now;
    o->force = 0;
}

void progress_end(ProgressOut *o) {
    if (o->live) fputs("\r\033[K", stderr);
    o->live = 0;
}

void progress_note(ProgressOut *o, const char *fmt, ...) {
    if (o->quiet) return;
    progress_end(o);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    o->last_text[0] = 0;
    if (!o->tty) o->last = qb_now(); /* the next live line waits a full interval after a permanent one */
    else o->last = -1e9;
}
