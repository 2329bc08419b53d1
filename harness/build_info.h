/* build_info.h — what a binary says about its own build: the commit (with "-dirty" when the tree had
 * changes) and the optimisation/sanitizer flags. Defined in the generated $(BUILD)/build_info.c, which the
 * Makefile rewrites whenever either changes, so the values are never those of an earlier build. */
#ifndef QB_BUILD_INFO_H
#define QB_BUILD_INFO_H

extern const char qb_git_rev[];      /* short commit id, e.g. "fdb5652a1b2c" or "fdb5652a1b2c-dirty" */
extern const char qb_build_cflags[]; /* OPT and SAN as the Makefile passed them */

#endif
