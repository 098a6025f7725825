/* ListOps: the evaluator, the text form and the generator (see listops.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "listops.h"
#include "rng.h"
#include "sha256.h"

static const char *const WORDS[LISTOPS_VOCAB] = {NULL, "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
                                                 "[MAX", "[MIN", "[MED", "[SM", "]"};

/* One open operator while evaluating: which, and how many of each digit its arguments gave. */
typedef struct frame {
    int op, count, hist[10];
} frame;

/* The value of a closed operator from its arguments' digit counts (count >= 1). */
static int apply(const frame *f) {
    int lo = -1, hi = -1, sum = 0, seen = 0, mid_a = -1, mid_b = -1;
    for (int v = 0; v < 10; v++) {
        if (!f->hist[v]) continue;
        if (lo < 0) lo = v;
        hi = v;
        sum += v * f->hist[v];
        /* the sorted arguments' elements (count - 1) / 2 and count / 2 */
        if (mid_a < 0 && seen + f->hist[v] > (f->count - 1) / 2) mid_a = v;
        if (mid_b < 0 && seen + f->hist[v] > f->count / 2) mid_b = v;
        seen += f->hist[v];
    }
    switch (f->op) {
    case LISTOPS_MAX: return hi;
    case LISTOPS_MIN: return lo;
    case LISTOPS_MED: return (mid_a + mid_b) / 2; /* LRA: int(np.median(args)), rounded down */
    default: return sum % 10;                     /* LISTOPS_SM */
    }
}

int listops_value(const uint8_t *tok, int n) {
    frame stack[LISTOPS_MAX_DEPTH];
    int depth = 0, result = -1;
    for (int i = 0; i < n; i++) {
        int t = tok[i], v = -1;
        if (result >= 0) return -1; /* tokens after a complete expression */
        if (t >= LISTOPS_MAX && t <= LISTOPS_SM) {
            if (depth == LISTOPS_MAX_DEPTH) return -1;
            stack[depth++] = (frame){.op = t};
            continue;
        }
        if (t >= LISTOPS_DIGIT0 && t < LISTOPS_DIGIT0 + 10) v = t - LISTOPS_DIGIT0;
        else if (t == LISTOPS_END && depth > 0 && stack[depth - 1].count > 0) v = apply(&stack[--depth]);
        else return -1;
        if (depth == 0) result = v;
        else stack[depth - 1].count++, stack[depth - 1].hist[v]++;
    }
    return result;
}

int listops_parse(const char *text, uint8_t *tok, int cap) {
    int n = 0;
    for (const char *p = text; *p;) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            p++;
            continue;
        }
        size_t w = strcspn(p, " \t\n");
        int t = LISTOPS_VOCAB;
        for (int k = 1; k < LISTOPS_VOCAB && t == LISTOPS_VOCAB; k++)
            if (strlen(WORDS[k]) == w && memcmp(WORDS[k], p, w) == 0) t = k;
        if (t == LISTOPS_VOCAB || n == cap) return -1;
        tok[n++] = (uint8_t)t;
        p += w;
    }
    return n;
}

int listops_format(const uint8_t *tok, int n, char *out, size_t cap) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if (tok[i] == LISTOPS_PAD || tok[i] >= LISTOPS_VOCAB) return -1;
        size_t w = strlen(WORDS[tok[i]]);
        if (at + w + 2 > cap) return -1;
        if (i) out[at++] = ' ';
        memcpy(out + at, WORDS[tok[i]], w);
        at += w;
    }
    if (cap == 0) return -1;
    out[at] = 0;
    return (int)at;
}

/* The generator's state: the data RNG, the expression being drawn (out[max_len]) and its length. */
typedef struct gen {
    rng r;
    const listops_params *p;
    uint8_t *out;
    int n;
} gen;

/* Appends a random subtree at `depth` (the root is 1) to g->out; 0, or -1 as soon as the expression
 * would pass max_len tokens (the draw is then abandoned: LRA would reject it whole). */
static int draw_tree(gen *g, int depth) {
    if (g->n >= g->p->max_len) return -1;
    if (depth >= g->p->depth || rng_uniform(&g->r) > 0.25) { /* a digit with probability 3/4 */
        g->out[g->n++] = (uint8_t)(LISTOPS_DIGIT0 + rng_below(&g->r, 10));
        return 0;
    }
    const int args = 2 + (int)rng_below(&g->r, (uint32_t)g->p->arity - 1), at = g->n++;
    for (int a = 0; a < args; a++)
        if (draw_tree(g, depth + 1)) return -1;
    if (g->n >= g->p->max_len) return -1;
    g->out[g->n++] = LISTOPS_END;
    g->out[at] = (uint8_t)(LISTOPS_MAX + rng_below(&g->r, 4)); /* LRA picks the operator last */
    return 0;
}

/* The longest expression depth and arity allow (saturating at INT_MAX). */
static int longest(int depth, int arity) {
    long long len = 1; /* a digit at the maximum depth */
    for (int d = depth - 1; d >= 1; d--) {
        len = 2 + (long long)arity * len;
        if (len > INT_MAX) return INT_MAX;
    }
    return (int)len;
}

