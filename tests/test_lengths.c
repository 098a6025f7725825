/* Length extrapolation (eval.lengths): the test split in windows of another length scores what a
 * hand-made cut of the same text scores; the learned absolute table is not applicable past its
 * length; evaluating at 16x the training length keeps memory of the training run's order; tasks
 * with one length ignore the key, saying so. Runs the binary on a generated text file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cmd_fixture.h"
#include "gradcheck.h"
#include "spec.h"
#include "test.h"
#include "workload.h"

/* Writes n bytes of a deterministic, learnable text (words from a small vocabulary) to path. */
static void write_corpus(const char *path, size_t n) {
    static const char *const words[] = {"the", "light", "and", "darkness", "was", "upon", "face", "of", "deep",
                                        "waters", "said", "let", "there", "be", "day", "night"};
    FILE *f = fopen(path, "w");
    unsigned long long x = 88172645463325252ull;
    for (size_t written = 0; f && written < n;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        written += (size_t)fprintf(f, "%s%s", words[x % 16], x % 7 ? " " : ".\n");
    }
    if (f) fclose(f);
}

#define SPEC(model, extra)                                                                                   \
    "name: ext\ntask: {kind: lm, dataset: file, path: corpus.txt, seq_len: 32}\n"                          \
    "model: {layers: 2, d_model: 32, heads: 2, " model "}\n"                                                 \
    "train: {steps: 40, batch: 8, lr: 3.0e-3, warmup: 5, eval_every: 20, eval_batches: 2, test_batches: 4,"  \
    " checkpoint_every: 40}\n" extra

/* A relative encoding trained at T = 32, evaluated at 64: test/loss@64 equals the mean loss over
 * every predicted byte of the test split cut by hand into consecutive 64-byte windows, scored one
 * window at a time by the trained weights (loaded from the run's checkpoint). */
TEST(lengths_windows_at_2t_match_a_hand_cut) {
    harness_fx f;
    if (fx_open(&f)) return;
    char path[700], out[8192], run_id[80] = "", err[512];
    write_corpus(fx_path(&f, "corpus.txt", path, sizeof path), 40000);
    const char *text = SPEC("attention: linear, encoding: rope", "eval: {lengths: [64]}\n");
    fx_write(&f, "s.yaml", text);
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0, "run: exit %d:\n%s", rc, out);
    double want = fx_only_summary(&f, NULL, "test/loss@64", run_id, sizeof run_id);
    CHECK(isfinite(want), "no test/loss@64 recorded");
    /* the trained weights, from the checkpoint of the last step */
    spec s;
    char cwd[600];
    const char *spec_path = fx_path(&f, "s.yaml", path, sizeof path);
    if (!getcwd(cwd, sizeof cwd) || chdir(f.dir) || spec_load(&s, spec_path, NULL, 0, err, sizeof err)) {
        CHECK(0, "spec: %s", err);
        fx_close(&f);
        return;
    }
    workload w;
    char dir[800];
    unsigned char cursor[256];
    ckpt_state st = {.cursor = cursor, .cursor_cap = sizeof cursor};
    snprintf(dir, sizeof dir, "%s/results/results-runs/%s", f.dir, run_id);
    out[0] = err[0] = 0;
    if (workload_open(&w, s.runs[0].cfg, s.runs[0].seed, "data", 0, err, sizeof err) ||
        ckpt_load_latest(dir, model_param_table(w.model), model_params(w.model), w.tr.adam_m, w.tr.adam_v, &st, run_id,
                         s.runs[0].config_id, out, sizeof out, err, sizeof err) != CKPT_LOADED) {
        CHECK(0, "workload or checkpoint: %s %s", err, out);
    } else {
        /* a model for one window of 64, the same weights */
        model_config mc = workload_model_config(&w, s.runs[0].cfg, s.runs[0].seed);
        mc.max_batch = 1, mc.max_seq = 64;
        model *m = NULL;
        CHECK(model_create(&m, &mc, err, sizeof err) == 0, "model: %s", err);
        size_t n = 0;
        char *corpus = test_slurp(fx_path(&f, "corpus.txt", path, sizeof path), &n);
        if (m && corpus) {
            memcpy(model_params(m), model_params(w.model), model_param_table(m)->total * sizeof(float));
            const size_t lo = n / 100 * 95 + n % 100 * 95 / 100, hi = n; /* the test split: the last 5 % */
            double sum = 0;
            long count = 0;
            for (size_t at = lo; at + 1 < hi; at += 64) {
                int32_t tok[64], tgt[64], k = 0;
                for (int j = 0; j < 64; j++) {
                    tok[j] = at + j < hi ? (unsigned char)corpus[at + j] : 0;
                    tgt[j] = at + j + 1 < hi ? (unsigned char)corpus[at + j + 1] : -1;
                    k += tgt[j] >= 0;
                }
                model_batch b = {.B = 1, .T = 64, .tokens = tok, .targets = tgt};
                sum += test_forward(m, &b) * k, count += k;
            }
            CHECK(count == (long)(hi - lo - 1), "every predicted byte counted: %ld of %zu", count, hi - lo - 1);
            CHECK_CLOSE(want, sum / count, 1e-5, 0, "test/loss@64 vs the hand-cut windows");
        }
        free(corpus);
        model_destroy(m);
    }
    workload_close(&w);
    spec_free(&s);
    if (chdir(cwd)) CHECK(0, "chdir back");
    fx_close(&f);
}

