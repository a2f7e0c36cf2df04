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
 *
 * Threads: the segments are split into contiguous ranges of about equal work (computed by adjoint.py),
 * one POSIX thread each, with a barrier after every phase that reads what other threads wrote; the
 * parameter gradients are accumulated per thread and summed at the end (deterministic for a given
 * number of threads).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

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
int flycluster_adjoint_abi(void) { return 5; }

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
    const int64_t *seg_node;    /* (n_seg,) node index of each segment's first position (its nodes are consecutive) */
    int64_t n_nodes;
} AModel;

/* relu(V) of segments s0..s1 into R (the start of the forward pass). */
static void relu_segments(const AModel *m, const float *V, float *R, int64_t s0, int64_t s1) {
    const int64_t B = m->batch;
    for (int64_t s = s0; s < s1; s++) {
        const int64_t f1 = (m->seg_start[s] + m->seg_len[s]) * B;
        for (int64_t f = m->seg_start[s] * B; f < f1; f++) R[f] = V[f] > 0.f ? V[f] : 0.f;
    }
}

/* One forward step of segments s0..s1: R = relu(V[t]) in, Rn = relu(V[t + 1]) out. */
static void forward_step(const AModel *m, int64_t t, int64_t T, const float *X, float *V, float *U, const float *R,
                         float *Rn, float *out, int64_t s0, int64_t s1) {
    const int64_t B = m->batch, NPB = m->n_positions * B;
    const float dt = m->dt;
    const float *Vp = V + t * NPB, *Xt = X + t * m->type_stride * B;
    float *Vn = V + (t + 1) * NPB, *Ut = U + t * NPB;
    for (int64_t s = s0; s < s1; s++) {
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
                const float *q = R + f + m->term_delta[k] * B;
                a0 += w * ld(q);          a1 += w * ld(q + VW);
                a2 += w * ld(q + 2 * VW); a3 += w * ld(q + 3 * VW);
            }
            vf acc[4] = {a0, a1, a2, a3};
            for (int i = 0; i < 4; i++) {
                const int64_t fi = f + i * VW;
                if (fi >= f1) break;
                const vf v = ld(Vp + fi);
                vf u = -v + b + acc[i];
                if (has_input) u += ld(Xt + fi - xoff);
                const vf vn = v + (inv * u) * vdt;
                if (f1 - fi >= VW) { st(Ut + fi, u); st(Vn + fi, vn); st(Rn + fi, relu(vn)); }
                else { st_part(Ut + fi, u, f1 - fi); st_part(Vn + fi, vn, f1 - fi); st_part(Rn + fi, relu(vn), f1 - fi); }
            }
        }
        /* the segment's new voltages to the output (B, T, n_nodes), its nodes are consecutive */
        const int64_t n0 = m->seg_node[s], N = m->n_nodes;
        const float *q = Vn + m->seg_start[s] * B;
        for (int64_t j = 0; j < m->seg_len[s]; j++)
            for (int64_t c = 0; c < B; c++) out[(c * T + t) * N + n0 + j] = q[j * B + c];
    }
}

