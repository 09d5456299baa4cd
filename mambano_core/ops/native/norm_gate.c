/* The output end of SS2D, out = W (LayerNorm(y) * gate) (VMamba; Ba, Kiros & Hinton 2016 for the
 * norm), forward and backward in one pass over the rows, each row's d values in vectors.
 *
 * Layouts (float32, contiguous): y, gate (rows, d); nw, nb (d) the norm's affine; W (dout, d)
 * and its transpose wt (d, dout); out, grad (rows, dout); mean, rstd (rows). d and dout are
 * multiples of 8. The backward writes dy, dgate (rows, d) and, per block of BLOCK rows, the
 * partial sums of W's gradient (dout, d) and of the affine's (d each), which the caller adds up
 * in block order: the results do not depend on the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));

static inline v8 ld(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline v8 set1(float x) { return (v8){x, x, x, x, x, x, x, x}; }
static inline float hsum(v8 a) {
    float s0 = a[0] + a[4], s1 = a[1] + a[5], s2 = a[2] + a[6], s3 = a[3] + a[7];
    return (s0 + s2) + (s1 + s3);
}

/* Rows per block of the weight-gradient partial sums. */
int64_t norm_gate_block_rows(void) { return 256; }

/* The widest d and dout the kernels take (per-thread tiles of 4 rows live on the stack). */
int64_t norm_gate_max_dim(void);

/* Mean and 1 / sqrt(variance + eps) of one row (two passes: the variance of the deviations). */
static void row_stats(const float *restrict y, int64_t d, float eps, float *mean, float *rstd) {
    v8 s = set1(0.0f);
    for (int64_t c = 0; c < d; c += 8) s += ld(y + c);
    const float m = hsum(s) / (float)d;
    v8 q = set1(0.0f);
    for (int64_t c = 0; c < d; c += 8) {
        v8 e = ld(y + c) - m;
        q += e * e;
    }
    *mean = m;
    *rstd = 1.0f / sqrtf(hsum(q) / (float)d + eps);
}

#define TR 4     /* rows per register tile */
#define MAXD 1024 /* widest d and dout */

int64_t norm_gate_max_dim(void) { return MAXD; }

/* acc[r][v] += x[r][k] * m[k][c0 + 8 v] over k < kn, for TR rows and NV vectors of columns:
 * TR x NV independent multiply-add chains. x rows have stride xs, m rows stride ms. */
