/* Alias-free activations as direct FIR passes, one image at a time (see mambano_core/ops/alias_free.py).
 *
 * A 1-D linear map along an axis is given in band form: output j reads the k inputs
 * s0[j] .. s0[j] + k - 1 with weights w[j * k + i]; for a strided FIR these are the polyphase
 * taps of output j, for a matrix map the nonzero band of its column j (zero-padded to k).
 *
 * Every pass runs along the rows of a row-major (n, width) array, vectorised across the row:
 * out[j, :] = sum_i w[j, i] * x[s0[j] + i, :], one multiply-add per tap on contiguous data.
 * The W-axis passes transpose the image first (small, in cache). A fused call per image runs
 *   up along H, transpose, up along W, nonlinearity, down along W, transpose, down along H
 * in two scratch buffers per thread that stay in L2, so the oversampled intermediate never
 * goes to memory. The backward runs the adjoint maps (given in the same band form) in reverse.
 *
 * Each output is a fixed-order sum, and images are independent: results do not depend on the
 * thread count. Plain C with GCC vector extensions (no intrinsics); no -ffast-math.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t n, m, k, pad;
    const int32_t *s0;
    const float *w;
} band_t;

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int32_t i8 __attribute__((vector_size(32)));

enum { ACT_LRELU = 0, ACT_SILU = 1 };

/* y (m, width) = band applied along the rows of x (n, width). */
static void rows_pass(const float *restrict x, float *restrict y, int width, const band_t *b)
{
    const int k = b->k;
    for (int j = 0; j < b->m; j++) {
        const float *restrict wj = b->w + (size_t)j * k;
        const float *restrict xj = x + (size_t)b->s0[j] * width;
        float *restrict yj = y + (size_t)j * width;
        int c = 0;
        for (; c + 32 <= width; c += 32) {
            v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (int i = 0; i < k; i++) {
                const float *p = xj + (size_t)i * width + c;
                const float wi = wj[i];
                a0 += wi * *(const v8u *)(p);
                a1 += wi * *(const v8u *)(p + 8);
                a2 += wi * *(const v8u *)(p + 16);
                a3 += wi * *(const v8u *)(p + 24);
            }
            *(v8u *)(yj + c) = a0;
            *(v8u *)(yj + c + 8) = a1;
            *(v8u *)(yj + c + 16) = a2;
            *(v8u *)(yj + c + 24) = a3;
        }
        for (; c + 8 <= width; c += 8) {
            v8 a0 = {0};
            for (int i = 0; i < k; i++)
                a0 += wj[i] * *(const v8u *)(xj + (size_t)i * width + c);
            *(v8u *)(yj + c) = a0;
        }
        for (; c < width; c++) {
            float a = 0.0f;
            for (int i = 0; i < k; i++)
                a += wj[i] * xj[(size_t)i * width + c];
            yj[c] = a;
        }
    }
}

#define SHUF(a, b, ...) __builtin_shuffle(a, b, (i8){__VA_ARGS__})