/* FNV-1a of tok[0..n), never 0 (0 marks an empty slot of the repeat table). */
static uint64_t fingerprint(const uint8_t *tok, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ tok[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* Adds h to the open-addressing table seen[mask + 1]; 1 when it was new, 0 when already there. */
static int add_new(uint64_t *seen, uint64_t mask, uint64_t h) {
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        if (seen[i] == h) return 0;
        if (!seen[i]) {
            seen[i] = h;
            return 1;
        }
    }
}

void listops_free(listops_data *d) {
    free(d->tokens), free(d->start), free(d->len), free(d->label);
    memset(d, 0, sizeof *d);
}

/* The SHA-256 of the splits' text form, into d->sha256; 0 or -1 (out of memory). */
static int hash_splits(listops_data *d, int max_len) {
    const size_t cap = (size_t)max_len * 5 + 16;
    char *line = malloc(cap);
    if (!line) return -1;
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < d->n; i++) {
        int w = listops_format(d->tokens + d->start[i], d->len[i], line, cap - 4);
        w += snprintf(line + w, 4, "\t%d\n", d->label[i]);
        sha256_update(&c, line, (size_t)w);
    }
    sha256_final_hex(&c, d->sha256);
    free(line);
    return 0;
}

listops_params listops_params_of(const task_params *p) {
    return (listops_params){.depth = p->listops.depth, .arity = p->listops.arity, .min_len = p->listops.min_len,
                            .max_len = p->seq_len, .n = {p->listops.n[0], p->listops.n[1], p->listops.n[2]},
                            .seed = p->listops.seed};
}

int listops_shortest(const listops_params *p) {
    return p->min_len ? p->min_len : p->max_len / 4 > 1 ? p->max_len / 4 : 1;
}

int listops_check(const listops_params *p, char *err, size_t errlen) {
    if (p->depth < 1 || p->depth > LISTOPS_MAX_DEPTH || p->arity < 2 || p->arity > LISTOPS_MAX_ARITY)
        return errf(err, errlen, "task.listops.depth must be in [1, %d] and task.listops.arity in [2, %d]",
                    LISTOPS_MAX_DEPTH, LISTOPS_MAX_ARITY);
    const int most = longest(p->depth, p->arity), shortest = listops_shortest(p);
    if (shortest > p->max_len || shortest > most)
        return errf(err, errlen, "task.listops.min_len %d is out of reach: expressions here have 1 to %d tokens "
                    "(task.seq_len %d; depth %d and arity %d allow %d): lower task.listops.min_len",
                    shortest, p->max_len < most ? p->max_len : most, p->max_len, p->depth, p->arity, most);
    if (p->n[0] < 1 || p->n[1] < 1 || p->n[2] < 1 || (long long)p->n[0] + p->n[1] + p->n[2] > INT_MAX / 4)
        return errf(err, errlen, "task.listops.train, .val and .test must be at least 1 and sum to at most %d (got %d, "
                    "%d, %d)", INT_MAX / 4, p->n[0], p->n[1], p->n[2]);
    return 0;
}

int listops_generate(const listops_params *p, listops_data *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (listops_check(p, err, errlen)) return -1;
    const long long total = (long long)p->n[0] + p->n[1] + p->n[2];
    uint64_t mask = 1;
    while (mask < 2 * (uint64_t)total) mask <<= 1;
    uint64_t *seen = calloc(mask, sizeof *seen);
    gen g = {.p = p, .out = malloc((size_t)p->max_len)};
    const int shortest = listops_shortest(p);
    size_t cap = (size_t)total * (size_t)(shortest + 16), used = 0;
    d->n = (int)total;
    d->tokens = malloc(cap), d->start = malloc((size_t)total * sizeof *d->start);
    d->len = malloc((size_t)total * sizeof *d->len), d->label = malloc((size_t)total);
    int rc = !seen || !g.out || !d->tokens || !d->start || !d->len || !d->label;
    mask--;
    rng_seed(&g.r, p->seed, rng_stream_id("listops"));
    /* test first, then validation, then train: example index ranges [first[k], first[k] + n[k]) */
    const int first[3] = {0, p->n[0], p->n[0] + p->n[1]}, order[3] = {2, 1, 0};
    const long long budget = 1000000 + 2000 * total; /* draws before giving up on a too rare length range */
    long long draws = 0, found = 0;
    for (int s = 0; s < 3 && !rc; s++) {
        const int k = order[s];
        for (int i = 0; i < p->n[k] && !rc; draws++) {
            if (draws == budget) {
                errf(err, errlen, "task.listops: only %lld of %lld distinct expressions of %d to %d tokens found in "
                     "%lld draws: widen the range (task.listops.min_len, task.seq_len) or ask for fewer examples",
                     found, total, shortest, p->max_len, draws);
                rc = 2;
                break;
            }
            g.n = 0;
            if (draw_tree(&g, 1) || g.n < shortest || !add_new(seen, mask, fingerprint(g.out, g.n))) continue;
            if (used + (size_t)g.n > cap) {
                size_t ncap = 2 * cap + (size_t)g.n;
                uint8_t *t = realloc(d->tokens, ncap);
                if (!t) {
                    rc = 1;
                    break;
                }
                d->tokens = t, cap = ncap;
            }
            const int e = first[k] + i++;
            memcpy(d->tokens + used, g.out, (size_t)g.n);
            d->start[e] = used, d->len[e] = g.n, d->label[e] = (uint8_t)listops_value(g.out, g.n);
            used += (size_t)g.n, found++;
        }
    }
    free(seen), free(g.out);
    if (rc == 0 && hash_splits(d, p->max_len)) rc = 1;
    if (rc) {
        listops_free(d);
        return rc == 1 ? errf(err, errlen, "listops: out of memory") : -1;
    }
    return 0;
}
