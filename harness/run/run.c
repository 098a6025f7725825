#include "run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "checkpoint.h"
#include "dist.h"
#include "err.h"
#include "lengths.h"
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
    double *sums;          /* evaluation counts summed over the ranks: loss, count, correct, confusion */
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
    const int B = (int)cfg_int(s->c, "train.batch"), ranks = dist_size(); /* ranks <= B: cmd_run checked */
    if (workload_open(&s->w, s->c, s->r->seed, s->env->data_dir, (B + ranks - 1) / ranks, err, errlen)) return -1;
    s->confusion = calloc(3 * (size_t)s->w.task->info.n_out, sizeof *s->confusion);
    s->sums = calloc(3 + 3 * (size_t)s->w.task->info.n_out, sizeof *s->sums);
    s->cursor_len = s->w.task->vt->cursor_size(s->w.task);
    s->cursor = calloc(s->cursor_len ? s->cursor_len : 1, 1);
    if (!s->confusion || !s->cursor || !s->sums) {
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
    free(s->confusion), free(s->cursor), free(s->sums);
}

typedef struct eval_result {
    double loss, acc, macro_f1;
    long count;
} eval_result;

/* The rows [*lo, *hi) of a batch of B rows that this rank computes (all of them with one rank). */
static void my_rows(int B, int *lo, int *hi) {
    const long r = dist_rank(), n = dist_size();
    *lo = (int)(B * r / n), *hi = (int)(B * (r + 1) / n);
}

/* What rank 0 tells the other ranks of a data-parallel run before each piece of collective work:
 * the followers do only what they are told, so the ranks always meet in the same collectives. */
typedef enum { CMD_RUN = 1, CMD_SYNC, CMD_STEP, CMD_EVAL, CMD_CHECK, CMD_END_RUN, CMD_QUIT } cmd_op;
typedef struct dist_cmd {
    int op, split, batches; /* CMD_EVAL: the split and its number of batches */
    float lr, clip;         /* CMD_STEP */
    char run_id[CFG_ID_LEN + 1]; /* CMD_RUN */
} dist_cmd;

/* Rank 0: tells the followers what comes next (nothing to do with one rank). 0, or -2 when the
 * ranks lost each other. */
static int tell(dist_cmd c) {
    return dist_size() > 1 && dist_bcast(&c, sizeof c) ? -2 : 0;
}

void run_followers_quit(void) {
    tell((dist_cmd){.op = CMD_QUIT});
}

/* Mean loss, accuracy (argmax == target over non-ignored targets) and, for classification,
 * macro-F1 over the first n batches of split, into *out; each rank computes its rows of every
 * batch and the counts are summed over the ranks. 0, -1 with err when a batch does not fit the
 * model, or -2 when the ranks lost each other (dist_why). */
