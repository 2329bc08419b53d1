/* check_main.h — what every Check test binary's main() does: run one suite, report, and exit 1 when any
 * test failed (0 otherwise). */
#ifndef QB_CHECK_MAIN_H
#define QB_CHECK_MAIN_H

#include <check.h>

static inline int qb_check_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
