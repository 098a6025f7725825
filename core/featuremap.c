/* The feature maps of linear attention: phi in {1+elu, relu}, forward and backward. */
#include <math.h>
#include <string.h>

#include "fastmath.h"
#include "linattn.h"

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

/* out[n] = phi(inp[n]), elementwise, OpenMP over n. */
void featuremap_forward(float *out, const float *inp, size_t n, featuremap fm) {
    if (fm == FEATUREMAP_RELU) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
    } else {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? 1.0f + inp[i] : lrpe_expf(inp[i]);
    }
}

/* dinp[n] += dout[n] * phi'(inp[n]). */
void featuremap_backward(float *dinp, const float *inp, const float *dout, size_t n, featuremap fm) {
    if (fm == FEATUREMAP_RELU) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            if (inp[i] > 0.0f) dinp[i] += dout[i];
    } else {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) dinp[i] += inp[i] > 0.0f ? dout[i] : dout[i] * lrpe_expf(inp[i]);
    }
}


/* out[r*ldo + c] = phi(inp[r*ldi + c]) for rows x cols (strided views), OpenMP over rows; one loop
 * per feature map so the inner loops vectorize. */
void featuremap_forward_rows(float *out, int ldo, const float *inp, int ldi, int rows, int cols, featuremap fm) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)r * ldo;
        const float *x = inp + (size_t)r * ldi;
        if (fm == FEATUREMAP_RELU) {
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] = x[c] > 0.0f ? x[c] : 0.0f;
        } else {
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] = x[c] > 0.0f ? 1.0f + x[c] : lrpe_expf(x[c]);
        }
    }
}

/* dinp[r*lddi + c] += dout[r*lddo + c] * phi'(inp[r*ldi + c]) for rows x cols, OpenMP over rows. */
void featuremap_backward_rows(float *dinp, int lddi, const float *inp, int ldi, const float *dout, int lddo, int rows,
                              int cols, featuremap fm) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *d = dinp + (size_t)r * lddi;
        const float *x = inp + (size_t)r * ldi, *g = dout + (size_t)r * lddo;
        if (fm == FEATUREMAP_RELU) {
#pragma omp simd
            for (int c = 0; c < cols; c++) d[c] += x[c] > 0.0f ? g[c] : 0.0f;
        } else {
#pragma omp simd
            for (int c = 0; c < cols; c++) d[c] += x[c] > 0.0f ? g[c] : g[c] * lrpe_expf(x[c]);
        }
    }
}