static int evaluate(run_state *s, task_split split, int n, eval_result *out, char *err, size_t errlen) {
    const task_info *ti = &s->w.task->info;
    const int K = ti->n_out, per = ti->output == TASK_CLS ? 1 : s->w.batch.T;
    int lo, hi;
    my_rows(s->w.batch.B, &lo, &hi);
    const int rows = (hi - lo) * per;
    double loss_sum = 0.0;
    long count = 0, correct = 0;
    memset(s->confusion, 0, 3 * (size_t)K * sizeof *s->confusion);
    for (int i = 0; i < n; i++) {
        workload_eval_batch(&s->w, split, i);
        model_batch mb = workload_model_rows(&s->w, lo, hi);
        const int32_t *targets = s->w.targets + (size_t)lo * per;
        int k = xent_count(targets, rows);
        double loss;
        if (model_forward(s->w.model, &mb, &loss, err, errlen)) return -1;
        if (!k) continue;
        loss_sum += loss * k;
        count += k;
        const float *logits = model_logits(s->w.model);
        for (int r = 0; r < rows; r++) {
            int y = targets[r];
            if (y < 0) continue;
            const float *z = logits + (size_t)r * K;
            int best = 0;
            for (int c = 1; c < K; c++) best = z[c] > z[best] ? c : best;
            correct += best == y;
            if (best == y) s->confusion[3 * y]++;
            else s->confusion[3 * best + 1]++, s->confusion[3 * y + 2]++;
        }
    }
    if (dist_size() > 1) { /* the counts of every rank (exact in doubles), the loss in another order */
        double *v = s->sums;
        v[0] = loss_sum, v[1] = (double)count, v[2] = (double)correct;
        for (int c = 0; c < 3 * K; c++) v[3 + c] = s->confusion[c];
        if (dist_sum_double(v, 3 + 3 * (size_t)K)) return -2;
        loss_sum = v[0], count = (long)v[1], correct = (long)v[2];
        for (int c = 0; c < 3 * K; c++) s->confusion[c] = (int)v[3 + c];
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

/* One training step on the batch just drawn. With several ranks each computes the gradient of its
 * rows, weighted by its share of the batch's targets, and one allreduce over the gradient arena
 * sums them (the gradient of the whole batch's mean loss); the loss is summed alike, and every rank
 * clips and updates identically. 0, -1 with err (the batch does not fit), -2 when the ranks lost
 * each other (dist_why). */
static int step_all(run_state *s, float lr, float clip, double *loss, double *gnorm, char *err, size_t errlen) {
    trainer *tr = &s->w.tr;
    if (dist_size() == 1) {
        model_batch mb = workload_model_batch(&s->w);
        return trainer_step(tr, &mb, lr, clip, loss, gnorm, err, errlen);
    }
    int lo, hi;
    my_rows(s->w.batch.B, &lo, &hi);
    const model_batch all = workload_model_batch(&s->w), mb = model_batch_rows(s->w.model, &all, lo, hi);
    const double k = model_target_count(s->w.model, &mb), K = model_target_count(s->w.model, &all);
    double mine;
    if (trainer_grads(tr, &mb, &mine, err, errlen)) return -1;
    const backend *be = model_backend(s->w.model);
    const size_t n = model_param_table(s->w.model)->total;
    float *dev = model_device_grads(s->w.model);
    if (K > 0 && k != K) be->scale(be, dev, n, (float)(k / K));
    float *host = be->host_memory ? dev : model_grads(s->w.model);
    double sum = mine * k;
    if (dist_sum_float(host, n) || dist_sum_double(&sum, 1)) return -2;
    if (!be->host_memory) be->upload(be, dev, host, n * sizeof *host);
    *loss = K > 0 ? sum / K : 0.0;
    trainer_apply(tr, lr, clip, gnorm);
    return 0;
}

/* Every rank takes rank 0's parameters, AdamW moments, step and data cursor (rank 0 after it
 * resumed), so all ranks continue from one state. 0, or -2 when the ranks lost each other. */
static int sync_ranks(run_state *s) {
    trainer *tr = &s->w.tr;
    const size_t bytes = model_param_table(s->w.model)->total * sizeof(float);
    if (dist_rank() == 0) {
        trainer_download(tr);
        s->w.task->vt->cursor_save(s->w.task, s->cursor);
    }
    long step = tr->step;
    if (dist_bcast(model_params(s->w.model), bytes) || dist_bcast(tr->adam_m, bytes) || dist_bcast(tr->adam_v, bytes) ||
        dist_bcast(&step, sizeof step) || dist_bcast(s->cursor, s->cursor_len))
        return -2;
    if (dist_rank() != 0) {
        trainer_upload(tr);
        tr->step = step;
        s->w.task->vt->cursor_load(s->w.task, s->cursor, s->cursor_len);
    }
    return 0;
}

/* *same = 1 when every rank holds bitwise the same parameters (a 64-bit FNV-1a hash of them
 * compared over the ranks). 0, or -2 when the ranks lost each other. */
static int check_ranks(run_state *s, int *same) {
    const unsigned char *p = (const unsigned char *)model_params(s->w.model);
    uint64_t h = 1469598103934665603ull, lo, hi;
    for (size_t i = 0, n = model_param_table(s->w.model)->total * sizeof(float); i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    if (dist_range_u64(h, &lo, &hi)) return -2;
    *same = lo == hi;
    return 0;
}

/* Rank 0: evaluate over every rank. */
static int eval_all(run_state *s, task_split split, int n, eval_result *out, char *err, size_t errlen) {
    if (tell((dist_cmd){.op = CMD_EVAL, .split = (int)split, .batches = n})) return -2;
    return evaluate(s, split, n, out, err, errlen);
}

/* The metrics of an evaluation under prefix "val" or "test": as metric rows of step (a curve, every
 * point on the same validation sample), or, when sum is not NULL, into the summary only (the final
 * numbers on the whole splits, which the curves never mix with). */
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
        if (sum) sum[(*nsum)++] = (db_value){k[i], v[i]};
        else if (log_metric(s, step, k[i], v[i], err, errlen)) return -1;
    }
    return 0;
}

/* LRPE_FAULT=<kill|stop>-<where>:STEP (a testing aid): at the point `where` of STEP this process kills
 * itself (SIGKILL, as kill -9 would) or stops (SIGSTOP, until SIGCONT), so tests can fail a run at
 * an exact point. where: after-checkpoint (rank 0, once the checkpoint of STEP is saved),
 * follower-after-step (a rank other than 0 of an MPI run, once step STEP is computed). */
static void fault_point(const char *where, long step) {
    const char *f = getenv("LRPE_FAULT");
    long at;
    char what[32], at_where[64];
    if (!f || sscanf(f, "%31[a-z]-%63[a-z-]:%ld", what, at_where, &at) != 3 || at != step || strcmp(at_where, where))
        return;
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
    if (s->env->publish && db_publish(s->env->db, s->env->publish, err, errlen)) return -1;
    fault_point("after-checkpoint", st.step);
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

/* Rank 0, when the ranks lost each other (a rank died, or the job is being stopped): records the
 * run as interrupted, to resume from its last checkpoint, and stops the sweep (no collective can
 * follow). Returns the outcome, the reason in err. */
static run_result ranks_lost(run_state *s, char *err, size_t errlen) {
    char why[800];
    snprintf(why, sizeof why, "training over %d MPI ranks stopped: %s; `lrpe run` again resumes it from its last checkpoint",
             dist_size(), dist_why());
    *s->env->stop = 1;
    run_result r = finish(s, RUN_INTERRUPTED, why, err, errlen);
    if (r == RUN_INTERRUPTED) snprintf(err, errlen, "%s", why);
    return r;
}

/* The evaluation at eval.lengths, a heartbeat after each length (test/loss@L, test/bpc@L,
 * test/ppl@L into sum[*nsum]; an evaluation that does not apply is NaN there, and its reason is
 * recorded as provenance eval@L = "n/a: ..."). RUN_COMPLETED (0), RUN_LOST, or RUN_ERROR when the
 * database refuses. */
static run_result record_lengths(run_state *s, length_eval *lens, db_value *sum, int *nsum, char *err, size_t errlen) {
    long long L[SCHEMA_MAX_INTS];
    const int n = cfg_ints(s->c, "eval.lengths", L, SCHEMA_MAX_INTS);
    const double bytes = s->w.task->info.bytes_per_token;
    for (int i = 0; i < n; i++) {
        length_evaluate(&s->w, s->c, s->r->seed, L[i], &lens[i]);
        int hb = db_run_heartbeat(s->env->db, s->r->run_id, s->w.tr.step, err, errlen); /* an evaluation can be long */
        if (hb) return hb == DB_ELOST ? RUN_LOST : RUN_ERROR;
        const double l = lens[i].loss;
        sum[(*nsum)++] = (db_value){lens[i].keys[0], l};
        sum[(*nsum)++] = (db_value){lens[i].keys[1], bytes > 0 ? l / log(2.0) / bytes : NAN};
        sum[(*nsum)++] = (db_value){lens[i].keys[2], exp(l)};
        if (!lens[i].why[0]) continue;
        char key[40], text[240];
        snprintf(key, sizeof key, "eval@%lld", lens[i].len);
        snprintf(text, sizeof text, "n/a: %s", lens[i].why);
        db_text row = {key, text};
        if (db_provenance_set(s->env->db, s->r->run_id, &row, 1, err, errlen)) return RUN_ERROR;
    }
    return RUN_COMPLETED;
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
        float lr = lr_at(&sched, step);
        if (tell((dist_cmd){.op = CMD_STEP, .lr = lr, .clip = clip})) return ranks_lost(s, err, errlen);
        workload_train_batch(&s->w);
        double gnorm, t0 = now_ms() / 1e3;
        int rc = step_all(s, lr, clip, &loss, &gnorm, e2, sizeof e2);
        if (rc == -2) return ranks_lost(s, err, errlen);
        if (rc) return fail_run(s, e2, err, errlen);
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
            if ((rc = eval_all(s, SPLIT_VAL, val_batches, &e, e2, sizeof e2)) == -2) return ranks_lost(s, err, errlen);
            if (rc) return fail_run(s, e2, err, errlen);
            double tps = train_s > 0 ? (step - s->first_step) * (double)s->w.batch.B * s->w.batch.T / train_s : 0.0;
            if (log_eval(s, step, "val", &e, NULL, NULL, err, errlen) ||
                log_metric(s, step, "perf/tokens_per_s", tps, err, errlen))
                return RUN_ERROR;
        }
        if ((ckpt_every > 0 && step % ckpt_every == 0) || step == steps) {
            int same = 1;
            if (dist_size() > 1 && (tell((dist_cmd){.op = CMD_CHECK}) || check_ranks(s, &same))) return ranks_lost(s, err, errlen);
            if (!same) {
                snprintf(e2, sizeof e2, "the %d MPI ranks hold different parameters after step %ld: the MPI library's "
                         "allreduce did not give every rank the same sums", dist_size(), step);
                return fail_run(s, e2, err, errlen);
            }
            if (save_checkpoint(s, err, errlen)) return RUN_ERROR;
        }
        if (now_ms() / 1e3 - s->last_beat > DB_HEARTBEAT_S / 2) {
            int hb = flush_metrics(s, err, errlen);
            if (!hb) hb = db_run_heartbeat(s->env->db, s->r->run_id, step, err, errlen);
            if (hb == DB_ELOST) return RUN_LOST;
            if (hb) return RUN_ERROR;
            s->last_beat = now_ms() / 1e3;
        }
        progress(s, step, steps, loss, step == steps);
    }
    /* final evaluation on the whole val and test splits (or their first test_batches), and the summary */
    db_value sum[16 + 3 * SCHEMA_MAX_INTS];
    int nsum = 0;
    eval_result val, test;
    int rc = eval_all(s, SPLIT_VAL, cap > 0 && cap < val_all ? (int)cap : val_all, &val, e2, sizeof e2);
    if (!rc) rc = eval_all(s, SPLIT_TEST, cap > 0 && cap < test_all ? (int)cap : test_all, &test, e2, sizeof e2);
    if (rc == -2) return ranks_lost(s, err, errlen);
    if (rc) return fail_run(s, e2, err, errlen);
    if (log_eval(s, steps, "val", &val, sum, &nsum, err, errlen) || log_eval(s, steps, "test", &test, sum, &nsum, err, errlen))
        return RUN_ERROR;
    long trained = steps - s->first_step;
    if (trained > 0 && train_s > 0) {
        sum[nsum++] = (db_value){"perf/tokens_per_s", trained * (double)s->w.batch.B * s->w.batch.T / train_s};
        sum[nsum++] = (db_value){"perf/step_ms", train_s / trained * 1e3};
    }
    length_eval lens[SCHEMA_MAX_INTS];
    if (s->w.task->vt->eval_windows && (rc = record_lengths(s, lens, sum, &nsum, err, errlen))) return rc;
    sum[nsum++] = (db_value){"perf/peak_rss_mb", peak_rss_mb()};
    sum[nsum++] = (db_value){"params", (double)model_param_table(s->w.model)->total};
    if (db_summary_set(s->env->db, s->r->run_id, sum, nsum, err, errlen)) return RUN_ERROR;
    return finish(s, RUN_COMPLETED, NULL, err, errlen);
}

