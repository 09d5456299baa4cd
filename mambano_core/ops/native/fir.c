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
 * thread count (the SiLU's reciprocal estimate may differ in its last bits between CPU models). Plain C with GCC vector extensions (one builtin: the AVX reciprocal estimate of
 * the SiLU); no -ffast-math.
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

/* Output block of 8 * NV columns: y[j, c:c+8NV] = sum_i w[j, i] x[s0[j] + i, c:c+8NV]. */
#define BAND_BLOCK(NV)                                                                         \
    for (; c + 8 * (NV) <= cols; c += 8 * (NV)) {                                              \
        v8 acc[NV];                                                                            \
        for (int v = 0; v < (NV); v++)                                                         \
            acc[v] = (v8){0};                                                                  \
        for (int i = 0; i < k; i++) {                                                          \
            const float *p = xj + (size_t)i * xs + c;                                          \
            for (int v = 0; v < (NV); v++)                                                     \
                acc[v] += wj[i] * *(const v8u *)(p + 8 * v);                                   \
        }                                                                                      \
        for (int v = 0; v < (NV); v++)                                                         \
            *(v8u *)(yj + c + 8 * v) = acc[v];                                                 \
    }

/* y (m rows, stride ys) = the band applied along the rows of x (n rows, stride xs), columns
 * [0, cols). Scratch arrays have strides rounded up to 8 and cols = the stride (the pad
 * columns carry along whatever is there), so only the passes on the caller's arrays have a
 * scalar tail. */
static void rows_pass(const float *restrict x, int xs, float *restrict y, int ys, int cols,
                      const band_t *b)
{
    const int k = b->k;
    for (int j = 0; j < b->m; j++) {
        const float *restrict wj = b->w + (size_t)j * k;
        const float *restrict xj = x + (size_t)b->s0[j] * xs;
        float *restrict yj = y + (size_t)j * ys;
        int c = 0;
        BAND_BLOCK(4)
        BAND_BLOCK(2)
        BAND_BLOCK(1)
        for (; c < cols; c++) {
            float a = 0.0f;
            for (int i = 0; i < k; i++)
                a += wj[i] * xj[(size_t)i * xs + c];
            yj[c] = a;
        }
    }
}

#define SHUF(a, b, ...) __builtin_shuffle(a, b, (i8){__VA_ARGS__})

/* dst (cols, rows; stride ds) = transpose of src (rows, cols; stride ss): 8 x 8 tiles by
 * shuffles, scalar edges. */
static void transpose(const float *restrict src, int ss, float *restrict dst, int ds, int rows, int cols)
{
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            const float *s = src + (size_t)r0 * ss + c0;
            v8 r[8], t[8], u[8];
            for (int i = 0; i < 8; i++)
                r[i] = *(const v8u *)(s + (size_t)i * ss);
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
            float *d = dst + (size_t)c0 * ds + r0;
            for (int i = 0; i < 4; i++) {
                *(v8u *)(d + (size_t)i * ds) = SHUF(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                *(v8u *)(d + (size_t)(i + 4) * ds) = SHUF(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
            }
        }
        for (int c = c0; c < cols; c++)
            for (int r = r0; r < r0 + 8; r++)
                dst[(size_t)c * ds + r] = src[(size_t)r * ss + c];
    }
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * ds + r] = src[(size_t)r * ss + c];
}

static inline v8 v8_select(i8 m, v8 a, v8 b) { return (v8)(((i8)a & m) | ((i8)b & ~m)); }

/* exp(x), x clamped to [-87.3, 88] (the range reduction of Cephes' expf, x = n ln2 + r, with the
 * degree-4 polynomial of scan.c fitted on |r| <= ln(2)/2: max relative error 6.5e-8). */
static inline v8 v8_exp(v8 x)
{
    const v8 zero = {0}, magic = zero + 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = v8_select(x > 88.0f, zero + 88.0f, x);
    x = v8_select(x < -87.33654f, zero - 87.33654f, x);
    const v8 fn = (x * 1.44269504088896341f + magic) - magic;
    const v8 r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    v8 p = zero + 0.001375180552713573f;
    p = p * r + 0.00836891308426857f;
    p = p * r + 0.04166952520608902f;
    p = p * r + 0.166665181517601f;
    p = p * r + 0.49999988079071045f;
    p = p * (r * r) + r + 1.0f;
    /* p * 2^fn: exact either way (same bits); one vscalefps with AVX-512VL instead of three */
#if defined(__AVX512VL__)
    return (v8)__builtin_ia32_scalefps256_mask((v8)p, (v8)fn, (v8)p, (unsigned char)-1);
#else
    return p * (v8)((__builtin_convertvector(fn, i8) + 127) << 23);
#endif
}

