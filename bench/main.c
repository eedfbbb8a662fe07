/*
 * xact-bench: the cost of an atomic commit across databases, against the
 * same work done by hand (raw PREPARE / COMMIT PREPARED), non-atomically
 * and locally, measured in one run against the same databases.
 *
 *   xact-bench init --db CONNINFO [--db ...] [--accounts A]
 *   xact-bench run  --db CONNINFO [--db ...] --url URL
 *                   --participants NAME[,NAME...] [--modes M[,M...]]
 *                   [--n N[,N...]] [--clients C[,C...]] [--seconds S]
 *                   [--rounds R] [--warmup S] [--accounts A] [--csv FILE]
 *                   [--timeout-ms T]
 *   xact-bench ping --url URL [--count N]
 *
 * The i-th --db is the database of the i-th participant. Modes: xact-2pc,
 * xact-3pc, raw-2pc, raw-nonatomic, local (bench.h). Every combination of
 * N (databases per transaction) and C (concurrent clients) runs each mode
 * for S seconds, R rounds, the order of the modes rotating each round so
 * that drift of the machine hits them alike. Before a cell's first round
 * each mode runs --warmup seconds (default 1) unmeasured: the participants
 * open their database connections and the caches fill on the
 * coordinator's time and not the first round's. Reported per cell: the median
 * over the rounds of throughput and of the latency percentiles, the
 * coordinator's CPU time and decision-log fdatasyncs per transaction (its
 * STATS counters before and after), and the ratios to raw-2pc.
 *
 * ping measures the floor under every mode that goes through the
 * coordinator: N bare request/reply round trips (STATS requests), with the
 * time, the coordinator's CPU time and the machine's context switches
 * (/proc/stat, so run it on an idle machine) per round trip.
 *
 * After the run the money is counted: the total over the databases must
 * not have changed and no prepared transaction may be left. Exit 0, 1 when
 * that check fails or a cell had errors, 2 on bad usage or setup.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_LIST       16
#define MAX_CLIENTS    256
#define MAX_ROUNDS     15
#define ERROR_PAUSE_US 10000

static _Noreturn __attribute__((format(printf, 1, 2))) void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("xact-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct opts {
	struct bench_env env;
	enum bench_mode modes[MODE_COUNT];
	int nmodes;
	int ns[MAX_LIST], nns;
	int clients[MAX_LIST], nclients;
	int seconds, rounds, warmup;
	const char *csv;
};

/* One mode at one (n, clients), one round. */
struct sample {
	double tps, p50_ms, p95_ms, p99_ms;
	uint64_t committed, aborted, errors;
	double cpu_us_per_tx, syncs_per_tx; /* xact modes only */
};

/* A cell's medians over the rounds. */
struct cell {
	int n, clients;
	enum bench_mode mode;
	struct sample med;
	uint64_t aborted, errors; /* summed */
};

/* ---- measuring one sample -------------------------------------------- */

struct worker {
	struct bench_client c;
	pthread_t thread;
	pthread_barrier_t *start;
	uint64_t deadline_us;
	uint32_t *lat_us; /* committed transactions */
	size_t nlat, cap;
	uint64_t committed, aborted, errors, end_us;
	char first_err[BENCH_ERR_MAX];
};