/* Records the world size and the MPI library ("none" without MPI) with the run. */
static int record_world(run_state *s, char *err, size_t errlen) {
    char n[16];
    snprintf(n, sizeof n, "%d", dist_size());
    db_text rows[2] = {{"world_size", n}, {"mpi_library", dist_library()}};
    return db_provenance_set(s->env->db, s->r->run_id, rows, 2, err, errlen);
}

/* Builds the run on every rank; 0 when all could, else -1 with the reason in err (this rank's, or
 * how many others failed), or -2 when the ranks lost each other. */
static int setup_all(run_state *s, char *err, size_t errlen) {
    int bad = s->r ? setup(s, err, errlen) != 0 : (snprintf(err, errlen, "no run of the spec has the id rank 0 sent: "
                                                                          "start every rank with the same spec and overrides"), 1);
    if (bad && dist_rank() > 0) fprintf(stderr, "lrpe run: rank %d: %s\n", dist_rank(), err);
    double failed = bad;
    if (dist_sum_double(&failed, 1)) return -2;
    if (failed > bad) snprintf(err, errlen, "%.0f of the %d MPI ranks could not build the run (their messages are in their "
                                            "output)", failed - bad, dist_size());
    return failed > 0 ? -1 : 0;
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
    dist_cmd start = {.op = CMD_RUN};
    snprintf(start.run_id, sizeof start.run_id, "%s", r->run_id);
    int built = tell(start) ? -2 : setup_all(s, reason, sizeof reason);
    if (built == -2) {
        result = ranks_lost(s, err, errlen);
    } else if (built) {
        /* a run that cannot be built (missing data, bad combination) fails; the sweep goes on */
        result = fail_run(s, reason, err, errlen);
    } else if (provenance_record(env->db, r->run_id, env->threads, s->w.task, cfg_str(s->c, "model.device"), err,
                                 errlen) ||
               record_world(s, err, errlen) || choose_dir(s, err, errlen) || resume(s, err, errlen)) {
        result = RUN_ERROR;
    } else if (tell((dist_cmd){.op = CMD_SYNC}) || sync_ranks(s)) {
        result = ranks_lost(s, err, errlen);
    } else {
        if (cfg_str(s->c, "eval.lengths")[0] && !s->w.task->vt->eval_windows)
            fprintf(env->out, "%s %s seed %llu: eval.lengths is ignored: task kind %s evaluates at its own length only\n",
                    env->label, r->variant, r->seed, s->w.task->vt->kind);
        result = train_loop(s, err, errlen);
    }
    if (!built && !dist_why()[0]) tell((dist_cmd){.op = CMD_END_RUN});
    teardown(s);
    free(s);
    return result;
}

