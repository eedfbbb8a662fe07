/*
 * The coordinator's counters, answered to a STATS request as a result
 * table (name, value): what xactctl stats prints and what xact-bench reads
 * before and after a run to charge the coordinator's CPU time and the
 * decision log's fdatasyncs to the transactions in between.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"
#include "log.h"
#include "metrics.h"

#define STAT_ROWS 24

struct stat_row {
	const char *name;
	uint64_t value;
};

static uint64_t
timeval_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static size_t
collect(struct coordinator *co, struct stat_row *rows)
{
	struct coord_stats *s = &co->stats;
	struct dlog_stats d;
	struct rusage ru = {0};
	uint64_t in_flight, leased;
	size_t n = 0;

	pthread_mutex_lock(&co->mu);
	in_flight = co->txs.count;
	leased = atomic_load(&s->leased); /* never above the count here */
	pthread_mutex_unlock(&co->mu);
	dlog_get_stats(co->dlog, &d);
	getrusage(RUSAGE_SELF, &ru);

	rows[n++] = (struct stat_row){"begun", atomic_load(&s->begun)};
	rows[n++] = (struct stat_row){"committed", atomic_load(&s->committed)};
	rows[n++] = (struct stat_row){"aborted", atomic_load(&s->aborted)};
	rows[n++] = (struct stat_row){"one_phase", atomic_load(&s->one_phase)};
	rows[n++] =
	    (struct stat_row){"bad_requests", atomic_load(&s->bad_requests)};
	/* Leased ones are in the table but not begun yet. */
	rows[n++] = (struct stat_row){"in_flight", in_flight - leased};
	rows[n++] = (struct stat_row){"leased", leased};
	rows[n++] = (struct stat_row){"open_commits", d.open};
	rows[n++] = (struct stat_row){"log_records", d.wal.records};
	rows[n++] = (struct stat_row){"log_batches", d.wal.batches};
	rows[n++] = (struct stat_row){"log_syncs", d.wal.syncs};
	rows[n++] = (struct stat_row){"log_bytes", d.wal.bytes};
	rows[n++] = (struct stat_row){"cpu_user_us", timeval_us(ru.ru_utime)};
	rows[n++] = (struct stat_row){"cpu_system_us", timeval_us(ru.ru_stime)};
	rows[n++] = (struct stat_row){"incarnation", d.incarnation};
	rows[n++] = (struct stat_row){"heuristic_commits",
	                              atomic_load(&s->heuristic[0])};
	rows[n++] = (struct stat_row){"heuristic_aborts",
	                              atomic_load(&s->heuristic[1])};
	return n;
}

void
coord_handle_stats(struct cctx *cc, struct coordinator *co)
{
	struct stat_row rows[STAT_ROWS];
	struct wire_buf b;
	size_t n = collect(co, rows);
	char v[24];

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_COLUMN, "name");
	wire_put_str(&b, WIRE_T_COLUMN, "value");
	for (size_t i = 0; i < n; i++) {
		snprintf(v, sizeof(v), "%" PRIu64, rows[i].value);
		wire_put_str(&b, WIRE_T_CELL, rows[i].name);
		wire_put_str(&b, WIRE_T_CELL, v);
	}
	cctx_reply(cc, &b);
	wire_buf_free(&b);
}

/* A STATS row as a Prometheus metric. */
struct metric_def {
	const char *stat, *name, *type, *help;
};

