/*
 * metrics: a daemon's GET /metrics (Prometheus text format, 0.0.4) and
 * GET /healthz, served by NNG's HTTP server on their own address.
 *
 * The two callbacks run on NNG's threads: they read counters and flags and
 * never block (no database, no lock held for long).
 */
#ifndef XACT_METRICS_H
#define XACT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The exposition being written; full when it ran out of room. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	bool full;
};

/* One sample with its HELP and TYPE lines; type "counter" or "gauge". */
void metrics_put(struct metrics_text *t, const char *name, const char *type,
                 const char *help, uint64_t value);

/* The same metric with one label over n values: name{label="v"} x. */
void metrics_put_labelled(struct metrics_text *t, const char *name,
                          const char *type, const char *help, const char *label,
                          const char *const *values, const uint64_t *xs,
                          size_t n);

/*
 * A latency histogram with fixed buckets (1 ms to 10 s), safe to observe
 * from any thread; zero-initialised is empty.
 */
#define METRICS_BUCKETS 14
struct metrics_histogram {
	_Atomic uint64_t le[METRICS_BUCKETS]; /* not cumulative */
	_Atomic uint64_t sum_us;
};
void metrics_observe(struct metrics_histogram *h, uint64_t us);
/* Rendered in seconds: name_bucket{le=...}, name_sum, name_count. */
void metrics_put_histogram(struct metrics_text *t, const char *name,
                           const char *help, struct metrics_histogram *h);

/* Writes every metric of the daemon into t. */
typedef void (*metrics_render_fn)(void *arg, struct metrics_text *t);
/* NULL when healthy, else why not (one line). */
typedef const char *(*metrics_health_fn)(void *arg);

struct metrics;

/*
 * Serve on url ("http://HOST:PORT"). Returns 0, or -1 with a one-line
 * reason in err.
 */
int metrics_start(const char *url, metrics_render_fn render,
                  metrics_health_fn health, void *arg, struct metrics **out,
                  char *err, size_t errlen);
/* Stop serving: waits for handlers inside render or health, and later
 * ones answer 503 without calling them; NULL is fine. */
void metrics_stop(struct metrics *m);

#endif
