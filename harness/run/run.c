#include "run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "checkpoint.h"
#include "err.h"
#include "ops.h"
#include "provenance.h"
#include "task.h"
#include "timing.h"
#include "train.h"
#include "version.h"
#include "workload.h"

#define METRIC_BUF 4096 /* metric rows buffered between flushes */

/* Everything one run holds while it trains. */
typedef struct run_state {
    const run_env *env;
    const spec_run *r;
    const cfg *c;
    workload w;            /* task, model, trainer, batch buffers */
    int *confusion;        /* classification: tp, fp, fn per class */
    void *cursor;          /* the task's data cursor, for checkpoints */
    size_t cursor_len;
    char runs_dir[4096];   /* the folder of run folders this run uses */
    char dir[4200];        /* its checkpoint folder: <runs_dir>/<run id> */
    db_metric rows[METRIC_BUF];
    int nrows;
    double last_beat, started, last_progress;
    long first_step;       /* where this process started (resume point) */
} run_state;

/* Writes the buffered metric rows; 0 or -1 with err. */
static int flush_metrics(run_state *s, char *err, size_t errlen) {
    if (!s->nrows) return 0;
    if (db_metrics_add(s->env->db, s->r->run_id, s->rows, s->nrows, err, errlen)) return -1;
    s->nrows = 0;
    return 0;
}

/* Buffers one metric row (key must be a string literal or outlive the flush). */
static int log_metric(run_state *s, long step, const char *key, double value, char *err, size_t errlen) {
    if (s->nrows == METRIC_BUF && flush_metrics(s, err, errlen)) return -1;
    s->rows[s->nrows++] = (db_metric){.step = step, .key = key, .value = value};
    return 0;
}

/* Opens the task and builds model and trainer from the run's config; 0 or -1 with err. */
static int setup(run_state *s, char *err, size_t errlen) {
    if (workload_open(&s->w, s->c, s->r->seed, s->env->data_dir, err, errlen)) return -1;
    s->confusion = calloc(3 * (size_t)s->w.task->info.n_out, sizeof *s->confusion);
    s->cursor_len = s->w.task->vt->cursor_size(s->w.task);
    s->cursor = calloc(s->cursor_len ? s->cursor_len : 1, 1);
    if (!s->confusion || !s->cursor) {
        snprintf(err, errlen, "out of memory for batch buffers");
        return -1;
    }
    return 0;
}

/* The run's checkpoint folder, <runs_dir>/<run id>: the current runs folder, unless an earlier start
 * of this run recorded another one (e.g. an earlier --runs-dir) that holds its checkpoints, which then
 * stays the run's (said on one line). Records the runs folder used as provenance runs_dir. */
static int choose_dir(run_state *s, char *err, size_t errlen) {
    const char *runs = s->env->runs_dir;
    db_text *prov;
    int n;
    if (db_provenance_get(s->env->db, s->r->run_id, &prov, &n, err, errlen)) return -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(prov[i].key, "runs_dir") || !prov[i].value || strcmp(prov[i].value, runs) == 0) continue;
        char old[sizeof s->dir], why[256];
        long step;
        snprintf(old, sizeof old, "%s/%s", prov[i].value, s->r->run_id);
        if (ckpt_list(old, &step, 1, why, sizeof why) > 0) {
            fprintf(s->env->out, "%s %s seed %llu: its checkpoints are in %s, where it started, not in %s: resuming there\n",
                    s->env->label, s->r->variant, s->r->seed, prov[i].value, runs);
            snprintf(s->runs_dir, sizeof s->runs_dir, "%s", prov[i].value);
        }
    }
    free(prov);
    if (!s->runs_dir[0]) snprintf(s->runs_dir, sizeof s->runs_dir, "%s", runs);
    snprintf(s->dir, sizeof s->dir, "%s/%s", s->runs_dir, s->r->run_id);
    db_text row = {"runs_dir", s->runs_dir};
    return db_provenance_set(s->env->db, s->r->run_id, &row, 1, err, errlen);
}

