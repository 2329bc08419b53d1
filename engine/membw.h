/* membw.h — this machine's memory read bandwidth, measured STREAM-style (a sum over a buffer much larger
 * than the caches), so speed results can be stated as a fraction of the bound memory sets. */
#ifndef QB_MEMBW_H
#define QB_MEMBW_H

#include <stddef.h>

/* Best-of-`reps` read bandwidth in GB/s (1e9 bytes/s) over a `bytes` buffer with `threads` threads
 * (OpenMP, static split). Returns 0 if the buffer cannot be allocated. */
double membw_read_gbs(size_t bytes, int threads, int reps);

#endif