static void
push_latency(struct worker *w, uint64_t us)
{
	if (w->nlat == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4096;
		uint32_t *v = realloc(w->lat_us, cap * sizeof(*v));

		if (v == NULL)
			die("out of memory");
		w->lat_us = v;
		w->cap = cap;
	}
	w->lat_us[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t t0, t1;

	pthread_barrier_wait(w->start);
	while ((t0 = now_us()) < w->deadline_us) {
		enum bench_outcome o = bench_transfer(&w->c);

		t1 = now_us();
		if (o == BENCH_COMMITTED) {
			w->committed++;
			push_latency(w, t1 - t0);
		} else if (o == BENCH_ABORTED) {
			w->aborted++;
		} else {
			if (w->errors++ == 0)
				snprintf(w->first_err, sizeof(w->first_err),
				         "%s", w->c.err);
			usleep(ERROR_PAUSE_US);
		}
	}
	w->end_us = now_us();
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank, in milliseconds. */
static double
quantile_ms(const uint32_t *sorted, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	k = k == 0 ? 0 : k - 1;
	return sorted[k < n ? k : n - 1] / 1000.0;
}

struct coord_counters {
	uint64_t cpu_us, syncs;
};

static uint64_t
counter(xact_result *r, const char *name)
{
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		if (strcmp(xact_result_value(r, i, 0), name) == 0)
			return strtoull(xact_result_value(r, i, 1), NULL, 10);
	die("the coordinator reports no counter %s", name);
}

static void
read_counters(xact_conn *xc, struct coord_counters *out)
{
	xact_result *r;

	if (xact_stats(xc, &r) != 0)
		die("coordinator stats: %s", xact_errmsg(xc));
	out->cpu_us = counter(r, "cpu_user_us") + counter(r, "cpu_system_us");
	out->syncs = counter(r, "log_syncs");
	xact_result_free(r);
}

static void
measure(const struct opts *o, xact_conn *stats, enum bench_mode mode, int n,
        int nclients, int seconds, struct sample *s)
{
	struct worker *w = calloc((size_t)nclients, sizeof(*w));
	struct coord_counters before = {0}, after = {0};
	pthread_barrier_t start;
	uint32_t *all;
	size_t nall = 0;
	uint64_t t0, end = 0, txs;

	if (w == NULL)
		die("out of memory");
	memset(s, 0, sizeof(*s));
	pthread_barrier_init(&start, NULL, (unsigned)nclients + 1);
	for (int i = 0; i < nclients; i++) {
		w[i].c = (struct bench_client){.env = &o->env,
		                               .mode = mode,
		                               .n = n,
		                               .index = i,
		                               .nclients = nclients};
		if (bench_client_open(&w[i].c) != 0)
			die("%s: client %d: %s", bench_mode_name(mode), i,
			    w[i].c.err);
		w[i].start = &start;
	}
	if (bench_mode_is_xact(mode))
		read_counters(stats, &before);
	t0 = now_us();
	for (int i = 0; i < nclients; i++) {
		w[i].deadline_us = t0 + (uint64_t)seconds * 1000000u;
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
			die("cannot start a client thread");
	}
	pthread_barrier_wait(&start);
	for (int i = 0; i < nclients; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].end_us > end)
			end = w[i].end_us;
		s->committed += w[i].committed;
		s->aborted += w[i].aborted;
		s->errors += w[i].errors;
		nall += w[i].nlat;
		if (w[i].errors > 0)
			fprintf(stderr,
			        "xact-bench: %s client %d: %" PRIu64
			        " errors, the first: %s\n",
			        bench_mode_name(mode), i, w[i].errors,
			        w[i].first_err);
	}
	if (bench_mode_is_xact(mode))
		read_counters(stats, &after);
	if ((all = malloc((nall + 1) * sizeof(*all))) == NULL)
		die("out of memory");
	nall = 0;
	for (int i = 0; i < nclients; i++) {
		memcpy(all + nall, w[i].lat_us, w[i].nlat * sizeof(*all));
		nall += w[i].nlat;
		free(w[i].lat_us);
		bench_client_close(&w[i].c);
	}
	qsort(all, nall, sizeof(*all), cmp_u32);
	s->tps = (double)s->committed / ((double)(end - t0) / 1e6);
	s->p50_ms = quantile_ms(all, nall, 0.50);
	s->p95_ms = quantile_ms(all, nall, 0.95);
	s->p99_ms = quantile_ms(all, nall, 0.99);
	txs = s->committed + s->aborted;
	if (bench_mode_is_xact(mode) && txs > 0) {
		s->cpu_us_per_tx =
		    (double)(after.cpu_us - before.cpu_us) / (double)txs;
		s->syncs_per_tx =
		    (double)(after.syncs - before.syncs) / (double)txs;
	}
	pthread_barrier_destroy(&start);
	free(all);
	free(w);
}

