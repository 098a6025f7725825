/* `lrpe bench` and the FLOP count it reports against: the count by hand for three small models,
 * then the command on a tiny synthetic config: its TSV, the runs it records (perf/... summary), the
 * sequence-length sweep at constant tokens per step, and its usage errors. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "test.h"

/* FLOPs per training token of a 1-layer, d 16, 2-head, vocab 10 LM with the given attention. */
static double flops_of(const char *attention, const char *encoding, int T) {
    model_config c = model_config_default();
    c.vocab = c.n_out = 10, c.layers = 1, c.d_model = 16, c.heads = 2, c.ffn_mult = 4;
    c.attention = attention, c.encoding = encoding, c.max_seq = T, c.max_batch = 1, c.causal = 1;
    model *m;
    char err[256];
    if (model_create(&m, &c, err, sizeof err)) {
        test_fail(__FILE__, __LINE__, "model_create: %s", err);
        return NAN;
    }
    double f = model_train_flops_per_token(m, T);
    model_destroy(m);
    return f;
}

TEST(bench_flop_count_by_hand) {
    /* projections 2*16^2*(4+8) = 6144, LM head 2*16*10 = 320; training = 3 x forward */
    double lin = flops_of("linear", "none", 8);       /* + state form 4 * Dqk(16) * hd(8) = 512 */
    double soft = flops_of("softmax", "none", 5);     /* + 2 * (16 + 16) * (5+1)/2 = 192 */
    double unitary = flops_of("linear", "lrpe-unitary", 8); /* Dqk doubles: 4 * 32 * 8 = 1024 */
    CHECK(lin == 3 * (6144 + 512 + 320), "linear: %.0f, want %d", lin, 3 * (6144 + 512 + 320));
    CHECK(soft == 3 * (6144 + 192 + 320), "softmax: %.0f, want %d", soft, 3 * (6144 + 192 + 320));
    CHECK(unitary == 3 * (6144 + 1024 + 320), "lrpe-unitary: %.0f, want %d", unitary, 3 * (6144 + 1024 + 320));
}

/* The value of column `name` in data row `row` (0 = the first) of the TSV in out, into buf ("" when
 * absent); progress lines ("bench: ...", on stderr) may be interleaved and are skipped. */
static const char *tsv_field(const char *out, int row, const char *name, char *buf, size_t len) {
    buf[0] = 0;
    const char *line = strstr(out, "variant\tattention\t");
    if (!line) return buf;
    int col = -1, k = 0;
    for (const char *p = line; *p && *p != '\n'; k++) { /* the header: which column is name */
        size_t w = strcspn(p, "\t\n");
        if (w == strlen(name) && !strncmp(p, name, w)) col = k;
        p += w + (p[w] == '\t');
    }
    for (int r = -1; line && r < row;) { /* the data line number `row` */
        line = strchr(line, '\n');
        if (line && *++line && strncmp(line, "bench:", 6)) r++;
    }
    for (int c = 0; line && col >= 0 && c < col; c++) { /* its field number col */
        line = strpbrk(line, "\t\n");
        line = line && *line == '\t' ? line + 1 : NULL;
    }
    if (line && col >= 0) snprintf(buf, len, "%.*s", (int)strcspn(line, "\t\n"), line);
    return buf;
}