static void teardown(run_state *s) {
    workload_close(&s->w);
    free(s->confusion), free(s->cursor);
}

typedef struct eval_result {
    double loss, acc, macro_f1;
    long count;
} eval_result;

/* Mean loss, accuracy (argmax == target over non-ignored targets) and, for classification,
 * macro-F1 over the first n batches of split, into *out; 0, or -1 with err when a batch does not
 * fit the model. */
static int evaluate(run_state *s, task_split split, int n, eval_result *out, char *err, size_t errlen) {
    const task_info *ti = &s->w.task->info;
    const int K = ti->n_out, rows = ti->output == TASK_CLS ? s->w.batch.B : s->w.batch.B * s->w.batch.T;
    double loss_sum = 0.0;
    long count = 0, correct = 0;
    memset(s->confusion, 0, 3 * (size_t)K * sizeof *s->confusion);
    for (int i = 0; i < n; i++) {
        workload_eval_batch(&s->w, split, i);
        model_batch mb = workload_model_batch(&s->w);
        int k = xent_count(s->w.targets, rows);
        double loss;
        if (model_forward(s->w.model, &mb, &loss, err, errlen)) return -1;
        if (!k) continue;
        loss_sum += loss * k;
        count += k;
        const float *logits = model_logits(s->w.model);
        for (int r = 0; r < rows; r++) {
            int y = s->w.targets[r];
            if (y < 0) continue;
            const float *z = logits + (size_t)r * K;
            int best = 0;
            for (int c = 1; c < K; c++) best = z[c] > z[best] ? c : best;
            correct += best == y;
            if (best == y) s->confusion[3 * y]++;
            else s->confusion[3 * best + 1]++, s->confusion[3 * y + 2]++;
        }
    }
    eval_result e = {.loss = count ? loss_sum / count : NAN, .acc = count ? (double)correct / count : NAN, .count = count};
    double f1 = 0.0;
    int present = 0;
    for (int c = 0; c < K; c++) { /* classes that occur as targets or predictions */
        int tp = s->confusion[3 * c], fp = s->confusion[3 * c + 1], fn = s->confusion[3 * c + 2];
        if (!tp && !fp && !fn) continue;
        f1 += 2.0 * tp / (2.0 * tp + fp + fn);
        present++;
    }
    e.macro_f1 = present ? f1 / present : NAN;
    *out = e;
    return 0;
}

/* Logs the metrics of an evaluation under prefix "val" or "test" (and into the summary when sum
 * is not NULL). */
static int log_eval(run_state *s, long step, const char *split, const eval_result *e, db_value *sum, int *nsum,
                    char *err, size_t errlen) {
    static const char *const names[2][5] = {{"val/loss", "val/bpc", "val/ppl", "val/acc", "val/macro_f1"},
                                            {"test/loss", "test/bpc", "test/ppl", "test/acc", "test/macro_f1"}};
    const char *const *k = names[strcmp(split, "test") == 0];
    const task_info *ti = &s->w.task->info;
    double v[5] = {e->loss, NAN, NAN, e->acc, NAN};
    if (ti->output == TASK_LM) {
        v[2] = exp(e->loss);
        if (ti->bytes_per_token > 0) v[1] = e->loss / log(2.0) / ti->bytes_per_token;
    } else {
        v[4] = e->macro_f1;
    }
    for (int i = 0; i < 5; i++) {
        if (isnan(v[i]) && i) continue;
        if (log_metric(s, step, k[i], v[i], err, errlen)) return -1;
        if (sum) sum[(*nsum)++] = (db_value){k[i], v[i]};
    }
    return 0;
}

/* LRPE_FAULT=kill-after-checkpoint:STEP or stop-after-checkpoint:STEP (a testing aid): once the
 * checkpoint of STEP is saved, this process kills itself (SIGKILL, as kill -9 would) or stops
 * (SIGSTOP, until SIGCONT), so tests can fail a run at an exact point. */
