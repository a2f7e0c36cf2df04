/* flycluster native CPU kernel for training: Euler steps of a flyvis network that keep every state,
 * and their adjoint (backpropagation through time) for the gradients of the parameters.
 *
 * Built and loaded at run time by flycluster/adjoint.py (system C compiler, cached, as native.py
 * builds csrc/stencil.c); the grid layout is flycluster/stencil.py's, with the samples of a batch
 * interleaved at every grid position: array[(position) * B + sample]. One row segment of a cell type
 * (consecutive grid positions holding nodes) is then one contiguous run of seg_len * B floats, and
 * the source run of term k is the same run shifted by delta[k] * B floats.
 *
 * Forward (one step, every node p of type t, flyvis's order of operations):
 *   u[p]  = -V[p] + b[t] + sum_{terms k of t} w[k] * relu(V[p + delta[k]]) + x[p]
 *   V'[p] = V[p] + (inv[t] * u[p]) * dt            inv = 1 / max(tau, dt)
 * Backward, given g = dL/dV' (with h = inv * dt * g):
 *   dL/db[t]   += sum_p h[p]                   dL/dinv[t] += sum_p g[p] * u[p] * dt
 *   dL/dw[k]   += sum_p h[p] * relu(V[p + delta[k]])          (weight gradient: sum over positions)
 *   dL/dV[p]   += (1 - inv * dt) g[p] + [V[p] > 0] sum_{terms k with source type of p} w[k] h[p - delta[k]]
 * the last sum being the transposed stencil: the same terms grouped by source type, offsets mirrored.
 * Grid positions without a node hold 0 in V, G and H and are never written.
 */
#include <stdint.h>