/* 1 / (1 + exp(-u)): the logistic sigmoid. With AVX, the 12-bit reciprocal estimate and one
 * Newton step (relative error ~1e-7) instead of a division, which costs as much as the exp. */
static inline v8 v8_sigmoid(v8 u)
{
    const v8 a = 1.0f + v8_exp(-u);
#if defined(__AVX__)
    const v8 r = __builtin_ia32_rcpps256(a);
    return r * (2.0f - a * r);
#else
    return 1.0f / a;
#endif
}

/* Leaky ReLU mask layout: 64 samples e = 64 g + 8 v + l per 8 bytes, bit v of byte 8 g + l. */
#define MASK_BYTES(count) ((((count) + 63) / 64) * 8)

/* The nonlinearity on the fine grid, in place: leaky ReLU (recording x > 0 in ``mask``) or SiLU. */
static void activate(float *restrict v, size_t count, int act, float slope, uint8_t *restrict mask)
{
    size_t e = 0;
    for (; e + 64 <= count; e += 64) {
        i8 bits = {0};
        for (int q = 0; q < 8; q++) {
            const v8 u = *(const v8u *)(v + e + 8 * q);
            if (act == ACT_SILU) {
                *(v8u *)(v + e + 8 * q) = u * v8_sigmoid(u);
            } else {
                const i8 pos = u > 0.0f;
                *(v8u *)(v + e + 8 * q) = v8_select(pos, u, u * slope);
                bits |= pos & (1 << q);
            }
        }
        if (mask && act == ACT_LRELU)
            for (int l = 0; l < 8; l++)
                mask[e / 8 + l] = (uint8_t)bits[l];
    }
    if (mask && e < count)
        memset(mask + e / 8, 0, 8);
    for (; e < count; e++) {
        const float u = v[e];
        if (act == ACT_SILU) {
            v[e] = u / (1.0f + expf(-u));
        } else {
            v[e] = u > 0.0f ? u : u * slope;
            if (mask)
                mask[(e & ~(size_t)63) / 8 + (e & 7)] |= (uint8_t)((u > 0.0f) << ((e >> 3) & 7));
        }
    }
}

/* g *= the nonlinearity's derivative at the fine pre-activation (mask bits, or the values). */
static void activate_grad(float *restrict g, size_t count, int act, float slope,
                          const uint8_t *restrict mask, const float *restrict pre)
{
    size_t e = 0;
    for (; e + 64 <= count; e += 64) {
        i8 bits = {0};
        if (act == ACT_LRELU)
            for (int l = 0; l < 8; l++)
                bits[l] = mask[e / 8 + l];
        for (int q = 0; q < 8; q++) {
            const v8 d = *(const v8u *)(g + e + 8 * q);
            if (act == ACT_SILU) {
                const v8 u = *(const v8u *)(pre + e + 8 * q);
                const v8 s = v8_sigmoid(u);
                *(v8u *)(g + e + 8 * q) = d * (s * (1.0f + u * (1.0f - s)));
            } else {
                *(v8u *)(g + e + 8 * q) = v8_select((bits & (1 << q)) != 0, d, d * slope);
            }
        }
    }
    for (; e < count; e++) {
        if (act == ACT_SILU) {
            const float s = 1.0f / (1.0f + expf(-pre[e]));
            g[e] *= s * (1.0f + pre[e] * (1.0f - s));
        } else if (!((mask[(e & ~(size_t)63) / 8 + (e & 7)] >> ((e >> 3) & 7)) & 1)) {
            g[e] *= slope;
        }
    }
}

/* Sum of x[0:count] (float lanes, then double): the bias gradient of one image. */
static double sum(const float *restrict x, size_t count)
{
    v8 acc[4] = {{0}, {0}, {0}, {0}};
    size_t e = 0;
    for (; e + 32 <= count; e += 32)
        for (int v = 0; v < 4; v++)
            acc[v] += *(const v8u *)(x + e + 8 * v);
    double s = 0.0;
    for (int v = 0; v < 4; v++)
        for (int l = 0; l < 8; l++)
            s += acc[v][l];
    for (; e < count; e++)
        s += x[e];
    return s;
}

static size_t imax(size_t a, size_t b) { return a > b ? a : b; }

/* Row stride of a scratch array with ``cols`` columns: a multiple of 8 floats. */
static int pad8(int cols) { return (cols + 7) & ~7; }

/* Sizes of one activation: passes up W, up H, down H, down W (p[0..3]). */
typedef struct {
    int H, W, H2, W2, Ho, Wo;
    size_t in_size, out_size, fine_size, scratch;
} geom_t;

