/* The feature maps of linear attention: phi in {1+elu, relu}, forward and backward. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "linattn.h"
#include "vec.h"

static const char *const names[] = {[FEATUREMAP_ELU1] = "1+elu", [FEATUREMAP_RELU] = "relu"};

/* name -> featuremap through the names table. */
int featuremap_parse(featuremap *out, const char *name) {
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (featuremap)i;
            return 0;
        }
    return -1;
}

/* featuremap -> its name, "?" when out of range. */
const char *featuremap_name(featuremap fm) {
    return (unsigned)fm < sizeof names / sizeof names[0] ? names[fm] : "?";
}

/* out[r*ldo + c] = phi(inp[r*ldi + c]) for rows [r0, r1) x cols; one loop per feature map so the
 * inner loops vectorize. */
LRPE_VEC static void forward_span(float *out, int ldo, const float *inp, int ldi, int r0, int r1, int cols,
                                  featuremap fm) {
    for (int r = r0; r < r1; r++) {
        float *o = out + (size_t)r * ldo;
        const float *x = inp + (size_t)r * ldi;
        if (fm == FEATUREMAP_RELU)
            for (int c = 0; c < cols; c++) o[c] = x[c] > 0.0f ? x[c] : 0.0f;
        else
            for (int c = 0; c < cols; c++) o[c] = x[c] > 0.0f ? 1.0f + x[c] : lrpe_expf(x[c]);
    }
}

/* dinp[r*lddi + c] += dout[r*lddo + c] * phi' for rows [r0, r1) x cols, phi' read off the map's
 * output y = phi(x) at [r*ldy + c]: relu's y > 0 exactly where x > 0; 1+elu's y = e^x = phi'(x)
 * where x <= 0 and y = 1 + x >= 1 where x > 0 (y == 1 takes y, which is then phi' = 1 too). The
 * same bits as from x, without an exponential. */
LRPE_VEC static void backward_span(float *dinp, int lddi, const float *y, int ldy, const float *dout, int lddo,
                                   int r0, int r1, int cols, featuremap fm) {
    for (int r = r0; r < r1; r++) {
        float *d = dinp + (size_t)r * lddi;
        const float *yr = y + (size_t)r * ldy, *g = dout + (size_t)r * lddo;
        if (fm == FEATUREMAP_RELU)
            for (int c = 0; c < cols; c++) d[c] += yr[c] > 0.0f ? g[c] : 0.0f;
        else
            for (int c = 0; c < cols; c++) d[c] += yr[c] > 1.0f ? g[c] : g[c] * yr[c];
    }
}

void featuremap_forward_rows(float *out, int ldo, const float *inp, int ldi, int rows, int cols, featuremap fm) {
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += VEC_ROWS)
        forward_span(out, ldo, inp, ldi, r0, rows_end(r0, rows), cols, fm);
}

void featuremap_backward_rows(float *dinp, int lddi, const float *y, int ldy, const float *dout, int lddo, int rows,
                              int cols, featuremap fm) {
#pragma omp parallel for schedule(static)
    for (int r0 = 0; r0 < rows; r0 += VEC_ROWS)
        backward_span(dinp, lddi, y, ldy, dout, lddo, r0, rows_end(r0, rows), cols, fm);
}

void featuremap_forward(float *out, const float *inp, size_t n, featuremap fm) {
    forward_span(out, (int)n, inp, (int)n, 0, 1, (int)n, fm);
}

void featuremap_backward(float *dinp, const float *y, const float *dout, size_t n, featuremap fm) {
    backward_span(dinp, (int)n, y, (int)n, dout, (int)n, 0, 1, (int)n, fm);
}