#define VW 8 /* floats per vector */
typedef float vf __attribute__((vector_size(VW * 4)));
typedef float vfu __attribute__((vector_size(VW * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf ld(const float *p) { return *(const vfu *)p; }
static inline void st(float *p, vf x) { *(vfu *)p = x; }
static inline vf bc(float x) { vf v = {x, x, x, x, x, x, x, x}; return v; }
static inline vf relu(vf x) { vi m = x > bc(0.f); return (vf)((vi)x & m); }
static inline vf keep_first(vf x, int64_t n) { /* lanes >= n set to 0 */
    const vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
    vi m = lane < (vi){(int32_t)n, (int32_t)n, (int32_t)n, (int32_t)n, (int32_t)n, (int32_t)n, (int32_t)n, (int32_t)n};
    return (vf)((vi)x & m);
}
static inline float hsum(vf x) {
    float s = 0.f;
    for (int i = 0; i < VW; i++) s += x[i];
    return s;
}
static inline void st_part(float *p, vf x, int64_t n) { /* store the first n (< VW) lanes */
    for (int64_t i = 0; i < n; i++) p[i] = x[i];
}

/* ABI version checked by adjoint.py: bump when a signature or the layout changes. */
int flycluster_adjoint_abi(void) { return 1; }

typedef struct {
    int64_t n_seg;              /* runs of consecutive grid positions of one cell type */
    const int64_t *seg_start;   /* (n_seg,) first grid position */
    const int32_t *seg_len;     /* (n_seg,) */
    const int32_t *seg_type;    /* (n_seg,) cell type */
    const int32_t *term_ptr;    /* (n_types + 1,) terms of target type t: term_ptr[t] .. term_ptr[t + 1] */
    const int64_t *term_delta;  /* (n_terms,) source position - target position */
    const float *term_w;        /* (n_terms,) weight sign * count * strength */
    const int32_t *tterm_ptr;   /* (n_types + 1,) terms of source type s (transposed stencil) */
    const int64_t *tterm_delta; /* (n_terms,) target position - source position (mirrored) */
    const float *tterm_w;       /* (n_terms,) weights in the transposed order */
    const int32_t *tterm_term;  /* (n_terms,) term index of each transposed term */
    const float *inv;           /* (n_types,) 1 / max(tau, dt) */
    const float *bias;          /* (n_types,) */
    const float *in_gain;       /* (n_types,) 1 for the photoreceptor types, else 0 */
    int64_t type_stride;        /* grid positions per cell type */
    int64_t n_positions;        /* grid positions of one state */
    int64_t batch;              /* samples interleaved at every position */
    float dt;
} AModel;

/* T steps. V: (T + 1, n_positions, B), V[0] = initial state; U: (T, n_positions, B) receives u;
 * X: (T, type_stride, B) the movie on one type's grid. Reads up to 4 * VW floats past a run. */
void flycluster_adjoint_forward(const AModel *m, int64_t T, const float *X, float *V, float *U) {
    const int64_t B = m->batch, NPB = m->n_positions * B;
    const float dt = m->dt;
    for (int64_t t = 0; t < T; t++) {
        const float *Vp = V + t * NPB, *Xt = X + t * m->type_stride * B;
        float *Vn = V + (t + 1) * NPB, *Ut = U + t * NPB;
        for (int64_t s = 0; s < m->n_seg; s++) {
            const int32_t ty = m->seg_type[s];
            const int32_t k0 = m->term_ptr[ty], k1 = m->term_ptr[ty + 1];
            const vf b = bc(m->bias[ty]), inv = bc(m->inv[ty]), vdt = bc(dt);
            const int has_input = m->in_gain[ty] != 0.f;
            const int64_t f1 = (m->seg_start[s] + m->seg_len[s]) * B;
            const int64_t xoff = (int64_t)ty * m->type_stride * B;
            for (int64_t f = m->seg_start[s] * B; f < f1; f += 4 * VW) {
                vf a0 = bc(0.f), a1 = a0, a2 = a0, a3 = a0;
                for (int32_t k = k0; k < k1; k++) {
                    const vf w = bc(m->term_w[k]);
                    const float *q = Vp + f + m->term_delta[k] * B;
                    a0 += w * relu(ld(q));          a1 += w * relu(ld(q + VW));
                    a2 += w * relu(ld(q + 2 * VW)); a3 += w * relu(ld(q + 3 * VW));
                }
                vf acc[4] = {a0, a1, a2, a3};
                for (int i = 0; i < 4; i++) {
                    const int64_t fi = f + i * VW;
                    if (fi >= f1) break;
                    const vf v = ld(Vp + fi);
                    vf u = -v + b + acc[i];
                    if (has_input) u += ld(Xt + fi - xoff);
                    const vf vn = v + (inv * u) * vdt;
                    if (f1 - fi >= VW) { st(Ut + fi, u); st(Vn + fi, vn); }
                    else { st_part(Ut + fi, u, f1 - fi); st_part(Vn + fi, vn, f1 - fi); }
                }
            }
        }
    }
}

/* Backpropagation through the T steps of flycluster_adjoint_forward.
 * G: (T + 1, n_positions, B); in: G[t] = dL/dV[t] from the outputs (t >= 1), G[0] = 0; out: every
 * G[t] holds the total gradient, G[0] the initial state's. H: (n_positions, B) scratch, zero on entry.
 * gw (n_terms,), ginv, gb (n_types,): accumulated (double). */
void flycluster_adjoint_backward(const AModel *m, int64_t T, const float *V, const float *U, float *G, float *H,
                                 double *gw, double *ginv, double *gb) {
    const int64_t B = m->batch, NPB = m->n_positions * B;
    const float dt = m->dt;
    for (int64_t t = T; t >= 1; t--) {
        const float *Vp = V + (t - 1) * NPB, *Ut = U + (t - 1) * NPB, *Gt = G + t * NPB;
        float *Gp = G + (t - 1) * NPB;
        /* 1. h = inv dt g; bias and time-constant gradients */
        for (int64_t s = 0; s < m->n_seg; s++) {
            const int32_t ty = m->seg_type[s];
            const float a = m->inv[ty] * dt;
            const int64_t f0 = m->seg_start[s] * B, f1 = f0 + (int64_t)m->seg_len[s] * B;
            vf sh = bc(0.f), su = bc(0.f);
            int64_t f = f0;
            for (; f + VW <= f1; f += VW) {
                const vf g = ld(Gt + f), h = bc(a) * g;
                st(H + f, h);
                sh += h;
                su += g * ld(Ut + f);
            }
            double th = hsum(sh), tu = hsum(su);
            for (; f < f1; f++) {
                const float h = a * Gt[f];
                H[f] = h;
                th += h;
                tu += (double)(Gt[f] * Ut[f]);
            }
            gb[ty] += th;
            ginv[ty] += tu * dt;
        }
        /* 2. weight gradients: sum over target positions of h * relu(V_source) */
        for (int64_t s = 0; s < m->n_seg; s++) {
            const int32_t ty = m->seg_type[s];
            const int32_t k0 = m->term_ptr[ty], k1 = m->term_ptr[ty + 1];
            const int64_t f0 = m->seg_start[s] * B, f1 = f0 + (int64_t)m->seg_len[s] * B;
            for (int64_t f = f0; f < f1; f += 4 * VW) {
                const int64_t n = f1 - f; /* valid floats from f */
                vf h0 = ld(H + f), h1 = ld(H + f + VW), h2 = ld(H + f + 2 * VW), h3 = ld(H + f + 3 * VW);
                if (n < 4 * VW) {
                    h0 = keep_first(h0, n);
                    h1 = keep_first(h1, n - VW);
                    h2 = keep_first(h2, n - 2 * VW);
                    h3 = keep_first(h3, n - 3 * VW);
                }
                for (int32_t k = k0; k < k1; k++) {
                    const float *q = Vp + f + m->term_delta[k] * B;
                    const vf d = h0 * relu(ld(q)) + h1 * relu(ld(q + VW)) + h2 * relu(ld(q + 2 * VW))
                                 + h3 * relu(ld(q + 3 * VW));
                    gw[k] += hsum(d);
                }
            }
        }
        /* 3. state gradient: decay plus the transposed stencil through relu' */
        for (int64_t s = 0; s < m->n_seg; s++) {
            const int32_t ty = m->seg_type[s];
            const int32_t k0 = m->tterm_ptr[ty], k1 = m->tterm_ptr[ty + 1];
            const vf decay = bc(1.f - m->inv[ty] * dt);
            const int64_t f1 = (m->seg_start[s] + m->seg_len[s]) * B;
            for (int64_t f = m->seg_start[s] * B; f < f1; f += 4 * VW) {
                vf a0 = bc(0.f), a1 = a0, a2 = a0, a3 = a0;
                for (int32_t k = k0; k < k1; k++) {
                    const vf w = bc(m->tterm_w[k]);
                    const float *q = H + f + m->tterm_delta[k] * B;
                    a0 += w * ld(q);          a1 += w * ld(q + VW);
                    a2 += w * ld(q + 2 * VW); a3 += w * ld(q + 3 * VW);
                }
                vf acc[4] = {a0, a1, a2, a3};
                for (int i = 0; i < 4; i++) {
                    const int64_t fi = f + i * VW;
                    if (fi >= f1) break;
                    const vf v = ld(Vp + fi);
                    const vi active = v > bc(0.f);
                    const vf gp = ld(Gp + fi) + decay * ld(Gt + fi) + (vf)((vi)acc[i] & active);
                    if (f1 - fi >= VW) st(Gp + fi, gp);
                    else st_part(Gp + fi, gp, f1 - fi);
                }
            }
        }
    }
}