static geom_t geometry(const band_t *p)
{
    geom_t g = {p[1].n, p[0].n, p[1].m, p[0].m, p[2].m, p[3].m, 0, 0, 0, 0};
    g.in_size = (size_t)g.H * g.W;
    g.out_size = (size_t)g.Ho * g.Wo;
    g.fine_size = (size_t)g.W2 * pad8(g.H2); /* (W2, H2) with padded rows */
    size_t s = (size_t)g.H * pad8(g.W);                  /* input (bias added) */
    s = imax(s, (size_t)g.H2 * pad8(g.W));               /* along H at the input's width */
    s = imax(s, (size_t)imax(g.W, g.W2) * pad8(g.H2));   /* transposed, fine */
    s = imax(s, (size_t)g.Wo * pad8(g.H2));              /* down along W */
    s = imax(s, (size_t)g.H2 * pad8(g.Wo));              /* along H at the output's width */
    g.scratch = s + 8;
    return g;
}

/* A zeroed scratch buffer of ``count`` floats, 64-byte aligned (with strides that are multiples
 * of 8 floats, no vector access then crosses a cache line). */
static float *scratch_alloc(size_t count)
{
    const size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Bytes of the leaky ReLU mask per image. */
size_t fir_mask_bytes(const band_t *p) { return MASK_BYTES(geometry(p).fine_size); }

/* Up along H, transpose, up along W: the fine grid of one image as (W2, H2), stride pad8(H2),
 * in ``fine`` (``tmp`` may be ``img``). */
static void upsample(const float *img, float *restrict fine, float *tmp, const band_t *p, const geom_t *g)
{
    const int sw = pad8(g->W), sh2 = pad8(g->H2);
    rows_pass(img, g->W, fine, sw, g->W, &p[1]); /* (H2, W) */
    transpose(fine, sw, tmp, sh2, g->H2, g->W);  /* (W, H2) */
    rows_pass(tmp, sh2, fine, sh2, sh2, &p[0]);  /* (W2, H2) */
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
 * channel i % channels. mask: NULL or fir_mask_bytes(p) bytes per image (leaky ReLU only). */
void fir_act_forward(int n_img, const float *x, float *y, const band_t *p, int act, float slope,
                     const float *bias, int channels, uint8_t *mask, int nthreads)
{
    const geom_t g = geometry(p);
    const size_t mask_bytes = MASK_BYTES(g.fine_size);
    const int sh2 = pad8(g.H2), swo = pad8(g.Wo);
#pragma omp parallel num_threads(nthreads)
    {
        float *a = scratch_alloc(g.scratch), *b = scratch_alloc(g.scratch);
#pragma omp for schedule(static)
        for (int img = 0; img < n_img; img++) {
            upsample(biased(x, img, g.in_size, bias, channels, b), a, b, p, &g); /* (W2, H2) */
            activate(a, g.fine_size, act, slope, mask ? mask + img * mask_bytes : NULL);
            rows_pass(a, sh2, b, sh2, sh2, &p[3]);                  /* (Wo, H2) */
            transpose(b, sh2, a, swo, g.Wo, g.H2);                  /* (H2, Wo) */
            rows_pass(a, swo, y + img * g.out_size, g.Wo, g.Wo, &p[2]); /* (Ho, Wo) */
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
    const geom_t g = geometry(p);
    const size_t mask_bytes = MASK_BYTES(g.fine_size);
    const int sh2 = pad8(g.H2), swo = pad8(g.Wo), sw = pad8(g.W);
#pragma omp parallel num_threads(nthreads)
    {
        float *a = scratch_alloc(g.scratch), *b = scratch_alloc(g.scratch);
        float *pre = act == ACT_SILU ? scratch_alloc(g.scratch) : NULL;
#pragma omp for schedule(static)
        for (int img = 0; img < n_img; img++) {
            if (act == ACT_SILU)
                upsample(biased(x, img, g.in_size, bias, channels, b), pre, a, p, &g);
            rows_pass(dy + img * g.out_size, g.Wo, a, swo, g.Wo, &q[2]); /* (H2, Wo) */
            transpose(a, swo, b, sh2, g.H2, g.Wo);                  /* (Wo, H2) */
            rows_pass(b, sh2, a, sh2, sh2, &q[3]);                  /* (W2, H2) */
            activate_grad(a, g.fine_size, act, slope, mask ? mask + img * mask_bytes : NULL, pre);
            rows_pass(a, sh2, b, sh2, sh2, &q[0]);                  /* (W, H2) */
            transpose(b, sh2, a, sw, g.W, g.H2);                    /* (H2, W) */
            float *out = dx + img * g.in_size;
            rows_pass(a, sw, out, g.W, g.W, &q[1]);                 /* (H, W) */
            if (dsum)
                dsum[img] = sum(out, g.in_size);
        }
        free(a);
        free(b);
        free(pre);
    }
}