static const struct metric_def metric_defs[] = {
    {"begun", "xact_transactions_begun_total", "counter",
     "Transactions begun (a leased gid counts once used)."},
    {"committed", "xact_transactions_committed_total", "counter",
     "Transactions committed."},
    {"aborted", "xact_transactions_aborted_total", "counter",
     "Transactions aborted."},
    {"one_phase", "xact_one_phase_commits_total", "counter",
     "Single-participant transactions committed in one phase."},
    {"bad_requests", "xact_bad_requests_total", "counter",
     "Requests dropped as malformed or misdirected."},
    {"in_flight", "xact_transactions_in_flight", "gauge",
     "Transactions begun and not yet forgotten."},
    {"leased", "xact_transactions_leased", "gauge",
     "Gids leased to clients and not used yet."},
    {"open_commits", "xact_decision_log_open_commits", "gauge",
     "COMMIT records whose participants have not all acked."},
    {"log_records", "xact_decision_log_records_total", "counter",
     "Records appended to the decision log."},
    {"log_batches", "xact_decision_log_batches_total", "counter",
     "Group-commit batches written to the decision log."},
    {"log_syncs", "xact_decision_log_fsyncs_total", "counter",
     "fdatasync calls on the decision log."},
    {"log_bytes", "xact_decision_log_bytes_total", "counter",
     "Bytes appended to the decision log."},
    {"cpu_user_us", "xact_cpu_user_microseconds_total", "counter",
     "User CPU time of the coordinator process."},
    {"cpu_system_us", "xact_cpu_system_microseconds_total", "counter",
     "System CPU time of the coordinator process."},
    {"incarnation", "xact_coordinator_incarnation", "gauge",
     "This start's incarnation: the decision log's first (the wall clock "
     "in ms when it began) plus the restarts since."},
    {"heuristic_commits", "xact_heuristic_commits_total", "counter",
     "Operators' commit decisions recorded (xactctl resolve)."},
    {"heuristic_aborts", "xact_heuristic_aborts_total", "counter",
     "Operators' abort decisions recorded (xactctl resolve)."},
};

static void
put_aborts(struct metrics_text *t, struct coord_stats *s)
{
	const char *names[TWOPC_ABORT_KINDS];
	uint64_t xs[TWOPC_ABORT_KINDS];
	size_t n = 0;

	for (int k = TWOPC_ABORT_NONE + 1; k < TWOPC_ABORT_KINDS; k++) {
		names[n] = twopc_abort_kind_name((enum twopc_abort_kind)k);
		xs[n++] = atomic_load(&s->aborts[k]);
	}
	metrics_put_labelled(t, "xact_aborts_total", "counter",
	                     "Transactions aborted, by why.", "reason", names,
	                     xs, n);
}

static void
put_peers(struct metrics_text *t, struct coordinator *co)
{
	const char *names[DLOG_MAX_NAMES];
	uint64_t up[DLOG_MAX_NAMES], failed[DLOG_MAX_NAMES];

	for (size_t i = 0; i < co->npeers; i++) {
		names[i] = co->cfg->participants[i].name;
		up[i] = !atomic_load(&co->stats.peer_down[i]);
		failed[i] = atomic_load(&co->stats.peer_failures[i]);
	}
	metrics_put_labelled(t, "xact_participant_up", "gauge",
	                     "1 if the last request to the participant was "
	                     "answered (or none was sent yet).",
	                     "participant", names, up, co->npeers);
	metrics_put_labelled(t, "xact_participant_failed_requests_total",
	                     "counter",
	                     "Requests to the participant that got no answer.",
	                     "participant", names, failed, co->npeers);
}

void
coord_render_metrics(void *arg, struct metrics_text *t)
{
	struct coordinator *co = arg;
	struct stat_row rows[STAT_ROWS];
	size_t n = collect(co, rows);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0;
		     j < sizeof(metric_defs) / sizeof(*metric_defs); j++)
			if (strcmp(rows[i].name, metric_defs[j].stat) == 0)
				metrics_put(t, metric_defs[j].name,
				            metric_defs[j].type,
				            metric_defs[j].help, rows[i].value);
	metrics_put(t, "xact_past_outcomes_resolving", "gauge",
	            "Past transactions whose outcome is being asked of the "
	            "participants.",
	            atomic_load(&co->resolvers));
	put_aborts(t, &co->stats);
	put_peers(t, co);
	metrics_put_histogram(t, "xact_commit_seconds",
	                      "From the commit request to the outcome.",
	                      &co->stats.commit_latency);
	metrics_put_histogram(t, "xact_phase1_seconds",
	                      "Two-phase commit: from PREPARE sent to the last "
	                      "vote.",
	                      &co->stats.phase1);
	metrics_put_histogram(
	    t, "xact_phase2_seconds",
	    "Two-phase commit: from the COMMIT record durable "
	    "to the last participant's ack.",
	    &co->stats.phase2);
}

const char *
coord_health(void *arg)
{
	struct coordinator *co = arg;

	return atomic_load(&co->draining) || atomic_load(&co->stopping)
	           ? "stopping"
	           : NULL;
}