/* dst (cols, rows) = transpose of src (rows, cols): 8 x 8 tiles by shuffles, scalar edges. */
static void transpose(const float *restrict src, float *restrict dst, int rows, int cols)
{
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            const float *s = src + (size_t)r0 * cols + c0;
            v8 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++)
                r[i] = *(const v8u *)(s + (size_t)i * cols);
            for (int i = 0; i < 8; i += 2) {
                t[i] = SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                t[i + 1] = SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
            }
            for (int i = 0; i < 8; i += 4)
                for (int h = 0; h < 2; h++) {
                    u[i + 2 * h] = SHUF(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                    u[i + 2 * h + 1] = SHUF(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                }
            /* u[0..3]: columns 0..3 (low half) and 4..7 (high half) of rows 0-3; u[4..7]: rows 4-7 */
            float *d = dst + (size_t)c0 * rows + r0;
            for (int i = 0; i < 4; i++) {
                *(v8u *)(d + (size_t)i * rows) = SHUF(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                *(v8u *)(d + (size_t)(i + 4) * rows) = SHUF(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
            }
        }
        for (int c = c0; c < cols; c++)
            for (int r = r0; r < r0 + 8; r++)
                dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
    }
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

static inline v8 v8_select(i8 m, v8 a, v8 b) { return (v8)(((i8)a & m) | ((i8)b & ~m)); }

/* exp(x), x clamped to [-88, 88] (Cephes' expf: x = n ln2 + r, degree-6 polynomial, ~1 ulp). */
static inline v8 v8_exp(v8 x)
{
    const v8 zero = {0};
    x = v8_select(x > 88.0f, zero + 88.0f, x);
    x = v8_select(x < -88.0f, zero - 88.0f, x);
    const v8 fx = x * 1.44269504088896341f + 0.5f;
    i8 n = __builtin_convertvector(fx, i8);
    n += (i8)(__builtin_convertvector(n, v8) > fx); /* floor: -1 where truncation rounded up */
    const v8 fn = __builtin_convertvector(n, v8);
    const v8 r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    v8 p = zero + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (v8)((n + 127) << 23);
}

static const i8 BIT = {1, 2, 4, 8, 16, 32, 64, 128};

/* The nonlinearity on the fine grid, in place: leaky ReLU (recording x > 0 as bits) or SiLU. */
static void activate(float *restrict v, size_t count, int act, float slope, uint8_t *restrict mask)
{
    size_t e = 0;
    for (; e + 8 <= count; e += 8) {
        const v8 u = *(const v8u *)(v + e);
        if (act == ACT_SILU) {
            *(v8u *)(v + e) = u / (1.0f + v8_exp(-u));
            continue;
        }
        const i8 pos = u > 0.0f;
        *(v8u *)(v + e) = v8_select(pos, u, u * slope);
        if (mask) {
            const i8 b = pos & BIT;
            mask[e / 8] = (uint8_t)(b[0] | b[1] | b[2] | b[3] | b[4] | b[5] | b[6] | b[7]);
        }
    }
    uint8_t bits = 0;
    for (int t = 0; e + t < count; t++) {
        const float u = v[e + t];
        bits |= (uint8_t)(u > 0.0f) << t;
        v[e + t] = act == ACT_SILU ? u / (1.0f + expf(-u)) : u > 0.0f ? u : u * slope;
    }
    if (mask && e < count)
        mask[e / 8] = bits;
}

/* g *= the nonlinearity's derivative at the fine pre-activation (mask bits, or the values). */
static void activate_grad(float *restrict g, size_t count, int act, float slope,
                          const uint8_t *restrict mask, const float *restrict pre)
{
    size_t e = 0;
    for (; e + 8 <= count; e += 8) {
        const v8 d = *(const v8u *)(g + e);
        if (act == ACT_SILU) {
            const v8 u = *(const v8u *)(pre + e);
            const v8 s = 1.0f / (1.0f + v8_exp(-u));
            *(v8u *)(g + e) = d * (s * (1.0f + u * (1.0f - s)));
        } else {
            const i8 pos = ((i8){0} + mask[e / 8]) & BIT;
            *(v8u *)(g + e) = v8_select(pos != 0, d, d * slope);
        }
    }
    for (; e < count; e++) {
        if (act == ACT_SILU) {
            const float s = 1.0f / (1.0f + expf(-pre[e]));
            g[e] *= s * (1.0f + pre[e] * (1.0f - s));
        } else if (!((mask[e >> 3] >> (e & 7)) & 1)) {
            g[e] *= slope;
        }
    }
}

static size_t imax(size_t a, size_t b) { return a > b ? a : b; }

/* Floats per scratch buffer: the largest intermediate of the forward and backward passes. */
static size_t scratch_size(const band_t *p)
{
    const band_t *uw = &p[0], *uh = &p[1], *dh = &p[2], *dw = &p[3];
    size_t s = (size_t)uh->n * uw->n;                /* input (bias added) */
    s = imax(s, (size_t)uh->m * uw->n);              /* up along H */
    s = imax(s, (size_t)uw->m * uh->m);              /* fine grid */
    s = imax(s, (size_t)dw->m * dh->n);              /* down along W */
    return s;
}

/* Up along H, transpose, up along W: the fine grid of one image as (W2, H2) in ``fine``
 * (``tmp`` may be ``img``). */
static void upsample(const float *img, float *restrict fine, float *tmp, const band_t *p)
{
    const band_t *uw = &p[0], *uh = &p[1];
    rows_pass(img, fine, uw->n, uh);         /* (H2, W) */
    transpose(fine, tmp, uh->m, uw->n);      /* (W, H2) */
    rows_pass(tmp, fine, uh->m, uw);         /* (W2, H2) */
}

/* Image ``img`` of x, plus its channel's bias (copied into ``buf``) when there is one. */
static const float *biased(const float *x, int img, size_t size, const float *bias, int channels,
                           float *restrict buf)
{
    const float *src = x + img * size;
    if (!bias)
        return src;
    const float bv = bias[img % channels];
    for (size_t e = 0; e < size; e++)
        buf[e] = src[e] + bv;
    return buf;
}

/* The fused activation of n_img images (n_img, H, W) -> (n_img, Ho, Wo).
 * p: the passes up W, up H, down H, down W. bias: NULL or one value per channel, image i has
 * channel i % channels. mask: NULL or ceil(W2 * H2 / 8) bytes per image (leaky ReLU only). */
void fir_act_forward(int n_img, const float *x, float *y, const band_t *p, int act, float slope,
                     const float *bias, int channels, uint8_t *mask, int nthreads)
{
    const band_t *uw = &p[0], *uh = &p[1], *dh = &p[2], *dw = &p[3];
    const size_t in_size = (size_t)uh->n * uw->n, out_size = (size_t)dh->m * dw->m;
    const size_t fine_size = (size_t)uw->m * uh->m, mask_bytes = (fine_size + 7) / 8;
    const size_t scratch = scratch_size(p);
#pragma omp parallel num_threads(nthreads)
    {
        float *a = malloc(sizeof(float) * scratch), *b = malloc(sizeof(float) * scratch);
#pragma omp for schedule(static)
        for (int img = 0; img < n_img; img++) {
            upsample(biased(x, img, in_size, bias, channels, b), a, b, p); /* a: (W2, H2) */
            activate(a, fine_size, act, slope, mask ? mask + img * mask_bytes : NULL);
            rows_pass(a, b, uh->m, dw);                              /* (Wo, H2) */
            transpose(b, a, dw->m, uh->m);                           /* (H2, Wo) */
            rows_pass(a, y + img * out_size, dw->m, dh);             /* (Ho, Wo) */
        }
        free(a);
        free(b);
    }
}

/* The backward of fir_act_forward: dx (n_img, H, W) from dy (n_img, Ho, Wo).
 * q: the adjoint passes of up W, up H, down H, down W (each maps the pass's output back to
 * its input). Leaky ReLU reads the mask; SiLU recomputes the fine pre-activation from x (+ bias).
 * dsum: NULL or one double per image, the sum of its dx (the bias gradient before the batch sum). */
void fir_act_backward(int n_img, const float *x, const float *dy, float *dx, const band_t *p,
                      const band_t *q, int act, float slope, const float *bias, int channels,
                      const uint8_t *mask, double *dsum, int nthreads)
{
    const band_t *qw = &q[0], *qh = &q[1], *qdh = &q[2], *qdw = &q[3];
    const int H = p[1].n, W = p[0].n, H2 = p[1].m, W2 = p[0].m, Wo = p[3].m;
    const size_t in_size = (size_t)H * W, out_size = (size_t)p[2].m * Wo;
    const size_t fine_size = (size_t)W2 * H2, mask_bytes = (fine_size + 7) / 8;
    const size_t scratch = scratch_size(p);
#pragma omp parallel num_threads(nthreads)
    {
        float *a = malloc(sizeof(float) * scratch), *b = malloc(sizeof(float) * scratch);
        float *pre = act == ACT_SILU ? malloc(sizeof(float) * scratch) : NULL;
#pragma omp for schedule(static)
        for (int img = 0; img < n_img; img++) {
            if (act == ACT_SILU) {
                upsample(biased(x, img, in_size, bias, channels, b), pre, a, p);
            }
            rows_pass(dy + img * out_size, a, Wo, qdh);              /* (H2, Wo) */
            transpose(a, b, H2, Wo);                                 /* (Wo, H2) */
            rows_pass(b, a, H2, qdw);                                /* (W2, H2) */
            activate_grad(a, fine_size, act, slope, mask ? mask + img * mask_bytes : NULL, pre);
            rows_pass(a, b, H2, qw);                                 /* (W, H2) */
            transpose(b, a, W, H2);                                  /* (H2, W) */
            float *out = dx + img * in_size;
            rows_pass(a, out, W, qh);                                /* (H, W) */
            if (dsum) {
                double s = 0.0;
                for (size_t e = 0; e < in_size; e++)
                    s += out[e];
                dsum[img] = s;
            }
        }
        free(a);
        free(b);
        free(pre);
    }
}
