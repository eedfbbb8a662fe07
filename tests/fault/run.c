/*
 * One scenario run:
 *
 *   1. a cluster of its own (hcluster_start), the bank tables (xact-bank
 *      init), the scenario's failpoints in the daemons' environment;
 *   2. `xact-bank run` as a process, with a journal;
 *   3. the scenario's fault, and its healing;
 *   4. the workload's end (it asks for every unknown outcome itself);
 *   5. every daemon must be running, and a new transaction must commit;
 *   6. `xact-bank check --journal`: invariants 1, 5, 7 and 8;
 *   7. the daemons' logs must show the fault (for the failpoints that do
 *      not end a process) and no refused decision (invariants 2 and 3).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "clock.h"
#include "fault.h"
#include "rng.h"
#include "xact.h"

#define ACCOUNTS         30  /* per database: few, so transfers contend */
#define BALANCE          300 /* low, so overdrafts make NO votes */
#define MAX_AMOUNT       100
#define CLIENTS          4
#define SECONDS_DEFAULT  5
#define INIT_TIMEOUT_MS  30000
#define BANK_EXTRA_MS    60000 /* after its seconds: resolving unknowns */
#define PROBE_MS         30000 /* a new transaction must commit by then */
#define CHECK_WAIT_S     30    /* for prepared branches to be resolved */
#define CHECK_TIMEOUT_MS ((CHECK_WAIT_S + 30) * 1000)

void
frun_fail(struct frun *r, const char *fmt, ...)
{
	va_list ap;
	char why[sizeof r->why];

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (!r->failed) {
		r->failed = true;
		snprintf(r->why, sizeof r->why, "%s", why);
	} else {
		fprintf(stderr, "xact-fault: %s: also: %s\n", r->s->name, why);
	}
}