static void fault_point(long step) {
    const char *f = getenv("LRPE_FAULT");
    long at;
    char what[32];
    if (!f || sscanf(f, "%31[a-z]-after-checkpoint:%ld", what, &at) != 2 || at != step) return;
    fflush(NULL);
    if (strcmp(what, "kill") == 0) raise(SIGKILL);
    if (strcmp(what, "stop") == 0) raise(SIGSTOP);
}

/* Saves a checkpoint of the current step after writing every buffered metric row, so the database
 * always holds the curves up to the checkpoint a later run resumes from; 0 or -1 with err. */
static int save_checkpoint(run_state *s, char *err, size_t errlen) {
    if (flush_metrics(s, err, errlen)) return -1;
    s->w.task->vt->cursor_save(s->w.task, s->cursor);
    ckpt_state st = {.step = s->w.tr.step, .rngs = NULL, .n_rng = 0, .cursor = s->cursor, .cursor_len = s->cursor_len,
                     .cursor_cap = s->cursor_len, .commit = lrpe_commit()};
    trainer_download(&s->w.tr);
    if (ckpt_save(s->dir, model_param_table(s->w.model), model_params(s->w.model), s->w.tr.adam_m, s->w.tr.adam_v, &st,
                  s->r->run_id, s->r->config_id, err, errlen))
        return -1;
    fault_point(st.step);
    return 0;
}

/* Restores the newest good checkpoint, if any; prints why older / corrupt ones were skipped. */
static int resume(run_state *s, char *err, size_t errlen) {
    ckpt_state st = {.cursor = s->cursor, .cursor_cap = s->cursor_len};
    char warnings[2048] = "";
    int rc = ckpt_load_latest(s->dir, model_param_table(s->w.model), model_params(s->w.model), s->w.tr.adam_m,
                              s->w.tr.adam_v, &st, s->r->run_id, s->r->config_id, warnings, sizeof warnings, err, errlen);
    if (warnings[0]) fprintf(s->env->out, "%s\n", warnings);
    if (rc == CKPT_ERROR) return -1;
    if (rc == CKPT_LOADED) {
        trainer_upload(&s->w.tr);
        if (st.cursor_len != s->cursor_len || s->w.task->vt->cursor_load(s->w.task, s->cursor, st.cursor_len)) {
            snprintf(err, errlen, "checkpoint in %s: the data cursor does not fit this task", s->dir);
            return -1;
        }
        s->w.tr.step = st.step;
        fprintf(s->env->out, "%s %s seed %llu: resuming from step %ld\n", s->env->label, s->r->variant, s->r->seed, st.step);
        if (strcmp(st.saved_commit, lrpe_commit()) != 0) { /* said on one line and recorded with the run */
            char from[CKPT_COMMIT_MAX + 16];
            snprintf(from, sizeof from, "%s at step %ld", st.saved_commit[0] ? st.saved_commit : "unknown", st.step);
            fprintf(s->env->out, "%s %s seed %llu: its checkpoint was written by lrpe %s, this is %s: the result may differ "
                    "from an uninterrupted run (lrpe run --force trains it again)\n", s->env->label, s->r->variant,
                    s->r->seed, st.saved_commit[0] ? st.saved_commit : "of unknown commit", lrpe_commit());
            db_text row = {"resumed_from_commit", from};
            if (db_provenance_set(s->env->db, s->r->run_id, &row, 1, err, errlen)) return -1;
        }
    }
    return 0;
}

/* "1h02m", "3m05s", "42s" */
static const char *fmt_eta(double s, char *buf, size_t len) {
    long t = s > 0 && s < 1e8 ? (long)s : 0;
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, len, "%lds", t);
    return buf;
}