/* A follower's part of one run, after it was built: what rank 0 tells, until the run ends. 0, or
 * -1 when the ranks lost each other. */
static int follow_run(run_state *s) {
    char err[512];
    for (;;) {
        dist_cmd c;
        double loss, gnorm;
        eval_result e;
        int same, rc = dist_bcast(&c, sizeof c) ? -2 : 0;
        if (!rc && c.op == CMD_END_RUN) return 0;
        if (!rc && c.op == CMD_SYNC) rc = sync_ranks(s);
        if (!rc && c.op == CMD_STEP) {
            workload_train_batch(&s->w);
            rc = step_all(s, c.lr, c.clip, &loss, &gnorm, err, sizeof err);
            fault_point("follower-after-step", s->w.tr.step);
        }
        if (!rc && c.op == CMD_EVAL) rc = evaluate(s, (task_split)c.split, c.batches, &e, err, sizeof err);
        if (!rc && c.op == CMD_CHECK) rc = check_ranks(s, &same);
        if (rc == -2 || (!rc && (c.op < CMD_SYNC || c.op > CMD_END_RUN))) return -1;
        /* rc == -1 (a batch that does not fit) happened on rank 0 too: it fails the run and ends it */
    }
}

int run_follow(const run_env *env, const spec *sp) {
    for (;;) {
        dist_cmd c;
        if (dist_bcast(&c, sizeof c)) return -1;
        if (c.op == CMD_QUIT) return 0;
        if (c.op != CMD_RUN) return -1;
        run_state *s = calloc(1, sizeof *s);
        if (!s) return -1;
        s->env = env;
        for (int i = 0; i < sp->nruns && !s->r; i++)
            if (strcmp(sp->runs[i].run_id, c.run_id) == 0) s->r = &sp->runs[i];
        s->c = s->r ? s->r->cfg : NULL;
        char reason[512];
        int rc = setup_all(s, reason, sizeof reason);
        if (!rc) rc = follow_run(s);
        teardown(s);
        free(s);
        if (rc < -1 || (rc && dist_why()[0])) return -1;
    }
}
