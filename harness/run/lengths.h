/* Length extrapolation: the final evaluation of a language model on its test split cut into
 * consecutive windows of each length of eval.lengths, by a copy of the trained model built for
 * that length (train short, test long). */
#ifndef LRPE_LENGTHS_H
#define LRPE_LENGTHS_H

#include <stddef.h>

#include "cfg.h"
#include "schema.h"
#include "workload.h"

/* The outcome at one length: the mean loss over every predicted token of the test split, or
 * not applicable (why says so: the learned absolute table ends at the training length, ...). */
typedef struct length_eval {
    long long len;
    double loss;    /* NaN when not applicable */
    char why[200];  /* "" when evaluated */
    char keys[3][32]; /* "test/loss@L", "test/bpc@L", "test/ppl@L": the summary keys */
} length_eval;

/* Evaluates the trained model of w (built from config c) at length L into *out (the task serves
 * windows of any length: vt->eval_windows). Memory stays of the training run's order: windows of
 * L tokens in batches of max(1, min(B, B T / L)) rows, softmax attention in query tiles, linear
 * attention chunked. cosFormer's M is the longer of the training and the evaluation length. */
void length_evaluate(workload *w, const cfg *c, unsigned long long seed, long long L, length_eval *out);

#endif