/* ---- the databases ----------------------------------------------------- */

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "table does not exist, skipping" and the like */
}

static PGconn *
db_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		die("cannot connect to \"%s\": %s", conninfo,
		    PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

static void
db_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		die("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

static long long
db_value(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		die("%s: %s", sql, PQresultErrorMessage(r));
	v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

static void
bench_init(const struct bench_env *env)
{
	char sql[256];

	for (int i = 0; i < env->ndbs; i++) {
		PGconn *c = db_connect(env->dbs[i]);

		db_exec(c, "DROP TABLE IF EXISTS " BENCH_TABLE);
		db_exec(c, "CREATE TABLE " BENCH_TABLE
		           " (id int PRIMARY KEY, balance bigint NOT NULL "
		           "CHECK (balance >= 0))");
		snprintf(sql, sizeof(sql),
		         "INSERT INTO " BENCH_TABLE
		         " SELECT g, %lld FROM generate_series(1, %d) g",
		         BENCH_BALANCE, env->accounts);
		db_exec(c, sql);
		db_exec(c, "VACUUM ANALYZE " BENCH_TABLE);
		PQfinish(c);
	}
}

/* The money over all databases; checks the table is there and full. */
static long long
total(const struct bench_env *env, long long *prepared)
{
	long long sum = 0;

	*prepared = 0;
	for (int i = 0; i < env->ndbs; i++) {
		PGconn *c = db_connect(env->dbs[i]);

		if (db_value(c, "SELECT count(*) FROM " BENCH_TABLE) <
		    env->accounts)
			die("database %d has fewer than %d accounts: run "
			    "xact-bench init first",
			    i + 1, env->accounts);
		sum += db_value(c, "SELECT sum(balance) FROM " BENCH_TABLE);
		*prepared += db_value(c, "SELECT count(*) FROM "
		                         "pg_prepared_xacts WHERE gid LIKE "
		                         "'bench\\_%' OR gid LIKE 'xact\\_%'");
		PQfinish(c);
	}
	return sum;
}

/* ---- the report -------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
summarise(const struct sample *s, int rounds, struct cell *c)
{
	double v[MAX_ROUNDS];

#define MED(field)                                                             \
	do {                                                                   \
		for (int r = 0; r < rounds; r++)                               \
			v[r] = s[r].field;                                     \
		c->med.field = median(v, rounds);                              \
	} while (0)
	MED(tps);
	MED(p50_ms);
	MED(p95_ms);
	MED(p99_ms);
	MED(cpu_us_per_tx);
	MED(syncs_per_tx);
#undef MED
	for (int r = 0; r < rounds; r++) {
		c->aborted += s[r].aborted;
		c->errors += s[r].errors;
	}
}

static const struct cell *
find(const struct cell *cells, int ncells, int n, int clients,
     enum bench_mode m)
{
	for (int i = 0; i < ncells; i++)
		if (cells[i].n == n && cells[i].clients == clients &&
		    cells[i].mode == m)
			return &cells[i];
	return NULL;
}

static void
report(const struct opts *o, const struct cell *cells, int ncells)
{
	FILE *csv = NULL;

	if (o->csv != NULL && (csv = fopen(o->csv, "w")) == NULL)
		die("%s: %s", o->csv, strerror(errno));
	if (csv != NULL)
		fprintf(csv, "n,clients,mode,tps,p50_ms,p95_ms,p99_ms,aborted,"
		             "errors,coord_cpu_us_per_tx,log_syncs_per_tx,"
		             "tps_vs_raw_2pc,p99_vs_raw_2pc\n");
	printf("%2s %7s %-13s %9s %8s %8s %8s %7s %6s %9s %8s %7s %7s\n", "n",
	       "clients", "mode", "tps", "p50_ms", "p95_ms", "p99_ms",
	       "aborted", "errors", "cpu_us/tx", "syncs/tx", "tps/raw",
	       "p99/raw");
	for (int i = 0; i < ncells; i++) {
		const struct cell *c = &cells[i];
		const struct cell *raw =
		    find(cells, ncells, c->n, c->clients, MODE_RAW_2PC);
		bool xact = bench_mode_is_xact(c->mode);
		char cpu[16] = "-", syncs[16] = "-", rt[16] = "-", rp[16] = "-";

		if (xact) {
			snprintf(cpu, sizeof(cpu), "%.1f",
			         c->med.cpu_us_per_tx);
			snprintf(syncs, sizeof(syncs), "%.3f",
			         c->med.syncs_per_tx);
		}
		if (raw != NULL && raw->med.tps > 0 && raw->med.p99_ms > 0) {
			snprintf(rt, sizeof(rt), "%.2f",
			         c->med.tps / raw->med.tps);
			snprintf(rp, sizeof(rp), "%.2f",
			         c->med.p99_ms / raw->med.p99_ms);
		}
		printf("%2d %7d %-13s %9.0f %8.2f %8.2f %8.2f %7" PRIu64
		       " %6" PRIu64 " %9s %8s %7s %7s\n",
		       c->n, c->clients, bench_mode_name(c->mode), c->med.tps,
		       c->med.p50_ms, c->med.p95_ms, c->med.p99_ms, c->aborted,
		       c->errors, cpu, syncs, rt, rp);
		if (csv != NULL)
			fprintf(csv,
			        "%d,%d,%s,%.1f,%.3f,%.3f,%.3f,%" PRIu64
			        ",%" PRIu64 ",%s,%s,%s,%s\n",
			        c->n, c->clients, bench_mode_name(c->mode),
			        c->med.tps, c->med.p50_ms, c->med.p95_ms,
			        c->med.p99_ms, c->aborted, c->errors,
			        xact ? cpu : "", xact ? syncs : "",
			        rt[0] == '-' ? "" : rt, rp[0] == '-' ? "" : rp);
	}
	if (csv != NULL && fclose(csv) != 0)
		die("%s: %s", o->csv, strerror(errno));
}

/* ---- the command line -------------------------------------------------- */

static long
parse_num(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		die("%s: \"%s\" is not a number in %ld..%ld", opt, s, min, max);
	return v;
}

static int
parse_list(const char *opt, char *s, int *out, long min, long max)
{
	int n = 0;

	for (char *tok = strtok(s, ","); tok != NULL; tok = strtok(NULL, ",")) {
		if (n == MAX_LIST)
			die("%s: at most %d values", opt, MAX_LIST);
		out[n++] = (int)parse_num(opt, tok, min, max);
	}
	if (n == 0)
		die("%s: no values", opt);
	return n;
}

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: xact-bench init --db CONNINFO [--db ...] [--accounts A]\n"
	    "       xact-bench run --db CONNINFO [--db ...] --url URL\n"
	    "              --participants NAME[,NAME...] [--modes LIST]\n"
	    "              [--n LIST] [--clients LIST] [--seconds S]\n"
	    "              [--rounds R] [--warmup S] [--accounts A] "
	    "[--csv FILE]\n"
	    "              [--timeout-ms T]\n"
	    "       xact-bench ping --url URL [--count N]\n"
	    "modes: xact-2pc xact-3pc raw-2pc raw-nonatomic local\n");
}

static void
parse_args(int argc, char **argv, bool run, struct opts *o)
{
	static const struct option longopts[] = {
	    {"db", required_argument, NULL, 'd'},
	    {"url", required_argument, NULL, 'u'},
	    {"participants", required_argument, NULL, 'p'},
	    {"modes", required_argument, NULL, 'm'},
	    {"n", required_argument, NULL, 'n'},
	    {"clients", required_argument, NULL, 'c'},
	    {"seconds", required_argument, NULL, 's'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"warmup", required_argument, NULL, 'W'},
	    {"accounts", required_argument, NULL, 'a'},
	    {"csv", required_argument, NULL, 'o'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *names = NULL, *modes = NULL;
	int opt, nnames = 0;

	*o = (struct opts){.env = {.accounts = 10000, .timeout_ms = 30000},
	                   .seconds = 5,
	                   .warmup = 1,
	                   .rounds = 1};
	o->ns[o->nns++] = 2;
	static const int default_clients[] = {1, 8, 32, 64};
	for (size_t i = 0; i < sizeof(default_clients) / sizeof(int); i++)
		o->clients[o->nclients++] = default_clients[i];
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (o->env.ndbs == BENCH_MAX_N)
				die("at most %d databases", BENCH_MAX_N);
			o->env.dbs[o->env.ndbs++] = optarg;
			break;
		case 'u':
			o->env.url = optarg;
			break;
		case 'p':
			names = optarg;
			break;
		case 'm':
			modes = optarg;
			break;
		case 'n':
			o->nns =
			    parse_list("--n", optarg, o->ns, 1, BENCH_MAX_N);
			break;
		case 'c':
			o->nclients = parse_list("--clients", optarg,
			                         o->clients, 1, MAX_CLIENTS);
			break;
		case 's':
			o->seconds =
			    (int)parse_num("--seconds", optarg, 1, 3600);
			break;
		case 'r':
			o->rounds =
			    (int)parse_num("--rounds", optarg, 1, MAX_ROUNDS);
			break;
		case 'W':
			o->warmup = (int)parse_num("--warmup", optarg, 0, 600);
			break;
		case 'a':
			o->env.accounts =
			    (int)parse_num("--accounts", optarg, 2, 100000000);
			break;
		case 'o':
			o->csv = optarg;
			break;
		case 't':
			o->env.timeout_ms = (unsigned)parse_num(
			    "--timeout-ms", optarg, 1, 3600000);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (o->env.ndbs == 0)
		die("no --db given");
	if (!run)
		return;
	if (names != NULL)
		for (char *t = strtok(names, ","); t != NULL;
		     t = strtok(NULL, ",")) {
			if (nnames == BENCH_MAX_N)
				die("at most %d participants", BENCH_MAX_N);
			o->env.names[nnames++] = t;
		}
	if (modes == NULL)
		for (int m = 0; m < MODE_COUNT; m++)
			o->modes[o->nmodes++] = (enum bench_mode)m;
	else
		for (char *t = strtok(modes, ","); t != NULL;
		     t = strtok(NULL, ",")) {
			enum bench_mode m = bench_mode_parse(t);

			if (m == MODE_COUNT)
				die("--modes: no mode \"%s\"", t);
			if (o->nmodes == MODE_COUNT)
				die("--modes: a mode twice");
			o->modes[o->nmodes++] = m;
		}
	for (int i = 0; i < o->nmodes; i++)
		if (bench_mode_is_xact(o->modes[i]) &&
		    (o->env.url == NULL || nnames != o->env.ndbs))
			die("mode %s needs --url and one --participants name "
			    "per --db",
			    bench_mode_name(o->modes[i]));
	for (int i = 0; i < o->nns; i++)
		if (o->ns[i] > o->env.ndbs)
			die("--n %d: only %d databases", o->ns[i], o->env.ndbs);
	for (int i = 0; i < o->nclients; i++)
		if (o->env.accounts < o->clients[i] * BENCH_MAX_N)
			die("--accounts %d: too few for %d clients (at least "
			    "%d each)",
			    o->env.accounts, o->clients[i], BENCH_MAX_N);
}

static int
cmd_run(struct opts *o)
{
	int ncells = o->nns * o->nclients * o->nmodes, k = 0, rc = 0;
	struct cell *cells = calloc((size_t)ncells, sizeof(*cells));
	struct sample s[MODE_COUNT][MAX_ROUNDS];
	long long before, after, prepared;
	xact_conn *stats = NULL;

	if (cells == NULL)
		die("out of memory");
	before = total(&o->env, &prepared);
	if (prepared != 0)
		die("%lld prepared transactions are already there", prepared);
	if (o->env.url != NULL &&
	    xact_connect(o->env.url, o->env.timeout_ms, &stats) != 0)
		die("%s", stats != NULL ? xact_errmsg(stats) : "out of memory");
	for (int a = 0; a < o->nns; a++)
		for (int b = 0; b < o->nclients; b++) {
			int n = o->ns[a], nc = o->clients[b];

			for (int i = 0; o->warmup > 0 && i < o->nmodes; i++) {
				struct sample w;

				measure(o, stats, o->modes[i], n, nc, o->warmup,
				        &w);
				rc |= w.errors > 0;
			}
			for (int r = 0; r < o->rounds; r++)
				for (int i = 0; i < o->nmodes; i++) {
					int mi = (i + r) % o->nmodes;
					enum bench_mode m = o->modes[mi];
					struct sample *x = &s[mi][r];

					measure(o, stats, m, n, nc, o->seconds,
					        x);
					fprintf(
					    stderr,
					    "n=%d clients=%d %-13s round %d: "
					    "%.0f tps, p99 %.2f ms\n",
					    n, nc, bench_mode_name(m), r + 1,
					    x->tps, x->p99_ms);
				}
			for (int i = 0; i < o->nmodes; i++, k++) {
				cells[k] = (struct cell){
				    .n = n, .clients = nc, .mode = o->modes[i]};
				summarise(s[i], o->rounds, &cells[k]);
				rc |= cells[k].errors > 0;
			}
		}
	xact_disconnect(stats);
	report(o, cells, ncells);
	after = total(&o->env, &prepared);
	if (after != before || prepared != 0) {
		printf("VIOLATION: the databases held %lld before and %lld "
		       "after; %lld prepared transactions left\n",
		       before, after, prepared);
		rc = 1;
	} else {
		printf("check: money conserved (%lld), nothing left "
		       "prepared\n",
		       after);
	}
	free(cells);
	return rc;
}

/* The machine's context switches so far, or 0 if unknown. */
static uint64_t
context_switches(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v = 0;
	char line[256];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "ctxt %llu", &v) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return v;
}

static int
cmd_ping(int argc, char **argv)
{
	const char *url = NULL;
	long count = 10000;
	struct coord_counters before, after;
	uint64_t t0, t1, cs0, cs1;
	xact_conn *xc;
	xact_result *r;

	for (int i = 1; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "--url") == 0)
			url = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = parse_num("--count", argv[i + 1], 1, 10000000);
		else
			die("ping: unknown option %s", argv[i]);
	if (url == NULL || argc % 2 == 0)
		die("usage: xact-bench ping --url URL [--count N]");
	if (xact_connect(url, 10000, &xc) != 0)
		die("%s", xc != NULL ? xact_errmsg(xc) : "out of memory");
	read_counters(xc, &before);
	cs0 = context_switches();
	t0 = now_us();
	for (long i = 0; i < count; i++) {
		if (xact_stats(xc, &r) != 0)
			die("%s", xact_errmsg(xc));
		xact_result_free(r);
	}
	t1 = now_us();
	cs1 = context_switches();
	read_counters(xc, &after);
	xact_disconnect(xc);
	/* The last read_counters() is one more round trip than counted. */
	printf("round trips %ld\nus_per_round_trip %.1f\n"
	       "coord_cpu_us_per_round_trip %.1f\n"
	       "context_switches_per_round_trip %.1f\n",
	       count, (double)(t1 - t0) / (double)count,
	       (double)(after.cpu_us - before.cpu_us) / (double)(count + 1),
	       (double)(cs1 - cs0) / (double)count);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(argc - 1, argv + 1);
	if (strcmp(cmd, "init") != 0 && strcmp(cmd, "run") != 0) {
		usage(stderr);
		return 2;
	}
	parse_args(argc - 1, argv + 1, strcmp(cmd, "run") == 0, &o);
	if (strcmp(cmd, "init") == 0) {
		bench_init(&o.env);
		return 0;
	}
	return cmd_run(&o);
}