void
frun_note(struct frun *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->verbose)
		return;
	fprintf(stderr, "xact-fault: %s +%.1fs: ", r->s->name,
	        (double)(clock_now_ms() - r->begin) / 1000.0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* splitmix64 */
int
frun_rand(struct frun *r, int lo, int hi)
{
	uint64_t z = rng_next(&r->rng);

	return hi <= lo ? lo : lo + (int)(z % (uint64_t)(hi - lo + 1));
}

void
frun_sleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The spec with every '@' replaced by the skip count. */
static void
fp_expand(char *out, size_t len, const char *spec, int skip)
{
	size_t n = 0;

	for (; *spec != '\0' && n + 12 < len; spec++) {
		if (*spec == '@')
			n += (size_t)snprintf(out + n, len - n, "%d", skip);
		else
			out[n++] = *spec;
	}
	out[n] = '\0';
}

static void
path_in(const struct frun *r, char *out, const char *file)
{
	snprintf(out, HPATH_MAX, "%s/%s", r->c.dir, file);
}

/* Run xact-bank to its end; its exit status, or -1. */
static int
bank_tool(struct frun *r, char *const argv[], const char *log, int timeout_ms)
{
	struct hproc p;
	int status;

	if (hproc_start(&p, "xact-bank", argv, NULL, log) != 0)
		return -1;
	if (hproc_wait(&p, timeout_ms, &status) != 0) {
		frun_fail(r, "xact-bank %s did not finish within %d s", argv[1],
		          timeout_ms / 1000);
		hproc_stop(&p);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* argv of xact-bank with --db for every database, then extra. */
static void
bank_argv(struct frun *r, char **argv, const char *cmd, char *const extra[])
{
	static char bin[HPATH_MAX];
	int n = 0;

	snprintf(bin, sizeof bin, "%s/xact-bank", XACT_BIN_DIR);
	argv[n++] = bin;
	argv[n++] = (char *)cmd;
	for (int i = 0; i < r->c.n; i++) {
		argv[n++] = "--db";
		argv[n++] = r->c.pg[i].conninfo;
	}
	for (int i = 0; extra[i] != NULL; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
}

static int
bank_init(struct frun *r)
{
	char log[HPATH_MAX], accounts[16], balance[16];
	char *const extra[] = {"--accounts", accounts, "--balance", balance,
	                       NULL};
	char *argv[32];

	snprintf(accounts, sizeof accounts, "%d", ACCOUNTS);
	snprintf(balance, sizeof balance, "%d", BALANCE);
	bank_argv(r, argv, "init", extra);
	path_in(r, log, "bank-init.log");
	if (bank_tool(r, argv, log, INIT_TIMEOUT_MS) != 0) {
		hlog_tail("xact-bank init", log, 20);
		frun_fail(r, "xact-bank init failed");
		return -1;
	}
	return 0;
}

static int
bank_start(struct frun *r, uint64_t seed)
{
	char bin[HPATH_MAX], log[HPATH_MAX], accounts[16], seconds[16];
	char clients[16], amount[16], seedstr[32], timeout[16], local[16];
	char *argv[] = {bin,
	                "run",
	                "--url",
	                r->c.url,
	                "--participants",
	                "bank1,bank2,bank3",
	                "--accounts",
	                accounts,
	                "--clients",
	                clients,
	                "--seconds",
	                seconds,
	                "--max-amount",
	                amount,
	                "--seed",
	                seedstr,
	                "--timeout-ms",
	                timeout,
	                "--journal",
	                r->journal,
	                "--protocol",
	                r->s->three_phase ? "3pc" : "2pc",
	                "--local-pct",
	                local,
	                r->s->submit ? "--submit" : NULL,
	                NULL};

	snprintf(bin, sizeof bin, "%s/xact-bank", XACT_BIN_DIR);
	snprintf(accounts, sizeof accounts, "%d", ACCOUNTS);
	snprintf(clients, sizeof clients, "%d", CLIENTS);
	snprintf(seconds, sizeof seconds, "%d", r->seconds);
	snprintf(amount, sizeof amount, "%d", MAX_AMOUNT);
	snprintf(seedstr, sizeof seedstr, "%" PRIu64, seed & INT64_MAX);
	snprintf(timeout, sizeof timeout, "%d", FAULT_CLIENT_TIMEOUT_MS);
	snprintf(local, sizeof local, "%d", r->s->local_pct);
	path_in(r, r->journal, "journal");
	path_in(r, log, "bank-run.log");
	if (hproc_start(&r->bank, "xact-bank", argv, NULL, log) != 0) {
		frun_fail(r, "cannot start xact-bank run");
		return -1;
	}
	r->t0 = clock_now_ms();
	return 0;
}

static void
wait_bank(struct frun *r)
{
	int status;
	int ms = r->seconds * 1000 + BANK_EXTRA_MS;

	if (hproc_wait(&r->bank, ms, &status) != 0) {
		char path[HPATH_MAX], cmd[2 * HPATH_MAX];

		frun_fail(r, "the workload did not end within %d s", ms / 1000);
		/* Where it hangs, for whoever reads the failure (gdb is on
		 * the machines this runs on; without it, nothing). */
		path_in(r, path, "bank-stacks.log");
		snprintf(cmd, sizeof cmd,
		         "timeout 60 gdb -p %d -batch -ex 'thread apply all "
		         "bt' >%s 2>&1",
		         (int)r->bank.pid, path);
		if (system(cmd) == 0)
			hlog_tail("xact-bank threads", path, 80);
		hproc_stop(&r->bank);
		return;
	}
	if (WIFSIGNALED(status))
		frun_fail(r, "the workload died of signal %d",
		          WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		frun_fail(r,
		          "the workload exited %d: no transfer got an answer, "
		          "or outcomes were left unresolved",
		          WEXITSTATUS(status));
}

/* Healed means every daemon runs again. */
static void
check_alive(struct frun *r)
{
	struct hproc *all[1 + HCLUSTER_MAX];
	int n = 0;

	all[n++] = &r->c.coord;
	for (int i = 0; i < r->c.n; i++)
		all[n++] = &r->c.part[i];
	for (int i = 0; i < n; i++) {
		if (hproc_alive(all[i]))
			continue;
		if (WIFSIGNALED(all[i]->status))
			frun_fail(r,
			          "%s is not running after healing: signal %d",
			          all[i]->name, WTERMSIG(all[i]->status));
		else
			frun_fail(r, "%s is not running after healing: exit %d",
			          all[i]->name, WEXITSTATUS(all[i]->status));
	}
}

/*
 * Invariant 4 after healing: a transaction over all three participants
 * commits. It writes nothing (balance = balance), so the books stay as
 * the workload left them. Retried while in-doubt branches still hold
 * row locks.
 */
static void
probe(struct frun *r)
{
	static const char sql[] =
	    "UPDATE accounts SET balance = balance WHERE id = 1";
	const char *stmts[] = {sql};
	const struct xact_branch br[] = {
	    {"bank1", stmts, 1}, {"bank2", stmts, 1}, {"bank3", stmts, 1}};
	uint64_t deadline = clock_now_ms() + PROBE_MS;
	char gid[XACT_GID_MAX], last[512] = "not tried";
	xact_outcome o;
	xact_conn *c = NULL;

	do {
		if (c == NULL && xact_connect(r->c.url, 5000, &c) != 0) {
			snprintf(last, sizeof last, "%s",
			         c != NULL ? xact_errmsg(c) : "out of memory");
			xact_disconnect(c);
			c = NULL;
		} else if (xact_submit(c, br, 3, gid, &o) != 0) {
			snprintf(last, sizeof last, "%s", xact_errmsg(c));
			xact_disconnect(c);
			c = NULL;
		} else if (o == XACT_COMMITTED) {
			xact_disconnect(c);
			return;
		} else {
			snprintf(last, sizeof last, "%s", xact_errmsg(c));
		}
		frun_sleep(200);
	} while (clock_now_ms() < deadline);
	xact_disconnect(c);
	frun_fail(r,
	          "invariant 4: no transaction committed within %d s of "
	          "healing (last: %s)",
	          PROBE_MS / 1000, last);
}

/* xact-bank check with the journal; its VIOLATION lines on failure. */
static void
check_books(struct frun *r)
{
	char log[HPATH_MAX], total[32], wait[16];
	char *const extra[] = {"--participants",
	                       "bank1,bank2,bank3",
	                       "--expect-total",
	                       total,
	                       "--wait",
	                       wait,
	                       "--journal",
	                       r->journal,
	                       NULL};
	char *argv[32];
	char line[1024];
	FILE *f;
	int rc;

	snprintf(total, sizeof total, "%d", ACCOUNTS * BALANCE * r->c.n);
	snprintf(wait, sizeof wait, "%d", CHECK_WAIT_S);
	bank_argv(r, argv, "check", extra);
	path_in(r, log, "bank-check.log");
	rc = bank_tool(r, argv, log, CHECK_TIMEOUT_MS);
	if (rc == 0)
		return;
	frun_fail(r, "xact-bank check: %s",
	          rc == 1 ? "invariants violated" : "could not check");
	if ((f = fopen(log, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VIOLATION", 9) == 0 ||
		    strstr(line, "xact-bank:") != NULL)
			fprintf(stderr, "  %s", line);
	fclose(f);
}

/* The first line of path holding needle, into out; false if none. */
static bool
log_find(const char *path, const char *needle, char *out, size_t len)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
		if (strstr(line, needle) != NULL) {
			size_t n = strcspn(line, "\n");

			found = true;
			n = n < len - 1 ? n : len - 1; /* a long line is cut */
			memcpy(out, line, n);
			out[n] = '\0';
		}
	if (f != NULL)
		fclose(f);
	return found;
}

bool
frun_log_has(const char *path, const char *needle)
{
	char line[512];

	return log_find(path, needle, line, sizeof line);
}

/*
 * The daemons' logs: a refused COMMIT or ROLLBACK is a protocol bug
 * (invariants 2 and 3); so is a failed assertion or a sanitizer report.
 */
static void
audit_logs(struct frun *r)
{
	static const char *const bad[] = {
	    ": refused",     "committed branch refused",
	    "Assertion",     "AddressSanitizer",
	    "LeakSanitizer", "runtime error:",
	};
	struct hproc *all[1 + HCLUSTER_MAX];
	char line[512];
	int n = 0;

	all[n++] = &r->c.coord;
	for (int i = 0; i < r->c.n; i++)
		all[n++] = &r->c.part[i];
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
			if (log_find(all[i]->log, bad[k], line, sizeof line))
				frun_fail(r, "%s log: %s", all[i]->name, line);
}

/* A failpoint that does not end a process proves itself in the log. */
static void
check_fired(struct frun *r)
{
	char needle[96], line[512];

	for (int k = 0; k < 4 && r->s->fired[k] != NULL; k++) {
		bool seen = false;

		snprintf(needle, sizeof needle,
		         "failpoint %s:", r->s->fired[k]);
		if (r->s->coord_fp != NULL)
			seen =
			    log_find(r->c.coord.log, needle, line, sizeof line);
		for (int i = 0; i < r->c.n && !seen; i++)
			seen = log_find(r->c.part[i].log, needle, line,
			                sizeof line);
		if (!seen)
			frun_fail(r,
			          "the fault never fired: no \"%s\" in the "
			          "logs",
			          needle);
	}
}

/* The workload's own counts, from its summary. */
static void
read_counts(struct frun *r, struct fresult *out)
{
	char log[HPATH_MAX], line[256], key[32];
	long long v, uc = 0, ua = 0;
	FILE *f;

	path_in(r, log, "bank-run.log");
	if ((f = fopen(log, "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "%31s %lld", key, &v) != 2)
			continue;
		if (strcmp(key, "committed") == 0)
			out->committed = v;
		else if (strcmp(key, "aborted") == 0)
			out->aborted = v;
		else if (strcmp(key, "unknown") == 0)
			out->unknown = v;
		else if (strcmp(key, "unknown_committed") == 0)
			uc = v;
		else if (strcmp(key, "unknown_aborted") == 0)
			ua = v;
	}
	fclose(f);
	out->resolved = uc + ua;
	if (out->committed == 0 && !r->failed)
		frun_fail(r, "the workload committed nothing");
}

static void
arm_failpoints(struct frun *r, struct hcluster_opts *o)
{
	const struct scenario *s = r->s;

	if (s->coord_fp != NULL) {
		snprintf(r->coord_fp, sizeof r->coord_fp, "XACT_FAILPOINTS=");
		fp_expand(r->coord_fp + strlen(r->coord_fp),
		          sizeof r->coord_fp - strlen(r->coord_fp), s->coord_fp,
		          r->fp_skip);
		r->coord_env[0] = r->coord_fp;
		o->coord_env = r->coord_env;
	}
	if (s->part_fp != NULL) {
		snprintf(r->part_fp, sizeof r->part_fp, "XACT_FAILPOINTS=");
		fp_expand(r->part_fp + strlen(r->part_fp),
		          sizeof r->part_fp - strlen(r->part_fp), s->part_fp,
		          r->fp_skip);
		r->part_env[0] = r->part_fp;
		for (int i = 0; i < FAULT_PARTS; i++)
			if (s->part_all || i == r->victim)
				o->part_env[i] = r->part_env;
	}
}

static void
dump(struct frun *r)
{
	char log[HPATH_MAX];

	fprintf(stderr, "===== %s FAILED: %s\n", r->s->name, r->why);
	if (r->coord_fp[0] != '\0')
		fprintf(stderr, "coordinator %s\n", r->coord_fp);
	if (r->part_fp[0] != '\0')
		fprintf(stderr, "participant%s %s\n", r->s->part_all ? "s" : "",
		        r->part_fp);
	if (r->c.dir[0] == '\0')
		return;
	path_in(r, log, "bank-run.log");
	hlog_tail("xact-bank run", log, 25);
	path_in(r, log, "bank-check.log");
	hlog_tail("xact-bank check", log, 25);
	hcluster_dump_logs(&r->c);
}

void
frun_scenario(const struct scenario *s, uint64_t seed, bool verbose,
              struct fresult *out)
{
	static struct frun run; /* large; one run at a time */
	struct frun *r = &run;
	uint64_t begin = clock_now_ms();
	struct hcluster_opts o = {
	    .n = FAULT_PARTS,
	    .vote_timeout_ms = FAULT_VOTE_TIMEOUT_MS,
	    .idle_timeout_ms = FAULT_IDLE_TIMEOUT_MS,
	    .request_timeout_ms = FAULT_REQUEST_TIMEOUT_MS,
	    .commit_wait_ms = FAULT_COMMIT_WAIT_MS,
	    .retry_max_ms = FAULT_RETRY_MAX_MS,
	    .part_idle_timeout_ms = FAULT_PART_IDLE_TIMEOUT_MS,
	    .sweep_interval_ms = FAULT_SWEEP_INTERVAL_MS,
	    .sweep_safety_ms = FAULT_SWEEP_SAFETY_MS,
	    .termination_timeout_ms = FAULT_TERMINATION_MS,
	};

	memset(r, 0, sizeof *r);
	memset(out, 0, sizeof *out);
	r->s = s;
	r->verbose = verbose;
	r->begin = begin;
	r->rng = seed;
	r->seconds = s->seconds != 0 ? s->seconds : SECONDS_DEFAULT;
	r->victim = frun_rand(r, 0, FAULT_PARTS - 1);
	r->fp_skip = frun_rand(r, s->skip_min, s->skip_max);
	arm_failpoints(r, &o);
	if (s->partition) {
		char why[128];

		if (!hnet_supported(why, sizeof why)) {
			frun_fail(r, "%s", why);
			goto done;
		}
		o.isolate = r->victim + 1;
	}
	frun_note(r, "seed %" PRIu64 ", victim bank%d, skip %d", seed,
	          r->victim + 1, r->fp_skip);
	if (hcluster_start(&r->c, &o) != 0) {
		frun_fail(r, "the cluster did not start");
		goto done;
	}
	frun_note(r, "cluster up in %s", r->c.dir);
	if (bank_init(r) != 0 || bank_start(r, seed) != 0)
		goto done;
	frun_note(r, "workload started");
	if (s->inject(r) != 0)
		hproc_kill(&r->bank, SIGTERM); /* summarise and stop early */
	if (r->c.net.cut) /* a failed inject: the checks need the network */
		hcluster_heal(&r->c);
	frun_note(r, "fault injected and healed");
	wait_bank(r);
	frun_note(r, "workload ended");
	check_alive(r);
	if (!r->failed)
		probe(r);
	frun_note(r, "probe done");
	check_books(r);
	frun_note(r, "books checked");
	audit_logs(r);
	check_fired(r);
	read_counts(r, out);
done:
	if (r->failed)
		dump(r);
	hcluster_stop(&r->c);
	snprintf(out->name, sizeof out->name, "%s", s->name);
	_Static_assert(sizeof out->why == sizeof r->why, "same reasons");
	memcpy(out->why, r->why, sizeof out->why);
	out->pass = !r->failed;
	out->seconds = (double)(clock_now_ms() - begin) / 1000.0;
}