/* The progress line: in place on a terminal, plain lines every ~5% otherwise. */
static void progress(run_state *s, long step, long steps, double loss, int final) {
    double t = now_ms() / 1e3, el = t - s->started;
    long done = step - s->first_step;
    int tty = s->env->tty;
    if (!final && t - s->last_progress < (tty ? 0.25 : 1e9) && (tty || step % (steps / 20 ? steps / 20 : 1)))
        return;
    s->last_progress = t;
    double tps = el > 0 ? done * (double)s->w.batch.B * s->w.batch.T / el : 0.0;
    char eta[32];
    fprintf(s->env->out, "%s%s %s seed %llu: step %ld/%ld loss %.4f %.0f tok/s ETA %s%s", tty ? "\r" : "", s->env->label,
            s->r->variant, s->r->seed, step, steps, loss, tps,
            fmt_eta(done ? el / done * (steps - step) : 0, eta, sizeof eta), tty ? "\033[K" : "\n");
    if (tty && final) fputc('\n', s->env->out);
    fflush(s->env->out);
}

/* peak resident memory of this process in MB */
static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Records the end of the run; returns result, or RUN_ERROR when the database refuses. */
static run_result finish(run_state *s, run_result result, const char *reason, char *err, size_t errlen) {
    if (flush_metrics(s, err, errlen)) return RUN_ERROR;
    db_status st = result == RUN_COMPLETED ? DB_COMPLETED : result == RUN_FAILED ? DB_FAILED : DB_INTERRUPTED;
    if (db_run_finish(s->env->db, s->r->run_id, st, reason, err, errlen)) return RUN_ERROR;
    return result;
}

/* Ends the run as failed with reason (recorded, and copied to err); RUN_FAILED, or RUN_ERROR when
 * the database refuses. */
static run_result fail_run(run_state *s, const char *reason, char *err, size_t errlen) {
    run_result r = finish(s, RUN_FAILED, reason, err, errlen);
    if (r == RUN_FAILED) snprintf(err, errlen, "%s", reason);
    return r;
}

