/* claims.h — the claims table of REPORT.md: each quantitative claim of the QINS write-up beside what we
 * measured (from the results files, from the weights of the models, or from exact byte arithmetic at the
 * claim's shapes), a verdict with its reason, and the command that reproduces the number. Where a claim is
 * not defined well enough to test, or cannot be measured here, the row says so instead of guessing. */
#ifndef QB_CLAIMS_H
#define QB_CLAIMS_H

#include <stdio.h>
#include "report.h"

/* The claim, quoted (REPORT.md's headline uses them too). */
extern const char claims_headline[];
extern const char claims_forward[];

/* Writes the "## Claims" section: the table, then the resolution table behind "more precision for small
 * weights". */
void claims_write(const ReportInput *in, FILE *o);

/* Exact bytes at rest under a codec spec at Phi-3.5-mini's shapes (config from the synth preset, no
 * weights), and its parameter count. */
qb_status report_phi35_bytes(const char *codec_spec, double *bytes, double *params);

#endif
