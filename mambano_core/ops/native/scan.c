/* Cross selective scan of MambaNO's SS2D on the CPU: Mamba's recurrence (Gu & Dao 2023, Alg. 2)
 * run along the grid's row-major, column-major and reversed orders (VMamba's cross-scan),
 * h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  y_t = <C_t, h_t> + D u_t,
 * delta_t = softplus(dt_t + bias), the directions' outputs summed on the grid.
 *
 * The directions are read from the grid by index (no flipped or transposed copies), and each
 * direction's output is written back to grid positions. Work unit: one (batch, direction);
 * inside it, time chunks of T steps are gathered into small buffers that stay in L1/L2, and
 * every channel of the unit runs its recurrence over the chunk, its N-state held in vectors.
 * The backward recomputes a chunk's states from the checkpoint stored at the chunk's start.
 *
 * Layouts (float32, contiguous, grid order p = h * W + w):
 *   proj  (batch, L, P), P = K (d + 2N): direction k's dt (d), B (N), C (N) at column k (d + 2N)
 *         or, lane blocks with proj NULL, the projection formed here in Mamba's low-rank form:
 *   wt    (K, d, Pk), Pk = R + 2N: per direction x_proj transposed, its r step-size rows padded
 *         with zeros to R (a multiple of 8), then B (N), C (N); w the same as (K, Pk, d)
 *   wup   (K, r, d)  dt_proj transposed: dt = wup^T (the r low-rank rows of x_proj u)
 *   u     (batch, L, d)          the scanned input, channels last
 *   A     (K, d, N), D, bias (K, d)
 *   out   (batch, K, L, d)       each direction's output on the grid (the caller sums over K)
 *   ckpt  (batch, K, nchunks, d, N) states at the chunk starts (forward with store)
 * Sums run in a fixed order, so results do not depend on the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8 v8_load(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void v8_store(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline v8 v8_set1(float x) { return (v8){x, x, x, x, x, x, x, x}; }
static inline v8 v8_select(v8i mask, v8 a, v8 b) { return (v8)((mask & (v8i)a) | (~mask & (v8i)b)); }
/* Lane-wise loops that gcc turns into single max/min instructions (a blend-free clamp). */
static inline v8 v8_max(v8 a, v8 b) {
    v8 r;
    for (int j = 0; j < 8; j++) r[j] = a[j] > b[j] ? a[j] : b[j];
    return r;
}
static inline v8 v8_min(v8 a, v8 b) {
    v8 r;
    for (int j = 0; j < 8; j++) r[j] = a[j] < b[j] ? a[j] : b[j];
    return r;
}

static inline float v8_hsum(v8 a) {
    /* fixed order: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)) */
    float s0 = a[0] + a[4], s1 = a[1] + a[5], s2 = a[2] + a[6], s3 = a[3] + a[7];
    return (s0 + s2) + (s1 + s3);
}

/* p * 2^n for integral n with a normal result (the exp's last step): exact, so the two forms
 * give the same bits. With AVX-512VL it is one instruction (vscalefps) instead of three; the
 * scan ran about 4 % faster (in-process A/B of both libraries, both orders). */
static inline v8 v8_scale2(v8 p, v8 n) {
#if defined(__AVX512VL__)
    return (v8)__builtin_ia32_scalefps256_mask((v8)p, (v8)n, (v8)p, (unsigned char)-1);
#else
    return p * (v8)((__builtin_convertvector(n, v8i) + 127) << 23);
#endif
}

/* exp(x) for x <= 88 (decays delta*A are <= 0; softplus passes -|x|): Cephes' range
 * reduction by ln 2, then 1 + r + r^2 p(r) with p of degree 4 fitted for minimal relative error
 * on |r| <= ln(2)/2 (max relative error 6.5e-8 in float32, one multiply-add fewer than Cephes).
 * Inputs below -87.3 give ~1e-38 instead of 0 (harmless as a decay factor). */
