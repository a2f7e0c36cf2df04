/* flycluster native CPU kernel: explicit-Euler steps of a flyvis network for one chunk of LANES samples.
 *
 * Built and loaded at run time by flycluster/native.py (system C compiler, cached); the layout it
 * expects is built by flycluster/stencil.py, which documents it in full. In short:
 *
 *   A flyvis network is translation invariant: every edge of one (edge type, du, dv) "term" has the
 *   same weight, and its source is the target shifted by -(du, dv) in the source cell type's lattice.
 *   Voltages live on a zero-padded square grid per cell type, [type][u][v][lane], so the source of
 *   term k for the target at grid position p is p + delta[k] for every p: the sparse product becomes a
 *   stencil with no per-edge index. Grid positions without a node hold 0 and are never written.
 *
 *   V <- decay * V + drive + in_gain * x + sum_k w[k] * relu(V)[p + delta[k]]       (per cell type)
 *
 * with decay = 1 - a, drive = a * bias, in_gain = a (photoreceptors, else 0), w = a * weight and
 * a = dt / max(tau, dt). Portable C99 with GCC/Clang vector extensions: AVX with -march=native on
 * x86-64, NEON on ARM, plain scalar code elsewhere.
 */
#include <stdint.h>

#define LANES 8
typedef float vf __attribute__((vector_size(LANES * 4)));
typedef float vfu __attribute__((vector_size(LANES * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(LANES * 4)));

static inline vf ld(const float *p) { return *(const vfu *)p; }
static inline void st(float *p, vf x) { *(vfu *)p = x; }
static inline vf bc(float x) { vf v = {x, x, x, x, x, x, x, x}; return v; }
static inline vf relu(vf x) { vi m = x > bc(0.f); return (vf)((vi)x & m); }

/* ABI version checked by native.py: bump when a signature or the layout changes. */
int flycluster_stencil_abi(void) { return 1; }
int flycluster_stencil_lanes(void) { return LANES; }

typedef struct {
    int64_t n_seg;             /* runs of consecutive grid positions of one target type */
    const int64_t *seg_start;  /* (n_seg,) first grid position */
    const int32_t *seg_len;    /* (n_seg,) */
    const int32_t *seg_type;   /* (n_seg,) target cell type */
    const int32_t *term_ptr;   /* (n_types + 1,) terms of type t: term_ptr[t] .. term_ptr[t + 1] */
    const int64_t *term_delta; /* (n_terms,) source position - target position */
    const float *term_w;       /* (n_terms,) a_target * weight */
    const float *decay;        /* (n_types,) 1 - a */
    const float *drive;        /* (n_types,) a * bias */
    const float *in_gain;      /* (n_types,) a for photoreceptor types, else 0 */
    int64_t type_stride;       /* grid positions per cell type */
} Model;

/* Finish n targets from p0 on: add the constant terms and the input, store V and relu(V). */
#define STORE(J, ACC)                                                                          \
    if (J < n) {                                                                               \
        const int64_t p = p0 + J;                                                              \
        vf x = ACC + c + d * ld(V + p * LANES);                                                \
        if (has_input) x += g * ld(X + (p - (int64_t)t * m->type_stride) * LANES);             \
        st(V + p * LANES, x);                                                                  \
        st(Rn + p * LANES, relu(x));                                                           \
    }

/* One step of all targets: V (in place) and R -> Rn; X: this step's input on one type's grid. */
static void step(const Model *m, float *V, const float *R, float *Rn, const float *X) {
    for (int64_t s = 0; s < m->n_seg; s++) {
        const int32_t t = m->seg_type[s];
        const int32_t k0 = m->term_ptr[t], k1 = m->term_ptr[t + 1];
        const vf d = bc(m->decay[t]), c = bc(m->drive[t]), g = bc(m->in_gain[t]);
        const int has_input = m->in_gain[t] != 0.f;
        const int64_t end = m->seg_start[s] + m->seg_len[s];
        for (int64_t p0 = m->seg_start[s]; p0 < end;) {
            const int64_t left = end - p0;
            if (left > 4) { /* 8 targets at a time: 8 independent accumulators */
                const int n = left < 8 ? (int)left : 8;
                vf a0 = bc(0.f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
                for (int32_t k = k0; k < k1; k++) {
                    const vf w = bc(m->term_w[k]);
                    const float *q = R + (p0 + m->term_delta[k]) * LANES;
                    a0 += w * ld(q);             a1 += w * ld(q + LANES);
                    a2 += w * ld(q + 2 * LANES); a3 += w * ld(q + 3 * LANES);
                    a4 += w * ld(q + 4 * LANES); a5 += w * ld(q + 5 * LANES);
                    a6 += w * ld(q + 6 * LANES); a7 += w * ld(q + 7 * LANES);
                }
                STORE(0, a0) STORE(1, a1) STORE(2, a2) STORE(3, a3)
                STORE(4, a4) STORE(5, a5) STORE(6, a6) STORE(7, a7)
                p0 += n;
            } else if (left > 1) { /* 2-4 targets */
                const int n = (int)left;
                vf a0 = bc(0.f), a1 = a0, a2 = a0, a3 = a0;
                for (int32_t k = k0; k < k1; k++) {
                    const vf w = bc(m->term_w[k]);
                    const float *q = R + (p0 + m->term_delta[k]) * LANES;
                    a0 += w * ld(q);             a1 += w * ld(q + LANES);
                    a2 += w * ld(q + 2 * LANES); a3 += w * ld(q + 3 * LANES);
                }
                STORE(0, a0) STORE(1, a1) STORE(2, a2) STORE(3, a3)
                p0 += n;
            } else { /* a single target: two partial sums */
                const int n = 1;
                vf a0 = bc(0.f), a1 = a0;
                int32_t k = k0;
                for (; k + 1 < k1; k += 2) {
                    a0 += bc(m->term_w[k]) * ld(R + (p0 + m->term_delta[k]) * LANES);
                    a1 += bc(m->term_w[k + 1]) * ld(R + (p0 + m->term_delta[k + 1]) * LANES);
                }
                if (k < k1) a0 += bc(m->term_w[k]) * ld(R + (p0 + m->term_delta[k]) * LANES);
                STORE(0, a0 + a1)
                p0 += 1;
            }
        }
    }
}

/* Integrate one chunk of LANES samples.
 *
 * V, R, Rn: (n_positions, LANES) grids; V holds the initial voltages and R = relu(V) on entry; V is
 * updated in place. X: (type_stride, LANES) scratch grid, zero outside the hexagon. frames: (n_frames,
 * n_hex, LANES) luminance, hex_pos: (n_hex,) grid position of each hexal within one type's grid.
 * First n_fade steps with input 0.5 + ramp[k] * (frame 0 - 0.5), then one step per frame; after each
 * frame f, V at record_pos (n_record,) is written to out[f] (n_frames, n_record, LANES).
 * Returns 1 when relu(V) ended in Rn (an odd number of steps), else 0. */
int flycluster_stencil_run(const Model *m, float *V, float *R, float *Rn, float *X, int64_t n_hex,
                           const int64_t *hex_pos, int64_t n_fade, const float *ramp, int64_t n_frames,
                           const float *frames, int64_t n_record, const int64_t *record_pos, float *out) {
    float *r = R, *rn = Rn, *tmp;
    const vf grey = bc(0.5f);
    for (int64_t k = 0; k < n_fade; k++) {
        const vf a = bc(ramp[k]);
        for (int64_t h = 0; h < n_hex; h++) st(X + hex_pos[h] * LANES, grey + a * (ld(frames + h * LANES) - grey));
        step(m, V, r, rn, X);
        tmp = r; r = rn; rn = tmp;
    }
    for (int64_t f = 0; f < n_frames; f++) {
        const float *frame = frames + f * n_hex * LANES;
        for (int64_t h = 0; h < n_hex; h++) st(X + hex_pos[h] * LANES, ld(frame + h * LANES));
        step(m, V, r, rn, X);
        tmp = r; r = rn; rn = tmp;
        for (int64_t i = 0; i < n_record; i++) st(out + (f * n_record + i) * LANES, ld(V + record_pos[i] * LANES));
    }
    return r != R;
}