#define TILE_PRODUCT(NV, acc, x, xs, m, ms, kn, c0)                                            \
    do {                                                                                       \
        for (int r_ = 0; r_ < TR; r_++)                                                        \
            for (int v_ = 0; v_ < (NV); v_++) acc[r_][v_] = set1(0.0f);                        \
        for (int64_t k_ = 0; k_ < (kn); k_++) {                                                \
            v8 mv_[NV];                                                                        \
            for (int v_ = 0; v_ < (NV); v_++) mv_[v_] = ld((m) + k_ * (ms) + (c0) + 8 * v_);   \
            for (int r_ = 0; r_ < TR; r_++) {                                                  \
                const v8 xv_ = set1((x)[r_ * (xs) + k_]);                                      \
                for (int v_ = 0; v_ < (NV); v_++) acc[r_][v_] += xv_ * mv_[v_];                \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* y (TR rows, stride ys, first `rows` of them stored) = x (TR x kn, stride xs) times m
 * (kn x cols, stride ms), in column blocks of 16 then 8. */
static void tile_matmul(const float *restrict x, int64_t xs, const float *restrict m, int64_t ms, int64_t kn,
                        int64_t cols, float *restrict y, int64_t ys, int rows) {
    int64_t c0 = 0;
    for (; c0 + 16 <= cols; c0 += 16) {
        v8 acc[TR][2];
        TILE_PRODUCT(2, acc, x, xs, m, ms, kn, c0);
        for (int r = 0; r < rows; r++) { st(y + r * ys + c0, acc[r][0]); st(y + r * ys + c0 + 8, acc[r][1]); }
    }
    for (; c0 < cols; c0 += 8) {
        v8 acc[TR][1];
        TILE_PRODUCT(1, acc, x, xs, m, ms, kn, c0);
        for (int r = 0; r < rows; r++) st(y + r * ys + c0, acc[r][0]);
    }
}

/* out[r] = W ((y[r] - mean) rstd nw + nb) * gate[r]); keeps mean and rstd per row. */
int norm_gate_forward(int64_t rows, int64_t d, int64_t dout, const float *y, const float *gate, const float *nw,
                      const float *nb, const float *wt, float eps, float *out, float *mean, float *rstd,
                      int nthreads) {
    if (d % 8 || dout % 8 || d > MAXD || dout > MAXD) return -2;
    const int64_t tiles = (rows + TR - 1) / TR;
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int64_t t = 0; t < tiles; t++) {
        float prod[TR * MAXD] __attribute__((aligned(32)));
        const int64_t r0 = t * TR;
        const int n = rows - r0 < TR ? (int)(rows - r0) : TR;
        for (int i = 0; i < TR; i++) {
            float *p = prod + i * d;
            if (i >= n) { memset(p, 0, sizeof(float) * (size_t)d); continue; }
            const int64_t r = r0 + i;
            const float *yr = y + r * d, *gr = gate + r * d;
            float m, s;
            row_stats(yr, d, eps, &m, &s);
            mean[r] = m;
            rstd[r] = s;
            for (int64_t c = 0; c < d; c += 8)
                st(p + c, ((ld(yr + c) - m) * s * ld(nw + c) + ld(nb + c)) * ld(gr + c));
        }
        tile_matmul(prod, d, wt, dout, d, dout, out + r0 * dout, dout, n);
    }
    return 0;
}

/* The backward of norm_gate_forward. dw_parts (nblocks, dout, d), dnw_parts, dnb_parts
 * (nblocks, d): each block's partial sums. */
int norm_gate_backward(int64_t rows, int64_t d, int64_t dout, const float *y, const float *gate, const float *nw,
                       const float *nb, const float *w, const float *mean, const float *rstd, const float *grad,
                       float *dy, float *dgate, float *dw_parts, float *dnw_parts, float *dnb_parts, int nthreads) {
    if (d % 8 || dout % 8 || d > MAXD || dout > MAXD) return -2;
    const int64_t block = norm_gate_block_rows(), nblocks = (rows + block - 1) / block;
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        float *dw = dw_parts + blk * dout * d, *dnw = dnw_parts + blk * d, *dnb = dnb_parts + blk * d;
        float g[TR * MAXD] __attribute__((aligned(32))), gp[TR * MAXD] __attribute__((aligned(32)));
        float prod[TR * MAXD] __attribute__((aligned(32)));
        memset(dw, 0, sizeof(float) * (size_t)(dout * d));
        memset(dnw, 0, sizeof(float) * (size_t)d);
        memset(dnb, 0, sizeof(float) * (size_t)d);
        const int64_t r1 = (blk + 1) * block < rows ? (blk + 1) * block : rows;
        for (int64_t r0 = blk * block; r0 < r1; r0 += TR) {
            const int n = r1 - r0 < TR ? (int)(r1 - r0) : TR;
            memcpy(g, grad + r0 * dout, sizeof(float) * (size_t)(n * dout));
            memset(g + n * dout, 0, sizeof(float) * (size_t)((TR - n) * dout));
            tile_matmul(g, dout, w, d, dout, d, gp, d, TR); /* gp = grad W */
            for (int i = 0; i < TR; i++) {
                float *p = prod + i * d;
                if (i >= n) { memset(p, 0, sizeof(float) * (size_t)d); continue; }
                const int64_t r = r0 + i;
                const float *yr = y + r * d, *gr = gate + r * d, *gpr = gp + i * d;
                const float m = mean[r], s = rstd[r];
                v8 a = set1(0.0f), b = set1(0.0f);
                for (int64_t c = 0; c < d; c += 8) {
                    const v8 x = (ld(yr + c) - m) * s, normed = x * ld(nw + c) + ld(nb + c), gt = ld(gr + c);
                    const v8 gpv = ld(gpr + c), gn = gpv * gt;
                    st(dgate + r * d + c, gpv * normed);
                    st(p + c, normed * gt);
                    st(dnw + c, ld(dnw + c) + gn * x);
                    st(dnb + c, ld(dnb + c) + gn);
                    const v8 nwn = gn * ld(nw + c);
                    a += nwn;
                    b += nwn * x;
                }
                const float ma = hsum(a) / (float)d, mb = hsum(b) / (float)d;
                for (int64_t c = 0; c < d; c += 8) {
                    const v8 x = (ld(yr + c) - m) * s, gn = ld(gpr + c) * ld(gr + c);
                    st(dy + r * d + c, s * (gn * ld(nw + c) - ma - x * mb));
                }
            }
            /* dW (dout x d) += g^T prod: per block of 8 columns the TR prod rows in registers */
            for (int64_t c0 = 0; c0 < d; c0 += 8) {
                v8 pr[TR];
                for (int i = 0; i < TR; i++) pr[i] = ld(prod + i * d + c0);
                for (int64_t o = 0; o < dout; o++) {
                    v8 acc = ld(dw + o * d + c0);
                    for (int i = 0; i < TR; i++) acc += set1(g[i * dout + o]) * pr[i];
                    st(dw + o * d + c0, acc);
                }
            }
        }
    }
    return 0;
}
