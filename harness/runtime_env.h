/* runtime_env.h — environment variables that libraries read before main() runs, set by qinsbench itself
 * when the user has not: main() re-executes once when qb_runtime_env() changed any. */
#ifndef QB_RUNTIME_ENV_H
#define QB_RUNTIME_ENV_H

/* Sets what is missing; returns 1 if anything was set (the process must re-exec for it to take effect),
 * 0 if nothing was. A variable the user set is never touched. */
int qb_runtime_env(void);

/* The OPENBLAS_CORETYPE this process should ask for, or NULL to keep OpenBLAS's own choice: OpenBLAS
 * picked the generic "Prescott" kernels on a CPU whose SIMD level (codec_simd_level) it did not
 * recognise. Exposed for the test. */
const char *qb_blas_coretype_fix(const char *openblas_core, int simd_level);

#endif