/* The training loop proper, after setup and resume. */
static run_result train_loop(run_state *s, char *err, size_t errlen) {
    const cfg *c = s->c;
    const long steps = cfg_int(c, "train.steps"), eval_every = cfg_int(c, "train.eval_every");
    const long ckpt_every = cfg_int(c, "train.checkpoint_every");
    const task_vtable *tv = s->w.task->vt;
    const int val_all = tv->eval_count(s->w.task, SPLIT_VAL, s->w.batch.B);
    const int val_batches = val_all < cfg_int(c, "train.eval_batches") ? val_all : (int)cfg_int(c, "train.eval_batches");
    const int test_all = tv->eval_count(s->w.task, SPLIT_TEST, s->w.batch.B);
    const long cap = cfg_int(c, "train.test_batches"); /* 0: whole splits */
    const float clip = (float)cfg_float(c, "train.grad_clip");
    const lr_schedule sched = cfg_lr_schedule(c);
    char e2[512];
    s->started = s->last_beat = now_ms() / 1e3;
    s->first_step = s->w.tr.step;
    double loss = NAN, train_s = 0.0;
    while (s->w.tr.step < steps) {
        if (*s->env->stop) {
            char why[600] = "";
            if (save_checkpoint(s, e2, sizeof e2)) { /* said and recorded: it resumes from the one before */
                snprintf(why, sizeof why, "its last checkpoint could not be saved: %s", e2);
                fprintf(s->env->out, "\n%s\n", why);
            }
            return finish(s, RUN_INTERRUPTED, why[0] ? why : NULL, err, errlen);
        }
        long step = s->w.tr.step;
        workload_train_batch(&s->w);
        model_batch mb = workload_model_batch(&s->w);
        float lr = lr_at(&sched, step);
        double gnorm, t0 = now_ms() / 1e3;
        if (trainer_step(&s->w.tr, &mb, lr, clip, &loss, &gnorm, e2, sizeof e2)) return fail_run(s, e2, err, errlen);
        train_s += now_ms() / 1e3 - t0;
        if (!isfinite(loss) || !isfinite(gnorm)) {
            log_metric(s, step + 1, "train/loss", loss, e2, sizeof e2);
            snprintf(e2, sizeof e2, "loss became %s at step %ld (lr %.3g): lower train.lr or train.grad_clip, or raise train.warmup",
                     isnan(loss) || isnan(gnorm) ? "NaN" : "infinite", step + 1, lr);
            progress(s, step + 1, steps, loss, 1);
            return fail_run(s, e2, err, errlen);
        }
        step = s->w.tr.step;
        if (log_metric(s, step, "train/loss", loss, err, errlen) || log_metric(s, step, "train/lr", lr, err, errlen) ||
            log_metric(s, step, "train/grad_norm", gnorm, err, errlen))
            return RUN_ERROR;
        if (eval_every > 0 && (step % eval_every == 0 || step == steps)) {
            eval_result e;
            if (evaluate(s, SPLIT_VAL, val_batches, &e, e2, sizeof e2)) return fail_run(s, e2, err, errlen);
            double tps = train_s > 0 ? (step - s->first_step) * (double)s->w.batch.B * s->w.batch.T / train_s : 0.0;
            if (log_eval(s, step, "val", &e, NULL, NULL, err, errlen) ||
                log_metric(s, step, "perf/tokens_per_s", tps, err, errlen))
                return RUN_ERROR;
        }
        if ((ckpt_every > 0 && step % ckpt_every == 0) || step == steps) {
            if (save_checkpoint(s, err, errlen)) return RUN_ERROR;
        }
        if (now_ms() / 1e3 - s->last_beat > DB_HEARTBEAT_S / 2) {
            int rc = flush_metrics(s, err, errlen);
            if (!rc) rc = db_run_heartbeat(s->env->db, s->r->run_id, step, err, errlen);
            if (rc == DB_ELOST) return RUN_LOST;
            if (rc) return RUN_ERROR;
            s->last_beat = now_ms() / 1e3;
        }
        progress(s, step, steps, loss, step == steps);
    }
    /* final evaluation on the whole val and test splits (or their first test_batches), and the summary */
    db_value sum[16];
    int nsum = 0;
    eval_result val, test;
    if (evaluate(s, SPLIT_VAL, cap > 0 && cap < val_all ? (int)cap : val_all, &val, e2, sizeof e2) ||
        evaluate(s, SPLIT_TEST, cap > 0 && cap < test_all ? (int)cap : test_all, &test, e2, sizeof e2))
        return fail_run(s, e2, err, errlen);
    if (log_eval(s, steps, "val", &val, sum, &nsum, err, errlen) || log_eval(s, steps, "test", &test, sum, &nsum, err, errlen))
        return RUN_ERROR;
    long trained = steps - s->first_step;
    if (trained > 0 && train_s > 0) {
        sum[nsum++] = (db_value){"perf/tokens_per_s", trained * (double)s->w.batch.B * s->w.batch.T / train_s};
        sum[nsum++] = (db_value){"perf/step_ms", train_s / trained * 1e3};
    }
    sum[nsum++] = (db_value){"perf/peak_rss_mb", peak_rss_mb()};
    sum[nsum++] = (db_value){"params", (double)model_param_table(s->w.model)->total};
    if (db_summary_set(s->env->db, s->r->run_id, sum, nsum, err, errlen)) return RUN_ERROR;
    return finish(s, RUN_COMPLETED, NULL, err, errlen);
}

run_result run_train(const run_env *env, const spec_run *r, char *err, size_t errlen) {
    run_state *s = calloc(1, sizeof *s);
    if (!s) {
        errf(err, errlen, "out of memory");
        return RUN_ERROR;
    }
    s->env = env, s->r = r, s->c = r->cfg;
    run_result result;
    char reason[512];
    if (setup(s, reason, sizeof reason)) {
        /* a run that cannot be built (missing data, bad combination) fails; the sweep goes on */
        result = fail_run(s, reason, err, errlen);
    } else if (provenance_record(env->db, r->run_id, env->threads, s->w.task, cfg_str(s->c, "model.device"), err,
                                 errlen) ||
               choose_dir(s, err, errlen)) {
        result = RUN_ERROR;
    } else if (resume(s, err, errlen)) {
        result = RUN_ERROR;
    } else {
        result = train_loop(s, err, errlen);
    }
    teardown(s);
    free(s);
    return result;
}