/* Backward pass 1 for segments s0..s1: h = inv dt g; bias and inv gradients (into gb, ginv). */
static void backward_h(const AModel *m, const float *Gt, const float *Ut, float *H, int64_t s0, int64_t s1,
                       double *ginv, double *gb) {
    const int64_t B = m->batch;
    const float dt = m->dt;
    for (int64_t s = s0; s < s1; s++) {
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
}

/* Backward pass 2 for source segments s0..s1: the state gradient, decay plus the transposed stencil
 * through relu', and with the same loads of h the weight gradients: for term k (transposed index kt)
 * sum over sources of h[s - delta_k] * relu(V[s]), accumulated per lane in vacc (n_terms * VW). */
static void backward_v(const AModel *m, const float *Vp, const float *Gt, const float *H, float *Gp, int64_t s0,
                       int64_t s1, float *vacc, const float *gout_prev, int64_t T, float *g0) {
    const int64_t B = m->batch;
    const float dt = m->dt;
    for (int64_t s = s0; s < s1; s++) {
        const int32_t ty = m->seg_type[s];
        const int32_t k0 = m->tterm_ptr[ty], k1 = m->tterm_ptr[ty + 1];
        const vf decay = bc(1.f - m->inv[ty] * dt);
        const int64_t f1 = (m->seg_start[s] + m->seg_len[s]) * B;
        for (int64_t f = m->seg_start[s] * B; f < f1; f += 4 * VW) {
            const int64_t n = f1 - f; /* valid floats from f */
            vf r0 = relu(ld(Vp + f)), r1 = relu(ld(Vp + f + VW)), r2 = relu(ld(Vp + f + 2 * VW)),
               r3 = relu(ld(Vp + f + 3 * VW));
            if (n < 4 * VW) {
                r0 = keep_first(r0, n);
                r1 = keep_first(r1, n - VW);
                r2 = keep_first(r2, n - 2 * VW);
                r3 = keep_first(r3, n - 3 * VW);
            }
            vf a0 = bc(0.f), a1 = a0, a2 = a0, a3 = a0;
            for (int32_t k = k0; k < k1; k++) {
                const vf w = bc(m->tterm_w[k]);
                const float *q = H + f + m->tterm_delta[k] * B;
                const vf h0 = ld(q), h1 = ld(q + VW), h2 = ld(q + 2 * VW), h3 = ld(q + 3 * VW);
                a0 += w * h0; a1 += w * h1; a2 += w * h2; a3 += w * h3;
                float *acc = vacc + (int64_t)k * VW;
                st(acc, ld(acc) + (h0 * r0 + h1 * r1) + (h2 * r2 + h3 * r3));
            }
            vf acc[4] = {a0, a1, a2, a3};
            for (int i = 0; i < 4; i++) {
                const int64_t fi = f + i * VW;
                if (fi >= f1) break;
                const vf v = ld(Vp + fi);
                const vi active = v > bc(0.f);
                const vf gp = decay * ld(Gt + fi) + (vf)((vi)acc[i] & active);
                if (f1 - fi >= VW) st(Gp + fi, gp);
                else st_part(Gp + fi, gp, f1 - fi);
            }
        }
        /* plus the output's gradient of this state (frame t - 2 of gout), or out as the initial state's */
        const int64_t n0 = m->seg_node[s], N = m->n_nodes;
        float *q = Gp + m->seg_start[s] * B;
        if (gout_prev) {
            for (int64_t j = 0; j < m->seg_len[s]; j++)
                for (int64_t c = 0; c < B; c++) q[j * B + c] += gout_prev[c * T * N + n0 + j];
        } else {
            for (int64_t j = 0; j < m->seg_len[s]; j++)
                for (int64_t c = 0; c < B; c++) g0[c * N + n0 + j] = q[j * B + c];
        }
    }
}

/* G (one state grid) at the nodes of segments s0..s1 = frame T - 1 of gout (B, T, n_nodes). */
static void load_last(const AModel *m, const float *gout, int64_t T, float *G, int64_t s0, int64_t s1) {
    const int64_t B = m->batch, N = m->n_nodes;
    for (int64_t s = s0; s < s1; s++) {
        const int64_t n0 = m->seg_node[s];
        float *q = G + m->seg_start[s] * B;
        for (int64_t j = 0; j < m->seg_len[s]; j++)
            for (int64_t c = 0; c < B; c++) q[j * B + c] = gout[(c * T + T - 1) * N + n0 + j];
    }
}

typedef struct Gate { /* start gate: the threads begin only when all could be started */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state; /* 0 wait, 1 go, -1 abort */
} Gate;

typedef struct {
    const AModel *m;
    int64_t T;
    const float *X;
    float *V, *U, *G, *H, *out;
    const float *gout;
    double *acc; /* this thread's gw (n_terms), ginv, gb (n_types each) */
    float *vacc; /* this thread's per-lane weight-gradient sums of one step (n_terms * VW) */
    float *R0, *R1; /* forward: relu of the current and the next state (n_positions * B each) */
    int64_t n_terms, n_types;
    int64_t s0, s1, r0, r1; /* segments of the target-ordered and of the transposed work */
    pthread_barrier_t *barrier;
    Gate *gate;
    void *(*fn)(void *);
} Job;

static void *forward_job(void *arg) {
    const Job *j = arg;
    relu_segments(j->m, j->V, j->R0, j->s0, j->s1);
    if (j->barrier) pthread_barrier_wait(j->barrier);
    for (int64_t t = 0; t < j->T; t++) {
        const float *R = t % 2 ? j->R1 : j->R0;
        float *Rn = t % 2 ? j->R0 : j->R1;
        forward_step(j->m, t, j->T, j->X, j->V, j->U, R, Rn, j->out, j->s0, j->s1);
        if (j->barrier) pthread_barrier_wait(j->barrier);
    }
    return NULL;
}

static void *backward_job(void *arg) {
    const Job *j = arg;
    const AModel *m = j->m;
    const int64_t NPB = m->n_positions * m->batch, T = j->T, N = m->n_nodes;
    double *gw = j->acc, *ginv = gw + j->n_terms, *gb = ginv + j->n_types;
    /* two state-gradient grids, G[t] and G[t - 1], alternate */
    float *Gt = j->G, *Gp = j->G + NPB + 4 * VW;
    load_last(m, j->gout, T, Gt, j->r0, j->r1);
    if (j->barrier) pthread_barrier_wait(j->barrier);
    for (int64_t t = T; t >= 1; t--) {
        const float *Vp = j->V + (t - 1) * NPB, *Ut = j->U + (t - 1) * NPB;
        backward_h(m, Gt, Ut, j->H, j->s0, j->s1, ginv, gb);
        if (j->barrier) pthread_barrier_wait(j->barrier);
        backward_v(m, Vp, Gt, j->H, Gp, j->r0, j->r1, j->vacc, t >= 2 ? j->gout + (t - 2) * N : NULL, T, j->out);
        /* flush the float lanes into double once per step (precision over long runs) */
        for (int64_t k = 0; k < j->n_terms; k++) {
            float *a = j->vacc + k * VW;
            gw[m->tterm_term[k]] += hsum(ld(a));
            st(a, bc(0.f));
        }
        if (j->barrier) pthread_barrier_wait(j->barrier);
        float *swap = Gt;
        Gt = Gp;
        Gp = swap;
    }
    return NULL;
}

static void *gated(void *arg) {
    Job *j = arg;
    pthread_mutex_lock(&j->gate->lock);
    while (j->gate->state == 0) pthread_cond_wait(&j->gate->cond, &j->gate->lock);
    const int go = j->gate->state == 1;
    pthread_mutex_unlock(&j->gate->lock);
    return go ? j->fn(arg) : NULL;
}

static void open_gate(Gate *gate, int state) {
    pthread_mutex_lock(&gate->lock);
    gate->state = state;
    pthread_cond_broadcast(&gate->cond);
    pthread_mutex_unlock(&gate->lock);
}

/* Run fn over n_threads jobs (the calling thread runs the first). Returns 0, or -1 when a thread
 * cannot be started (then nothing was computed). */
static int run_jobs(void *(*fn)(void *), Job *jobs, int32_t n_threads) {
    if (n_threads == 1) {
        jobs[0].barrier = NULL;
        fn(&jobs[0]);
        return 0;
    }
    pthread_t threads[64];
    pthread_barrier_t barrier;
    Gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    if (pthread_barrier_init(&barrier, NULL, (unsigned)n_threads) != 0) return -1;
    int32_t started = 1, rc = 0;
    for (int32_t i = 0; i < n_threads; i++) jobs[i].barrier = &barrier, jobs[i].gate = &gate, jobs[i].fn = fn;
    for (; started < n_threads; started++) {
        if (pthread_create(&threads[started], NULL, gated, &jobs[started]) != 0) { rc = -1; break; }
    }
    open_gate(&gate, rc == 0 ? 1 : -1);
    if (rc == 0) fn(&jobs[0]);
    for (int32_t i = 1; i < started; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
    return rc;
}

/* T steps. V: (T + 1, n_positions, B), V[0] = initial state; U: (T, n_positions, B) receives u;
 * X: (T, type_stride, B) the movie on one type's grid; out: (B, T, n_nodes) receives V[1..T] of the
 * nodes. part: (n_threads + 1,) segment bounds.
 * Reads up to 4 * VW floats past a run. Returns 0 on success. */
int flycluster_adjoint_forward(const AModel *m, int64_t T, const float *X, float *V, float *U, float *out,
                               int32_t n_threads, const int64_t *part) {
    Job jobs[64];
    if (n_threads < 1 || n_threads > 64) return -1;
    const size_t n_r = (size_t)(m->n_positions * m->batch + 4 * VW);
    float *R = calloc(2 * n_r, sizeof(float)); /* 0 where no node sits, never written there */
    if (!R) return -1;
    for (int32_t i = 0; i < n_threads; i++) {
        jobs[i] = (Job){.m = m, .T = T, .X = X, .V = V, .U = U, .out = out, .s0 = part[i], .s1 = part[i + 1],
                        .R0 = R, .R1 = R + n_r};
    }
    const int rc = run_jobs(forward_job, jobs, n_threads);
    free(R);
    return rc;
}

/* Backpropagation through the T steps of flycluster_adjoint_forward.
 * gout: (B, T, n_nodes) gradient of the loss with respect to the output; g0: (B, n_nodes) receives the
 * initial state's gradient. G: two state grids (each n_positions * B + 4 * VW floats) and H: one,
 * scratch, 0 at positions without a node (never written there). gw (n_terms,), ginv, gb (n_types,):
 * accumulated (double). part, tpart: (n_threads + 1,) segment bounds of the target-ordered and the
 * transposed work. Returns 0 on success. */
int flycluster_adjoint_backward(const AModel *m, int64_t T, const float *V, const float *U, const float *gout,
                                float *G, float *H, float *g0, double *gw, double *ginv, double *gb, int64_t n_terms,
                                int64_t n_types, int32_t n_threads, const int64_t *part, const int64_t *tpart) {
    Job jobs[64];
    if (n_threads < 1 || n_threads > 64) return -1;
    const int64_t per = n_terms + 2 * n_types;
    double *acc = calloc((size_t)(per * n_threads), sizeof(double));
    float *vacc = calloc((size_t)(n_terms * VW * n_threads), sizeof(float));
    if (!acc || !vacc) { free(acc); free(vacc); return -1; }
    for (int32_t i = 0; i < n_threads; i++) {
        jobs[i] = (Job){.m = m, .T = T, .V = (float *)V, .U = (float *)U, .G = G, .H = H, .out = g0, .gout = gout,
                        .acc = acc + i * per,
                        .vacc = vacc + i * n_terms * VW,
                        .n_terms = n_terms, .n_types = n_types, .s0 = part[i], .s1 = part[i + 1],
                        .r0 = tpart[i], .r1 = tpart[i + 1]};
    }
    int rc = run_jobs(backward_job, jobs, n_threads);
    if (rc == 0) {
        for (int32_t i = 0; i < n_threads; i++) {
            const double *a = acc + i * per;
            for (int64_t k = 0; k < n_terms; k++) gw[k] += a[k];
            for (int64_t k = 0; k < n_types; k++) ginv[k] += a[n_terms + k], gb[k] += a[n_terms + n_types + k];
        }
    }
    free(acc);
    free(vacc);
    return rc;
}

/* grid (S, n_positions, B) at the node positions pos (N,) = src (B, S, N). */
void flycluster_adjoint_scatter(float *grid, int64_t S, int64_t n_positions, int64_t B, const int64_t *pos, int64_t N,
                                const float *src) {
    for (int64_t t = 0; t < S; t++) {
        float *g = grid + t * n_positions * B;
        const float *x = src + t * N;
        for (int64_t i = 0; i < N; i++) {
            float *q = g + pos[i] * B;
            for (int64_t b = 0; b < B; b++) q[b] = x[b * S * N + i];
        }
    }
}