/* The learned absolute table ends at the training length: longer evaluations are not applicable
 * (NaN in the summary, the reason as provenance eval@L), shorter ones are evaluated. */
TEST(lengths_learned_table_is_not_applicable_past_its_length) {
    harness_fx f;
    if (fx_open(&f)) return;
    char path[700], out[8192], run_id[80];
    write_corpus(fx_path(&f, "corpus.txt", path, sizeof path), 40000);
    fx_write(&f, "s.yaml", SPEC("attention: softmax, absolute: learned", "eval: {lengths: [16, 64]}\n"));
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0, "run: exit %d:\n%s", rc, out);
    CHECK(isfinite(fx_only_summary(&f, NULL, "test/bpc@16", run_id, sizeof run_id)), "test/bpc@16 not evaluated");
    CHECK(isnan(fx_only_summary(&f, NULL, "test/bpc@64", NULL, 0)), "test/bpc@64 should be n/a");
    db *d = fx_db(&f, NULL);
    db_text *prov = NULL;
    int k = 0, found = 0;
    char err[512];
    if (d && !db_provenance_get(d, run_id, &prov, &k, err, sizeof err))
        for (int i = 0; i < k; i++)
            found |= strcmp(prov[i].key, "eval@64") == 0 && strstr(prov[i].value, "n/a: the learned absolute table ends");
    CHECK(found, "no n/a reason for eval@64");
    free(prov);
    db_close(d);
    fx_close(&f);
}

/* Evaluating at 16x the training length (T = 128, windows of 2048) keeps peak memory of the
 * training run's order: batches of fewer, longer windows, softmax in query tiles. A model sized
 * batch x 2048 would add about 300 MB here. */
TEST(lengths_memory_at_16x_stays_bounded) {
    harness_fx f;
    if (fx_open(&f)) return;
    char path[700], out[8192];
    write_corpus(fx_path(&f, "corpus.txt", path, sizeof path), 300000);
    const char *head = "name: mem\ntask: {kind: lm, dataset: file, path: corpus.txt, seq_len: 128}\n"
                       "model: {layers: 2, d_model: 64, heads: 4, attention: softmax, encoding: rope}\n"
                       "train: {steps: 4, batch: 16, warmup: 1, eval_every: 0, eval_batches: 1, test_batches: 2,"
                       " checkpoint_every: 0}\n";
    char text[1024];
    snprintf(text, sizeof text, "%s", head);
    fx_write(&f, "base.yaml", text);
    snprintf(text, sizeof text, "%seval: {lengths: [2048]}\n", head);
    fx_write(&f, "long.yaml", text);
    int rc = fx_lrpe(&f, "run base.yaml --db base.db", out, sizeof out);
    rc |= fx_lrpe(&f, "run long.yaml", out, sizeof out);
    CHECK(rc == 0, "runs: %s", out);
    double base = fx_only_summary(&f, "base.db", "perf/peak_rss_mb", NULL, 0);
    double rss = fx_only_summary(&f, NULL, "perf/peak_rss_mb", NULL, 0);
    CHECK(isfinite(fx_only_summary(&f, NULL, "test/bpc@2048", NULL, 0)), "test/bpc@2048 not evaluated");
    CHECK(isfinite(base) && isfinite(rss) && rss < base * 1.3 + 40, "peak RSS %.0f MB at 16x vs %.0f MB", rss, base);
    printf("    peak RSS: %.0f MB without, %.0f MB with the evaluation at 2048\n", base, rss);
    fx_close(&f);
}

/* A task with one length (here the synthetic copy task) ignores eval.lengths, saying so. */
TEST(lengths_ignored_where_the_task_has_one_length) {
    harness_fx f;
    if (fx_open(&f)) return;
    fx_write(&f, "s.yaml", "task: {kind: synthetic, dataset: copy, seq_len: 16, vocab: 8}\n"
                           "model: {layers: 1, d_model: 16, heads: 2}\ntrain: {steps: 5, batch: 4, warmup: 1}\n"
                           "eval: {lengths: [32]}\n");
    char out[8192];
    int rc = fx_lrpe(&f, "run s.yaml", out, sizeof out);
    CHECK(rc == 0 && strstr(out, "eval.lengths is ignored: task kind synthetic evaluates at its own length only"),
          "exit %d:\n%s", rc, out);
    fx_close(&f);
}