static inline v8 v8_exp(v8 x) {
    const v8 magic = v8_set1(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    x = v8_max(x, v8_set1(-87.33654f));
    v8 n = (x * v8_set1(1.44269504088896341f) + magic) - magic;
    v8 r = x - n * v8_set1(0.693359375f) - n * v8_set1(-2.12194440e-4f);
    v8 p = v8_set1(0.001375180552713573f);
    p = p * r + v8_set1(0.00836891308426857f);
    p = p * r + v8_set1(0.04166952520608902f);
    p = p * r + v8_set1(0.166665181517601f);
    p = p * r + v8_set1(0.49999988079071045f);
    p = p * (r * r) + r + v8_set1(1.0f);
    return v8_scale2(p, n);
}

/* v8_exp of four vectors, step by step side by side: four independent dependency chains next
 * to each other keep both multiply-add pipes busy (one exp alone is a chain of ~11 of them). */
static inline __attribute__((always_inline)) void v8_exp4(v8 *restrict x) {
    const v8 magic = v8_set1(12582912.0f);
    v8 n[4], r[4], p[4], r2[4];
    for (int k = 0; k < 4; k++) x[k] = v8_max(x[k], v8_set1(-87.33654f));
    for (int k = 0; k < 4; k++) n[k] = (x[k] * v8_set1(1.44269504088896341f) + magic) - magic;
    for (int k = 0; k < 4; k++) r[k] = x[k] - n[k] * v8_set1(0.693359375f) - n[k] * v8_set1(-2.12194440e-4f);
    for (int k = 0; k < 4; k++) { p[k] = v8_set1(0.001375180552713573f); r2[k] = r[k] * r[k]; }
    for (int k = 0; k < 4; k++) p[k] = p[k] * r[k] + v8_set1(0.00836891308426857f);
    for (int k = 0; k < 4; k++) p[k] = p[k] * r[k] + v8_set1(0.04166952520608902f);
    for (int k = 0; k < 4; k++) p[k] = p[k] * r[k] + v8_set1(0.166665181517601f);
    for (int k = 0; k < 4; k++) p[k] = p[k] * r[k] + v8_set1(0.49999988079071045f);
    for (int k = 0; k < 4; k++) p[k] = p[k] * r2[k] + r[k] + v8_set1(1.0f);
    for (int k = 0; k < 4; k++) x[k] = v8_scale2(p[k], n[k]);
}

/* log1p(t) for t in [0, 1]: t P(t), P of degree 8 fitted for minimal relative error
 * (max 1.9e-7 in float32, Horner's rule with multiply-adds). */
static inline v8 v8_log1p01(v8 t) {
    v8 p = v8_set1(0.005283359903842211f);
    p = p * t + v8_set1(-0.02973676472902298f);
    p = p * t + v8_set1(0.0786566361784935f);
    p = p * t + v8_set1(-0.13705182075500488f);
    p = p * t + v8_set1(0.1912885159254074f);
    p = p * t + v8_set1(-0.2484985888004303f);
    p = p * t + v8_set1(0.33320146799087524f);
    p = p * t + v8_set1(-0.4999955892562866f);
    p = p * t + v8_set1(1.0f);
    return t * p;
}

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)) (x for x > 20, as Mamba) and its derivative
 * sigmoid(x) = (x >= 0 ? 1 : t) / (1 + t) with t = exp(-|x|): one exp, a polynomial and one
 * division, no log. A NaN passes through both (the exp's clamp would turn it into ~1e-38). */
static inline void v8_softplus(v8 x, v8 *sp, v8 *sig) {
    const v8 one = v8_set1(1.0f);
    v8i big = (x > v8_set1(20.0f)) | (x != x);
    v8 t = v8_exp(-v8_max(x, -x));
    *sp = v8_select(big, x, v8_max(x, v8_set1(0.0f)) + v8_log1p01(t));
    *sig = v8_select(x != x, x, v8_select(big, one, v8_select(x >= v8_set1(0.0f), one, t) / (one + t)));
}

static inline float softplus1(float x, float *sig) {
    if (x > 20.0f) { *sig = 1.0f; return x; }
    float y = expf(x);
    *sig = y / (1.0f + y);
    return log1pf(y);
}

/* Grid index of step t of direction k (0 row-major, 1 column-major, 2 and 3 reversed). */
static inline int64_t grid_index(int64_t t, int64_t k, int64_t H, int64_t W) {
    int64_t L = H * W;
    if (k >= 2) t = L - 1 - t;
    if ((k & 1) == 0) return t;
    return (t % H) * W + t / H;
}

typedef struct {
    int64_t batch, H, W, K, d, N, T, nchunks, P, r, R; /* r: step-size rank, R: r padded to 8 */
    int lanes; /* channels in blocks of 8 vector lanes (d % 8 == 0), else one channel at a time */
} Dims;

typedef struct { /* per-thread scratch, T steps */
    float *dt, *sig, *u, *b, *c, *y, *dy, *ddt, *du, *db, *dc, *hs, *gs, *das, *at, *work, *dw, *low, *dlow, *dwup;
    int64_t *pos;
} Scratch;

static int scratch_alloc(Scratch *s, const Dims *g, int backward) {
    int64_t td = g->T * g->d, tn = g->T * g->N, nd = g->N * g->d;
    /* das and gs hold T x N vectors of 8 lanes (lane blocks) or T x N floats (one channel); hs
     * the states, T x N floats (one channel), or two vectors per step (lane blocks: the sums
     * over the states carried from block to block) */
    int64_t hsn = tn > 16 * g->T ? tn : 16 * g->T;
    int64_t tr = g->T * g->R, pk = g->R + 2 * g->N;
    size_t floats = (size_t)(4 * td + 10 * tn + 2 * nd + tr)
                    + (backward ? (size_t)(3 * td + 10 * tn + hsn + pk * g->d + tr + g->r * g->d) : 0);
    float *base = aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    s->pos = malloc(sizeof(int64_t) * (size_t)g->T);
    if (!base || !s->pos) { free(base); free(s->pos); return -1; }
    s->dt = base; s->sig = s->dt + td; s->u = s->sig + td; s->y = s->u + td;
    s->b = s->y + td; s->c = s->b + tn; s->das = s->c + tn; s->at = s->das + 8 * tn; s->work = s->at + nd;
    s->low = s->work + nd;
    if (backward) {
        s->dy = s->low + tr; s->ddt = s->dy + td; s->du = s->ddt + td;
        s->db = s->du + td; s->dc = s->db + tn; s->hs = s->dc + tn; s->gs = s->hs + hsn; s->dw = s->gs + 8 * tn;
        s->dlow = s->dw + pk * g->d; s->dwup = s->dlow + tr;
    }
    return 0;
}

/* The projection of a gathered chunk (lane blocks), Mamba's low-rank form: the rank-r step-size
 * rows, B and C of n steps, U (n x d) times Wt (d x Pk) of direction k, 8 steps x 8 outputs per
 * block of registers; then dt (n x d) = low (n x r) times Wup (r x d). */
static void project_chunk(const Dims *g, Scratch *s, int64_t n, const float *restrict wt,
                          const float *restrict wup) {
    const int64_t d = g->d, N = g->N, R = g->R, Pk = R + 2 * N;
    for (int64_t i0 = 0; i0 < n; i0 += 8) {
        const int m = n - i0 < 8 ? (int)(n - i0) : 8;
        const float *ur = s->u + i0 * d;
        for (int64_t o0 = 0; o0 < Pk; o0 += 8) {
            v8 acc[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) acc[r] = v8_set1(0.0f);
            if (m == 8) {
                for (int64_t c = 0; c < d; c++) {
                    v8 w = v8_load(wt + c * Pk + o0);
#pragma GCC unroll 8
                    for (int r = 0; r < 8; r++) acc[r] += v8_set1(ur[r * d + c]) * w;
                }
            } else {
                for (int64_t c = 0; c < d; c++) {
                    v8 w = v8_load(wt + c * Pk + o0);
                    for (int r = 0; r < m; r++) acc[r] += v8_set1(ur[r * d + c]) * w;
                }
            }
            float *dst = o0 < R ? s->low + i0 * R + o0 : o0 < R + N ? s->b + i0 * N + (o0 - R) : s->c + i0 * N + (o0 - R - N);
            const int64_t stride = o0 < R ? R : N;
            for (int r = 0; r < m; r++) v8_store(dst + r * stride, acc[r]);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        const float *lo = s->low + i * R;
        for (int64_t c0 = 0; c0 < d; c0 += 8) {
            v8 acc = v8_set1(0.0f);
            for (int64_t j = 0; j < g->r; j++) acc += v8_set1(lo[j]) * v8_load(wup + j * d + c0);
            v8_store(s->dt + i * d + c0, acc);
        }
    }
}

/* Gather steps [t0, t0 + n) of direction k for batch b into the scratch (softplus applied):
 * the input rows, and their dt, B, C from proj, or (lane blocks, proj NULL) projected here. */
static void gather(const Dims *g, Scratch *s, int64_t b, int64_t k, int64_t t0, int64_t n,
                   const float *restrict proj, const float *restrict wt, const float *restrict wup,
                   const float *restrict u, const float *restrict bias) {
    const int64_t d = g->d, N = g->N, col = k * (d + 2 * N);
    for (int64_t i = 0; i < n; i++) {
        int64_t p = grid_index(t0 + i, k, g->H, g->W);
        s->pos[i] = p;
        memcpy(s->u + i * d, u + (b * g->H * g->W + p) * d, sizeof(float) * (size_t)d);
        if (proj) {
            const float *row = proj + (b * g->H * g->W + p) * g->P + col;
            memcpy(s->dt + i * d, row, sizeof(float) * (size_t)d);
            memcpy(s->b + i * N, row + d, sizeof(float) * (size_t)N);
            memcpy(s->c + i * N, row + d + N, sizeof(float) * (size_t)N);
        }
    }
    if (!proj) project_chunk(g, s, n, wt + k * d * (g->R + 2 * N), wup + k * g->r * d);
    const float *bk = bias + k * d;
    for (int64_t i = 0; i < n; i++) {
        float *row = s->dt + i * d, *sg = s->sig + i * d;
        int64_t c = 0;
        for (; c + 8 <= d; c += 8) {
            v8 sp, sig;
            v8_softplus(v8_load(row + c) + v8_load(bk + c), &sp, &sig);
            v8_store(row + c, sp);
            v8_store(sg + c, sig);
        }
        for (; c < d; c++) row[c] = softplus1(row[c] + bk[c], sg + c);
    }
}

#define MAXNV 8 /* N up to 64 */

/* One channel's recurrence over a chunk: state h (NV vectors) advanced n steps; y written. */
static inline __attribute__((always_inline)) void chunk_forward(
    const Dims *g, Scratch *s, int64_t n, int64_t c, const float *restrict a, float dcoef,
    float *restrict h, const int NV) {
    const int64_t d = g->d, N = g->N;
    v8 hv[MAXNV], av[MAXNV];
    for (int j = 0; j < NV; j++) { hv[j] = v8_load(h + 8 * j); av[j] = v8_load(a + 8 * j); }
    /* The decays first, for all steps: independent exps keep the vector units busy; the
     * recurrence below then waits only on its own multiply-adds. */
    for (int64_t i = 0; i < n; i++) {
        v8 dtv = v8_set1(s->dt[i * d + c]);
        for (int j = 0; j < NV; j++) v8_store(s->das + i * N + 8 * j, v8_exp(dtv * av[j]));
    }
    for (int64_t i = 0; i < n; i++) {
        float dt = s->dt[i * d + c], x = s->u[i * d + c];
        v8 dtx = v8_set1(dt * x), acc = v8_set1(0.0f);
        const float *bi = s->b + i * N, *ci = s->c + i * N, *ei = s->das + i * N;
        for (int j = 0; j < NV; j++) {
            hv[j] = v8_load(ei + 8 * j) * hv[j] + dtx * v8_load(bi + 8 * j);
            acc += v8_load(ci + 8 * j) * hv[j];
        }
        s->y[i * d + c] = v8_hsum(acc) + dcoef * x;
    }
    for (int j = 0; j < NV; j++) v8_store(h + 8 * j, hv[j]);
}

/* ---- Lane blocks (N = 16): 8 channels side by side in the vector lanes, the states unrolled. ----
 * No horizontal sums in the forward; the backward's B and C gradients (sums over channels)
 * use one transposed reduction per 8 states. Layouts inside a unit: states, checkpoints,
 * adjoint carries and the A copy are (N, d), so 8 neighbouring channels are one vector. */

#if defined(__clang__)
#define SHUF2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF2(a, b, ...) __builtin_shuffle(a, b, (v8i){__VA_ARGS__})
#endif

/* out[k] = sum of the lanes of p[k], k < 8, each as ((0+1)+(2+3))+((4+5)+(6+7)). */
static inline v8 v8_transpose_sum(const v8 *p) {
    v8 a[4], b[2];
    for (int k = 0; k < 4; k++)
        a[k] = SHUF2(p[2 * k], p[2 * k + 1], 0, 8, 2, 10, 4, 12, 6, 14) + SHUF2(p[2 * k], p[2 * k + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int k = 0; k < 2; k++)
        b[k] = SHUF2(a[2 * k], a[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13) + SHUF2(a[2 * k], a[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return SHUF2(b[0], b[1], 0, 1, 2, 3, 8, 9, 10, 11) + SHUF2(b[0], b[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

#define MAXN 64

/* The decays exp(delta A) of a lane block over the chunk, all independent: the exp units stay
 * busy, and the recurrences then wait only on their multiply-adds. */
static inline __attribute__((always_inline)) void exp_pass(
    const Dims *g, Scratch *s, int64_t n, int64_t c0, float *restrict es, const int N) {
    const int64_t d = g->d;
    for (int64_t i = 0; i < n; i++) {
        v8 dt = v8_load(s->dt + i * d + c0);
#pragma GCC unroll 16
        for (int j = 0; j < N; j += 4) {
            v8 x[4];
            for (int k = 0; k < 4; k++) x[k] = dt * v8_load(s->at + (j + k) * d + c0);
            v8_exp4(x);
            for (int k = 0; k < 4; k++) v8_store(es + (i * N + j + k) * 8, x[k]);
        }
    }
}

static inline __attribute__((always_inline)) void lanes_forward(
    const Dims *g, Scratch *s, int64_t n, int64_t c0, v8 dv, float *restrict state, const int N) {
    const int64_t d = g->d;
    float *es = s->das;
    exp_pass(g, s, n, c0, es, N);
    v8 h[MAXN];
#pragma GCC unroll 64
    for (int j = 0; j < N; j++) h[j] = v8_load(state + j * d + c0);
    for (int64_t i = 0; i < n; i++) {
        v8 x = v8_load(s->u + i * d + c0), dtx = v8_load(s->dt + i * d + c0) * x;
        v8 y[4] = {dv * x, v8_set1(0.0f), v8_set1(0.0f), v8_set1(0.0f)};
        const float *bi = s->b + i * N, *ci = s->c + i * N;
#pragma GCC unroll 64
        for (int j = 0; j < N; j++) {
            h[j] = v8_load(es + (i * N + j) * 8) * h[j] + dtx * v8_set1(bi[j]);
            y[j & 3] += v8_set1(ci[j]) * h[j];
        }
        v8_store(s->y + i * d + c0, (y[0] + y[1]) + (y[2] + y[3]));
    }
#pragma GCC unroll 64
    for (int j = 0; j < N; j++) v8_store(state + j * d + c0, h[j]);
}

static inline __attribute__((always_inline)) void lanes_backward(
    const Dims *g, Scratch *s, int64_t n, int64_t c0, v8 dv, const float *restrict h0,
    float *restrict gcarry, float *restrict dAacc, float *restrict dDacc, float *restrict dbacc, const int N) {
    const int64_t d = g->d;
    float *es = s->das, *gs = s->gs; /* step i, state j: 8 floats at (i N + j) 8 */
    exp_pass(g, s, n, c0, es, N);
    /* Pass 1, the adjoint recurrence alone (a chain through the steps): G_i = g + C_i dy_i,
     * g = G_i exp(delta_i A). */
    {
        v8 gv[MAXN];
#pragma GCC unroll 64
        for (int j = 0; j < N; j++) gv[j] = v8_load(gcarry + j * d + c0);
        for (int64_t i = n - 1; i >= 0; i--) {
            v8 dy = v8_load(s->dy + i * d + c0);
            const float *ci = s->c + i * N;
#pragma GCC unroll 64
            for (int j = 0; j < N; j++) {
                v8 G = gv[j] + v8_set1(ci[j]) * dy;
                v8_store(gs + (i * N + j) * 8, G);
                gv[j] = G * v8_load(es + (i * N + j) * 8);
            }
        }
#pragma GCC unroll 64
        for (int j = 0; j < N; j++) v8_store(gcarry + j * d + c0, gv[j]);
    }
    /* Pass 2, every gradient, forward through the steps, one block of 8 states at a time: the
     * block's states are recomputed in registers from the chunk's checkpoint (no stored states),
     * its A and dA stay in registers; the sums over the states (for du and d delta) are carried
     * from block to block in hs (2 vectors per step). */
    float *part = s->hs;
    v8 dD = v8_set1(0.0f), db = v8_set1(0.0f);
    for (int jb = 0; jb < N; jb += 8) {
        const int last = jb + 8 >= N;
        v8 h[8], at[8], da[8];
#pragma GCC unroll 8
        for (int jj = 0; jj < 8; jj++) {
            h[jj] = v8_load(h0 + (jb + jj) * d + c0);
            at[jj] = v8_load(s->at + (jb + jj) * d + c0);
            da[jj] = v8_set1(0.0f);
        }
        for (int64_t i = 0; i < n; i++) {
            v8 dy = v8_load(s->dy + i * d + c0), dt = v8_load(s->dt + i * d + c0), x = v8_load(s->u + i * d + c0);
            v8 dtx = dt * x;
            v8 sb[2] = {v8_set1(0.0f), v8_set1(0.0f)}, sa[2] = {sb[0], sb[0]};
            const float *bi = s->b + i * N + jb;
            const float *gi = gs + (i * N + jb) * 8, *ei = es + (i * N + jb) * 8;
            v8 pc[8], pb[8];
#pragma GCC unroll 8
            for (int jj = 0; jj < 8; jj++) {
                v8 G = v8_load(gi + jj * 8), e = v8_load(ei + jj * 8), bj = v8_set1(bi[jj]);
                v8 q = G * e * h[jj]; /* dL/d(delta A), with h the state before step i */
                h[jj] = e * h[jj] + dtx * bj;
                pc[jj] = dy * h[jj];
                pb[jj] = G * dtx;
                sb[jj & 1] += G * bj;
                da[jj] += q * dt;
                sa[jj & 1] += q * at[jj];
            }
            float *dci = s->dc + i * N + jb, *dbi = s->db + i * N + jb;
            v8_store(dci, v8_load(dci) + v8_transpose_sum(pc));
            v8_store(dbi, v8_load(dbi) + v8_transpose_sum(pb));
            v8 sB = sb[0] + sb[1], sA = sa[0] + sa[1];
            if (jb > 0) {
                sB = v8_load(part + i * 16) + sB;
                sA = v8_load(part + i * 16 + 8) + sA;
            }
            if (!last) {
                v8_store(part + i * 16, sB);
                v8_store(part + i * 16 + 8, sA);
            } else {
                v8_store(s->du + i * d + c0, dt * sB + dv * dy);
                v8 dpre = (sA + x * sB) * v8_load(s->sig + i * d + c0);
                v8_store(s->ddt + i * d + c0, dpre);
                db += dpre;
                dD += dy * x;
            }
        }
#pragma GCC unroll 8
        for (int jj = 0; jj < 8; jj++)
            v8_store(dAacc + (jb + jj) * d + c0, v8_load(dAacc + (jb + jj) * d + c0) + da[jj]);
    }
    v8_store(dDacc + c0, v8_load(dDacc + c0) + dD);
    v8_store(dbacc + c0, v8_load(dbacc + c0) + db);
}

/* A of direction k as (N, d) for the lane blocks. */
static void transpose_a(const Dims *g, Scratch *s, const float *A, int64_t k) {
    for (int64_t c = 0; c < g->d; c++)
        for (int64_t j = 0; j < g->N; j++) s->at[j * g->d + c] = A[(k * g->d + c) * g->N + j];
}

/* Row i of the chunk buffer src to grid position pos[i] of dst: stored, or added (the directions
 * of one batch element are summed in their order 0, 1, 2, 3, whichever way the work is split). */
static void scatter_rows(const Dims *g, const Scratch *s, int64_t n, const float *restrict src,
                         float *restrict dst, int accumulate) {
    const int64_t d = g->d;
    for (int64_t i = 0; i < n; i++) {
        float *o = dst + s->pos[i] * d;
        const float *r = src + i * d;
        if (accumulate)
            for (int64_t c = 0; c < d; c++) o[c] += r[c];
        else
            memcpy(o, r, sizeof(float) * (size_t)d);
    }
}

/* dst[b] = src[b, 0] + src[b, 1] + ... in that order (the per-direction buffers of split work). */
static void sum_directions(const Dims *g, const float *restrict src, float *restrict dst) {
    const int64_t plane = g->H * g->W * g->d, block = 4096;
#pragma omp for schedule(static)
    for (int64_t job = 0; job < g->batch * ((plane + block - 1) / block); job++) {
        int64_t b = job / ((plane + block - 1) / block), e0 = (job % ((plane + block - 1) / block)) * block;
        int64_t e1 = e0 + block < plane ? e0 + block : plane;
        float *o = dst + b * plane;
        const float *x = src + b * g->K * plane;
        for (int64_t e = e0; e < e1; e++) o[e] = x[e];
        for (int64_t k = 1; k < g->K; k++)
            for (int64_t e = e0; e < e1; e++) o[e] += x[k * plane + e];
    }
}

static void unit_forward(const Dims *g, Scratch *s, float *restrict state, int64_t b, int64_t k,
                         const float *proj, const float *wt, const float *wup, const float *u, const float *A,
                         const float *D,
                         const float *bias, float *dst, int accumulate, float *ckpt, int store) {
    const int64_t d = g->d, N = g->N, L = g->H * g->W, NV = N / 8;
    memset(state, 0, sizeof(float) * (size_t)(d * N)); /* (N, d) with lane blocks, else (d, N) */
    if (g->lanes) transpose_a(g, s, A, k);
    for (int64_t ch = 0; ch < g->nchunks; ch++) {
        int64_t t0 = ch * g->T, n = L - t0 < g->T ? L - t0 : g->T;
        gather(g, s, b, k, t0, n, proj, wt, wup, u, bias);
        if (store)
            memcpy(ckpt + (((b * g->K + k) * g->nchunks + ch) * d) * N, state, sizeof(float) * (size_t)(d * N));
        if (g->lanes) {
            for (int64_t c0 = 0; c0 < d; c0 += 8) {
                v8 dv = v8_load(D + k * d + c0);
                lanes_forward(g, s, n, c0, dv, state, 16);
            }
        } else {
            for (int64_t c = 0; c < d; c++) {
                const float *a = A + (k * d + c) * N;
                if (NV == 2) chunk_forward(g, s, n, c, a, D[k * d + c], state + c * N, 2);
                else chunk_forward(g, s, n, c, a, D[k * d + c], state + c * N, (int)NV);
            }
        }
        scatter_rows(g, s, n, s->y, dst, accumulate);
    }
}

static int dims_check(Dims *g) {
    if (g->N % 8 != 0 || g->N / 8 > MAXNV || g->T < 1) return -2;
    g->nchunks = (g->H * g->W + g->T - 1) / g->T;
    g->P = g->K * (g->d + 2 * g->N);
    g->lanes = g->d % 8 == 0 && g->N == 16;
    if (g->r < 0) return -2;
    g->R = (g->r + 7) / 8 * 8;
    return 0;
}

/* One channel's backward over a chunk: recompute the states from h0, then the adjoint pass.
 * gcarry holds dA_{t+1} * G_{t+1} from the later chunk; dA/dD/dbias accumulate per channel. */
static inline __attribute__((always_inline)) void chunk_backward(
    const Dims *g, Scratch *s, int64_t n, int64_t c, const float *restrict a, float dcoef,
    const float *restrict h0, float *restrict gcarry, float *restrict dA, float *dD, float *dbias,
    const int NV) {
    const int64_t d = g->d, N = g->N;
    v8 hv[MAXNV], av[MAXNV], gv[MAXNV], dav[MAXNV], h0v[MAXNV];
    for (int j = 0; j < NV; j++) {
        h0v[j] = hv[j] = v8_load(h0 + 8 * j);
        av[j] = v8_load(a + 8 * j);
        gv[j] = v8_load(gcarry + 8 * j);
        dav[j] = v8_set1(0.0f);
    }
    for (int64_t i = 0; i < n; i++) {
        v8 dtv = v8_set1(s->dt[i * d + c]);
        for (int j = 0; j < NV; j++) v8_store(s->das + i * N + 8 * j, v8_exp(dtv * av[j]));
    }
    for (int64_t i = 0; i < n; i++) {
        v8 dtx = v8_set1(s->dt[i * d + c] * s->u[i * d + c]);
        const float *bi = s->b + i * N;
        for (int j = 0; j < NV; j++) {
            hv[j] = v8_load(s->das + i * N + 8 * j) * hv[j] + dtx * v8_load(bi + 8 * j);
            v8_store(s->hs + i * N + 8 * j, hv[j]);
        }
    }
    float dd = 0.0f, db = 0.0f;
    for (int64_t i = n - 1; i >= 0; i--) {
        float dy = s->dy[i * d + c], dt = s->dt[i * d + c], x = s->u[i * d + c];
        v8 dyv = v8_set1(dy), dtx = v8_set1(dt * x), dtv = v8_set1(dt);
        v8 sb = v8_set1(0.0f), sa = v8_set1(0.0f);
        const float *bi = s->b + i * N, *ci = s->c + i * N, *hp = i > 0 ? s->hs + (i - 1) * N : 0;
        float *dbi = s->db + i * N, *dci = s->dc + i * N;
        for (int j = 0; j < NV; j++) {
            v8 G = gv[j] + v8_load(ci + 8 * j) * dyv;
            v8 hprev = hp ? v8_load(hp + 8 * j) : h0v[j];
            v8 e = v8_load(s->das + i * N + 8 * j);
            v8_store(dci + 8 * j, v8_load(dci + 8 * j) + dyv * v8_load(s->hs + i * N + 8 * j));
            v8_store(dbi + 8 * j, v8_load(dbi + 8 * j) + G * dtx);
            sb += G * v8_load(bi + 8 * j);
            v8 q = G * e * hprev; /* dL/d(delta A) */
            dav[j] += q * dtv;
            sa += q * av[j];
            gv[j] = G * e;
        }
        float sB = v8_hsum(sb);
        float ddelta = v8_hsum(sa) + x * sB;
        s->du[i * d + c] = dt * sB + dcoef * dy;
        dd += dy * x;
        float dpre = ddelta * s->sig[i * d + c];
        s->ddt[i * d + c] = dpre;
        db += dpre;
    }
    for (int j = 0; j < NV; j++) {
        v8_store(gcarry + 8 * j, gv[j]);
        v8_store(dA + 8 * j, v8_load(dA + 8 * j) + dav[j]);
    }
    *dD += dd;
    *dbias += db;
}

/* The projection's backward for a chunk (lane blocks): the low-rank rows' gradient
 * dlow = d(dt_pre) Wup^T and Wup's gradient low^T d(dt_pre) (accumulated into s->dwup, r x d);
 * then the input gradient dP W_k added to the scan's (s->du), and the weight gradient dP^T U
 * accumulated into s->dw (Pk x d), where dP is the chunk's (dlow, dB, dC) rows. */
static void project_chunk_backward(const Dims *g, Scratch *s, int64_t n, const float *restrict w,
                                   const float *restrict wup) {
    const int64_t d = g->d, N = g->N, R = g->R, r = g->r;
    for (int64_t i = 0; i < n; i++) {
        const float *dt = s->ddt + i * d, *lo = s->low + i * R;
        float *dl = s->dlow + i * R;
        for (int64_t j = 0; j < R; j++) {
            v8 acc = v8_set1(0.0f);
            if (j < r)
                for (int64_t c0 = 0; c0 < d; c0 += 8) acc += v8_load(dt + c0) * v8_load(wup + j * d + c0);
            dl[j] = v8_hsum(acc);
        }
        for (int64_t j = 0; j < r; j++) {
            v8 l = v8_set1(lo[j]);
            float *dwj = s->dwup + j * d;
            for (int64_t c0 = 0; c0 < d; c0 += 8) v8_store(dwj + c0, v8_load(dwj + c0) + l * v8_load(dt + c0));
        }
    }
    const float *parts[3] = {s->dlow, s->db, s->dc};
    /* rows of a part in the buffers (widths) and rows that can be nonzero (used: the padding
     * rows of the low-rank part are zero in w and dlow, so they are skipped) */
    const int64_t widths[3] = {R, N, N}, used[3] = {r, N, N}, first[3] = {0, R, R + N};
    for (int64_t i0 = 0; i0 < n; i0 += 8) {
        const int m = n - i0 < 8 ? (int)(n - i0) : 8;
        for (int64_t c0 = 0; c0 < d; c0 += 8) {
            v8 acc[8];
            for (int r = 0; r < m; r++) acc[r] = v8_load(s->du + (i0 + r) * d + c0);
            for (int q = 0; q < 3; q++) {
                const float *src = parts[q] + i0 * widths[q];
                for (int64_t o = 0; o < used[q]; o++) {
                    v8 wv = v8_load(w + (first[q] + o) * d + c0);
                    if (m == 8) {
#pragma GCC unroll 8
                        for (int r = 0; r < 8; r++) acc[r] += v8_set1(src[r * widths[q] + o]) * wv;
                    } else {
                        for (int r = 0; r < m; r++) acc[r] += v8_set1(src[r * widths[q] + o]) * wv;
                    }
                }
            }
            for (int r = 0; r < m; r++) v8_store(s->du + (i0 + r) * d + c0, acc[r]);
        }
    }
    for (int q = 0; q < 3; q++)
        for (int64_t o0 = 0; o0 < used[q]; o0 += 8)
            for (int64_t c0 = 0; c0 < d; c0 += 8) {
                float *dwo = s->dw + (first[q] + o0) * d + c0;
                v8 acc[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) acc[r] = v8_load(dwo + r * d);
                for (int64_t i = 0; i < n; i++) {
                    v8 uv = v8_load(s->u + i * d + c0);
                    const float *src = parts[q] + i * widths[q] + o0;
#pragma GCC unroll 8
                    for (int r = 0; r < 8; r++) acc[r] += v8_set1(src[r]) * uv;
                }
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) v8_store(dwo + r * d, acc[r]);
            }
}

static void unit_backward(const Dims *g, Scratch *s, float *restrict gstate, int64_t b, int64_t k,
                          const float *proj, const float *wt, const float *w, const float *wup, const float *u,
                          const float *A, const float *D, const float *bias, const float *ckpt,
                          const float *dout, float *dproj, float *dw, float *dwup, float *dudst, int accumulate,
                          float *dA, float *dD, float *dbias) {
    const int64_t d = g->d, N = g->N, L = g->H * g->W, NV = N / 8, unit = b * g->K + k, Pk = g->R + 2 * N;
    memset(gstate, 0, sizeof(float) * (size_t)(d * N));
    float *dAu = dA + unit * d * N, *dDu = dD + unit * d, *dbu = dbias + unit * d;
    memset(dAu, 0, sizeof(float) * (size_t)(d * N));
    memset(dDu, 0, sizeof(float) * (size_t)d);
    memset(dbu, 0, sizeof(float) * (size_t)d);
    if (g->lanes) {
        transpose_a(g, s, A, k);
        memset(s->work, 0, sizeof(float) * (size_t)(d * N)); /* dA as (N, d) */
    }
    if (!proj) {
        memset(s->dw, 0, sizeof(float) * (size_t)(Pk * d));
        memset(s->dwup, 0, sizeof(float) * (size_t)(g->r * d));
    }
    for (int64_t ch = g->nchunks - 1; ch >= 0; ch--) {
        int64_t t0 = ch * g->T, n = L - t0 < g->T ? L - t0 : g->T;
        gather(g, s, b, k, t0, n, proj, wt, wup, u, bias);
        for (int64_t i = 0; i < n; i++)
            memcpy(s->dy + i * d, dout + (b * L + s->pos[i]) * d, sizeof(float) * (size_t)d);
        memset(s->db, 0, sizeof(float) * (size_t)(n * N));
        memset(s->dc, 0, sizeof(float) * (size_t)(n * N));
        const float *h0 = ckpt + ((unit * g->nchunks + ch) * d) * N;
        if (g->lanes) {
            for (int64_t c0 = 0; c0 < d; c0 += 8) {
                v8 dv = v8_load(D + k * d + c0);
                lanes_backward(g, s, n, c0, dv, h0, gstate, s->work, dDu, dbu, 16);
            }
        } else for (int64_t c = 0; c < d; c++) {
            const float *a = A + (k * d + c) * N;
            if (NV == 2)
                chunk_backward(g, s, n, c, a, D[k * d + c], h0 + c * N, gstate + c * N, dAu + c * N,
                               dDu + c, dbu + c, 2);
            else
                chunk_backward(g, s, n, c, a, D[k * d + c], h0 + c * N, gstate + c * N, dAu + c * N,
                               dDu + c, dbu + c, (int)NV);
        }
        if (proj) {
            const int64_t col = k * (d + 2 * N);
            for (int64_t i = 0; i < n; i++) {
                float *row = dproj + (b * L + s->pos[i]) * g->P + col;
                memcpy(row, s->ddt + i * d, sizeof(float) * (size_t)d);
                memcpy(row + d, s->db + i * N, sizeof(float) * (size_t)N);
                memcpy(row + d + N, s->dc + i * N, sizeof(float) * (size_t)N);
            }
        } else {
            project_chunk_backward(g, s, n, w + k * Pk * d, wup + k * g->r * d);
        }
        scatter_rows(g, s, n, s->du, dudst, accumulate);
    }
    if (!proj) {
        memcpy(dw + unit * Pk * d, s->dw, sizeof(float) * (size_t)(Pk * d));
        memcpy(dwup + unit * g->r * d, s->dwup, sizeof(float) * (size_t)(g->r * d));
    }
    if (g->lanes)
        for (int64_t c = 0; c < d; c++)
            for (int64_t j = 0; j < N; j++) dAu[c * N + j] = s->work[j * d + c];
}

/* The arguments of a pass (forward: ckpt_out, store; backward: ckpt, dout and the gradients). */
typedef struct {
    const float *proj, *wt, *w, *wup, *u, *A, *D, *bias, *ckpt, *dout;
    float *ckpt_out, *dproj, *dw, *dwup, *dA, *dD, *dbias;
    int store;
} Args;

static void run_unit(const Dims *g, Scratch *s, float *carry, const Args *a, int backward, int64_t b, int64_t k,
                     float *dst, int accumulate) {
    if (backward)
        unit_backward(g, s, carry, b, k, a->proj, a->wt, a->w, a->wup, a->u, a->A, a->D, a->bias, a->ckpt,
                      a->dout, a->dproj, a->dw, a->dwup, dst, accumulate, a->dA, a->dD, a->dbias);
    else
        unit_forward(g, s, carry, b, k, a->proj, a->wt, a->wup, a->u, a->A, a->D, a->bias, dst, accumulate,
                     a->ckpt_out, a->store);
}

/* Every unit of a pass on the OpenMP threads, writing dst (batch, L, d): per_batch, one unit of
 * work per batch element, its directions in turn, summed in place; else one per (batch,
 * direction) into buf (batch, K, L, d), summed afterwards in the same order. */
static int run_units(const Dims *g, int backward, const Args *a, float *dst, float *buf, int per_batch,
                     int nthreads) {
    const int64_t plane = g->H * g->W * g->d, batch = g->batch, K = g->K;
    int err = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : err)
    {
        Scratch s;
        float *carry = malloc(sizeof(float) * (size_t)(g->d * g->N)); /* state or adjoint carry */
        int ok = scratch_alloc(&s, g, backward) == 0 && carry;
        if (!ok) err |= -1;
        if (per_batch) {
#pragma omp for schedule(static)
            for (int64_t b = 0; b < batch; b++)
                for (int64_t k = 0; ok && k < K; k++) run_unit(g, &s, carry, a, backward, b, k, dst + b * plane, k > 0);
        } else {
#pragma omp for schedule(static)
            for (int64_t unit = 0; unit < batch * K; unit++)
                if (ok) run_unit(g, &s, carry, a, backward, unit / K, unit % K, buf + unit * plane, 0);
            sum_directions(g, buf, dst);
        }
        if (ok) { free(s.dt); free(s.pos); }
        free(carry);
    }
    return err;
}

int cross_scan_fwd(int64_t batch, int64_t H, int64_t W, int64_t K, int64_t d, int64_t N, int64_t T, int64_t r,
                   const float *proj, const float *wt, const float *wup, const float *u, const float *A,
                   const float *D, const float *bias, float *out, float *buf, float *ckpt, int store, int per_batch,
                   int nthreads) {
    Dims g = {batch, H, W, K, d, N, T, 0, 0, r, 0, 0};
    int err = dims_check(&g);
    if (err) return err;
    if (!proj && (!g.lanes || r < 1)) return -2;
    const Args a = {.proj = proj, .wt = wt, .wup = wup, .u = u, .A = A, .D = D, .bias = bias, .ckpt_out = ckpt,
                    .store = store};
    return run_units(&g, 0, &a, out, buf, per_batch, nthreads);
}

int cross_scan_bwd(int64_t batch, int64_t H, int64_t W, int64_t K, int64_t d, int64_t N, int64_t T, int64_t r,
                   const float *proj, const float *wt, const float *w, const float *wup, const float *u,
                   const float *A, const float *D, const float *bias, const float *ckpt, const float *dout,
                   float *dproj, float *dw, float *dwup, float *du, float *buf, float *dA, float *dD, float *dbias,
                   int per_batch, int nthreads) {
    Dims g = {batch, H, W, K, d, N, T, 0, 0, r, 0, 0};
    int err = dims_check(&g);
    if (err) return err;
    if (!proj && (!g.lanes || r < 1)) return -2;
    const Args a = {.proj = proj, .wt = wt, .w = w, .wup = wup, .u = u, .A = A, .D = D, .bias = bias,
                    .ckpt = ckpt, .dout = dout, .dproj = dproj, .dw = dw, .dwup = dwup, .dA = dA, .dD = dD,
                    .dbias = dbias};
    return run_units(&g, 1, &a, du, buf, per_batch, nthreads);
}

/* The kernel's vector softplus and sigmoid of n floats (n a multiple of 8), for tests. */
void softplus_eval(const float *x, float *sp, float *sig, int64_t n) {
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        v8 a, b;
        v8_softplus(v8_load(x + i), &a, &b);
        v8_store(sp + i, a);
        v8_store(sig + i, b);
    }
}

/* Roofline probes (one thread): seconds for `iters` rounds of 8 independent vector FMA chains,
 * and for `reps` passes of the vector exp over n floats (in cache). */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double probe_fma(int64_t iters, float *sink) {
    v8 acc[8], m = v8_set1(0.999999f), a = v8_set1(1e-7f);
    for (int j = 0; j < 8; j++) acc[j] = v8_set1((float)j);
    double t = now();
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) acc[j] = acc[j] * m + a;
    t = now() - t;
    v8 s = acc[0];
    for (int j = 1; j < 8; j++) s += acc[j];
    *sink = v8_hsum(s);
    return t;
}

double probe_exp4(float *buf, int64_t n, int64_t reps) {
    int64_t half = n / 2;
    double t = now();
    for (int64_t r = 0; r < reps; r++)
        for (int64_t i = 0; i + 32 <= half; i += 32) {
            v8 x[4];
            for (int k = 0; k < 4; k++) x[k] = v8_load(buf + i + 8 * k) * v8_set1(-(float)(r & 7));
            v8_exp4(x);
            for (int k = 0; k < 4; k++) v8_store(buf + half + i + 8 * k, x[k]);
        }
    return now() - t;
}

double probe_exp(float *buf, int64_t n, int64_t reps) {
    /* independent elements: the first half of buf in, the second half out */
    int64_t half = n / 2;
    double t = now();
    for (int64_t r = 0; r < reps; r++)
        for (int64_t i = 0; i + 8 <= half; i += 8) v8_store(buf + half + i, v8_exp(v8_load(buf + i) * v8_set1(-(float)(r & 7))));
    return now() - t;
}
