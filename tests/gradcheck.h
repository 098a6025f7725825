/* Finite-difference gradient checking and small helpers shared by the tests. */
#ifndef LRPE_GRADCHECK_H
#define LRPE_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"
#include "train.h"

/* A scalar loss of the current values of the inputs, computed by running a forward pass. */
typedef double (*loss_fn)(void *ctx);

/* Checks analytic[i] against the central difference (f(x+eps) - f(x-eps)) / 2eps for
 * elements of x[n] (all of them when n <= max_checks, else max_checks spread evenly);
 * restores x. Records a test failure naming `what` and the worst element. Returns the number of
 * mismatches. */
int gradcheck(const char *what, loss_fn f, void *ctx, float *x, const float *analytic, size_t n,
              double eps, double rtol, double atol, size_t max_checks);

/* A max_checks for gradcheck over n floats in rows of `period` (>= target) whose implied stride is
 * coprime with the period, so the checked elements cover every column. */
size_t gradcheck_spread(size_t n, size_t period, size_t target);
/* gradcheck of x[n] laid out in rows of `period`, about max_checks elements spread over every
 * column, with the finite-difference forwards on one thread (fast on a busy machine; outputs do
 * not depend on the thread count beyond rounding); restores the thread count. */
int gradcheck_rows(const char *what, loss_fn f, void *ctx, float *x, const float *analytic, size_t n,
                   size_t period, double eps, double rtol, double atol, size_t max_checks);

/* x[n] ~ N(0, std^2) from r. */
void fill_normal(float *x, size_t n, float std, rng *r);
/* a new tcalloc'd array of n floats ~ N(0, std^2) from r */
float *trandn(rng *r, size_t n, float std);
/* sum_i out[i] * w[i] in double: the projection that turns an op's output into a scalar loss. */
double dot_loss(const float *out, const float *w, size_t n);
/* Padding masks for attention tests: MASK_NONE is NULL (no padding); MASK_PAD a malloc'd valid[B, T]:
 * batch 0 all valid, batch 1 the first token and the last third padded (under causal attention
 * query 0 sees no key), batch 2 all padded (no query sees a key), batch 3+ every 7th token and
 * the last one padded. */
typedef enum mask_kind { MASK_NONE, MASK_PAD } mask_kind;
uint8_t *make_mask(mask_kind mk, int B, int T);
/* model_forward's loss; NaN after recording a test failure when the forward refuses the batch. */
double test_forward(model *m, const model_batch *b);
/* trainer_step's loss; NaN after recording a test failure when the step refuses the batch. */
double test_train_step(trainer *tr, const model_batch *b, float lr, float clip, double *gnorm);
/* a copy of x[n] in a new tcalloc'd array */
float *tdup(const float *x, size_t n);
/* a calloc'd float array (test code only), aborting on failure */
float *tcalloc(size_t n);

#endif