/* One number from a query on the database at path (NAN on failure). */
static double db_number(const char *path, const char *sql) {
    sqlite3 *h;
    sqlite3_stmt *st;
    double v = NAN;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

#define TINY "task.kind=synthetic task.dataset=copy task.vocab=8 model.d_model=16 model.layers=1 model.heads=2"

TEST(bench_command_measures_and_records) {
    char db[] = "/tmp/lrpe_test_bench_XXXXXX", cmd[1024], out[8192], v[64];
    int fd = mkstemp(db);
    if (fd >= 0) close(fd), unlink(db);
    snprintf(cmd, sizeof cmd, "%s bench " TINY " task.seq_len=32 train.batch=4 --steps 3 --warmup 1 --tsv --db %s",
             test_lrpe_bin(), db);
    int rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    CHECK(atof(tsv_field(out, 0, "tokens_per_s", v, sizeof v)) > 0, "tokens_per_s '%s' in\n%s", v, out);
    CHECK(atoi(tsv_field(out, 0, "seq_len", v, sizeof v)) == 32 && atoi(tsv_field(out, 0, "batch", v, sizeof v)) == 4,
          "seq_len/batch in\n%s", out);
    double gf = atof(tsv_field(out, 0, "gflops", v, sizeof v)), peak = atof(tsv_field(out, 0, "peak_gflops", v, sizeof v));
    CHECK(gf > 0 && peak > 0 && fabs(atof(tsv_field(out, 0, "peak_pct", v, sizeof v)) - 100 * gf / peak) < 0.1,
          "gflops %g peak %g pct '%s'", gf, peak, v);
    CHECK(atof(tsv_field(out, 0, "peak_rss_mb", v, sizeof v)) > 1, "peak_rss_mb '%s'", v);
    CHECK(db_number(db, "SELECT count(*) FROM runs WHERE experiment = 'lrpe-bench' AND status = 'completed' AND seed = 0") == 1,
          "one completed bench run recorded");
    CHECK(db_number(db, "SELECT value FROM summary WHERE key = 'perf/seq_len'") == 32, "perf/seq_len recorded");
    CHECK(db_number(db, "SELECT count(*) FROM provenance WHERE key = 'blas_core'") == 1, "provenance recorded");

    /* a length sweep holds the tokens per step (4 x 32 = 128) and replaces, not duplicates */
    snprintf(cmd, sizeof cmd, "%s bench " TINY " task.seq_len=32 train.batch=4 --steps 2 --warmup 0 --tsv --db %s --seq-lens 16,64",
             test_lrpe_bin(), db);
    rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 0, "sweep exit %d: %s", rc, out);
    CHECK(atoi(tsv_field(out, 0, "seq_len", v, sizeof v)) == 16 && atoi(tsv_field(out, 0, "batch", v, sizeof v)) == 8,
          "T 16 runs batch 8 in\n%s", out);
    CHECK(atoi(tsv_field(out, 1, "seq_len", v, sizeof v)) == 64 && atoi(tsv_field(out, 1, "batch", v, sizeof v)) == 2,
          "T 64 runs batch 2 in\n%s", out);
    CHECK(db_number(db, "SELECT count(*) FROM runs WHERE experiment = 'lrpe-bench'") == 3, "three bench runs (32, 16, 64)");
    rc = test_capture(cmd, out, sizeof out);
    CHECK(db_number(db, "SELECT count(*) FROM runs WHERE experiment = 'lrpe-bench'") == 3, "rerun replaces its runs");
    char wal[512];
    unlink(db);
    snprintf(wal, sizeof wal, "%s-wal", db), unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db), unlink(wal);
}

TEST(bench_usage_errors_exit_2) {
    char cmd[512], out[2048];
    snprintf(cmd, sizeof cmd, "%s bench --no-db --steps 0", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "--steps"), "--steps 0: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --no-db --frobnicate", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "--frobnicate"), "unknown option: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --no-db model.widht=3", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "model.widht"), "unknown key: %s", out);
    snprintf(cmd, sizeof cmd, "%s bench --no-db task.kind=imgcls --seq-lens 64,128", test_lrpe_bin());
    CHECK(test_capture(cmd, out, sizeof out) == 2 && strstr(out, "imgcls"), "imgcls sweep: %s", out);
}

/* A config that cannot be measured (its data is missing) exits 1 with the reason, and its point is
 * recorded as failed with that reason (not left pending). */
TEST(bench_failed_point_is_recorded) {
    char db[] = "/tmp/lrpe_test_benchf_XXXXXX", cmd[1024], out[4096], wal[512];
    int fd = mkstemp(db);
    if (fd >= 0) close(fd), unlink(db);
    snprintf(cmd, sizeof cmd, "%s bench task.kind=lm task.dataset=file task.path=/nonexistent/text --steps 1 --db %s",
             test_lrpe_bin(), db);
    int rc = test_capture(cmd, out, sizeof out);
    CHECK(rc == 1 && strstr(out, "/nonexistent/text"), "exit %d: %s", rc, out);
    CHECK(db_number(db, "SELECT count(*) FROM runs WHERE status = 'failed' AND error LIKE '%/nonexistent/text%'") == 1,
          "the point is recorded as failed with its reason");
    unlink(db);
    snprintf(wal, sizeof wal, "%s-wal", db), unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", db), unlink(wal);
}
