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
/* Stop serving (waits for running handlers); NULL is fine. */
void metrics_stop(struct metrics *m);

#endif
