/*
 * /metrics and /healthz over NNG's HTTP server (metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "log.h"

/* Room for the exposition: each daemon writes a few dozen samples. */
#define TEXT_CAP (128 * 1024)

struct metrics {
	nng_http_server *srv;
	metrics_render_fn render;
	metrics_health_fn health;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned running; /* handlers inside render or health */
	bool stopping;    /* from now on they answer 503, touching nothing */
};

/*
 * NNG does not wait for a handler it has started when the server stops:
 * a stopped one stays here (reachable, not freed) so that a late handler
 * finds it stopping instead of freed memory. A daemon stops once.
 */
static struct metrics *retired;

/* Whether the handler may call render or health; leave() after. */
static bool
enter(struct metrics *m)
{
	bool ok;

	pthread_mutex_lock(&m->mu);
	ok = !m->stopping;
	m->running += ok;
	pthread_mutex_unlock(&m->mu);
	return ok;
}

static void
leave(struct metrics *m)
{
	pthread_mutex_lock(&m->mu);
	if (--m->running == 0)
		pthread_cond_broadcast(&m->idle);
	pthread_mutex_unlock(&m->mu);
}

static void
put(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len)
		t->full = true;
	else
		t->len += (size_t)n;
}

void
metrics_put(struct metrics_text *t, const char *name, const char *type,
            const char *help, uint64_t value)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name,
	    type, name, value);
}

void
metrics_put_labelled(struct metrics_text *t, const char *name, const char *type,
                     const char *help, const char *label,
                     const char *const *values, const uint64_t *xs, size_t n)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++)
		put(t, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, values[i],
		    xs[i]);
}

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bucket_us[METRICS_BUCKETS - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000};

void
metrics_observe(struct metrics_histogram *h, uint64_t us)
{
	size_t i = 0;

	while (i < METRICS_BUCKETS - 1 && us > bucket_us[i])
		i++;
	atomic_fetch_add(&h->le[i], 1);
	atomic_fetch_add(&h->sum_us, us);
}

void
metrics_put_histogram(struct metrics_text *t, const char *name,
                      const char *help, struct metrics_histogram *h)
{
	uint64_t cum = 0;

	put(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		cum += atomic_load(&h->le[i]);
		if (i < METRICS_BUCKETS - 1)
			put(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			    (double)bucket_us[i] / 1e6, cum);
		else
			put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
			    cum);
	}
	put(t, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
	    (double)atomic_load(&h->sum_us) / 1e6, name, cum);
}

/* Answer with status and a text body; on failure, NNG answers 500. */
static void
respond(nng_aio *aio, uint16_t status, const char *type, const char *body,
        size_t len)
{
	nng_http_res *res;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", type)) != 0 ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static struct metrics *
handler_metrics(nng_aio *aio)
{
	return nng_http_handler_get_data(nng_aio_get_input(aio, 1));
}

static void
on_metrics(nng_aio *aio)
{
	struct metrics *m = handler_metrics(aio);
	struct metrics_text t = {.cap = TEXT_CAP};

	if (!enter(m)) {
		static const char msg[] = "stopping\n";

		respond(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
		        msg, sizeof(msg) - 1);
		return;
	}
	if ((t.buf = malloc(t.cap)) == NULL) {
		leave(m);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	m->render(m->arg, &t);
	leave(m);
	if (t.full) {
		static const char msg[] = "metrics exceed their buffer\n";

		respond(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR,
		        "text/plain", msg, sizeof(msg) - 1);
	} else {
		respond(aio, NNG_HTTP_STATUS_OK,
		        "text/plain; version=0.0.4; charset=utf-8", t.buf,
		        t.len);
	}
	free(t.buf);
}

static void
on_healthz(nng_aio *aio)
{
	struct metrics *m = handler_metrics(aio);
	const char *why = "stopping";
	char body[256];
	int n;

	if (enter(m)) {
		why = m->health(m->arg);
		n = snprintf(body, sizeof(body), "%s\n",
		             why == NULL ? "ok" : why);
		leave(m);
	} else {
		n = snprintf(body, sizeof(body), "%s\n", why);
	}
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	respond(aio,
	        why == NULL ? NNG_HTTP_STATUS_OK
	                    : NNG_HTTP_STATUS_SERVICE_UNAVAILABLE,
	        "text/plain; charset=utf-8", body, (size_t)n);
}

static int
add(struct metrics *m, const char *path, void (*fn)(nng_aio *))
{
	nng_http_handler *h;
	int rv;

	if ((rv = nng_http_handler_alloc(&h, path, fn)) != 0)
		return rv;
	if ((rv = nng_http_handler_set_method(h, "GET")) != 0 ||
	    (rv = nng_http_handler_set_data(h, m, NULL)) != 0 ||
	    (rv = nng_http_server_add_handler(m->srv, h)) != 0) {
		nng_http_handler_free(h);
		return rv;
	}
	return 0;
}

int
metrics_start(const char *url, metrics_render_fn render,
              metrics_health_fn health, void *arg, struct metrics **out,
              char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	nng_url *u = NULL;
	int rv;

	*out = NULL;
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->render = render;
	m->health = health;
	m->arg = arg;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->idle, NULL);
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    strcmp(u->u_scheme, "http") != 0) {
		snprintf(err, errlen,
		         "metrics.listen \"%s\": want http://HOST:PORT", url);
		nng_url_free(u);
		free(m);
		return -1;
	}
	rv = nng_http_server_hold(&m->srv, u);
	nng_url_free(u);
	if (rv == 0 && (rv = add(m, "/metrics", on_metrics)) == 0 &&
	    (rv = add(m, "/healthz", on_healthz)) == 0 &&
	    (rv = nng_http_server_start(m->srv)) == 0) {
		xlog_info("serving /metrics and /healthz on %s", url);
		*out = m;
		return 0;
	}
	snprintf(err, errlen, "cannot serve metrics on %s: %s", url,
	         nng_strerror(rv));
	if (m->srv != NULL)
		nng_http_server_release(m->srv);
	free(m);
	return -1;
}

void
metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stopping = true;
	while (m->running > 0)
		pthread_cond_wait(&m->idle, &m->mu);
	pthread_mutex_unlock(&m->mu);
	nng_http_server_stop(m->srv);
	nng_http_server_release(m->srv);
	free(retired);
	retired = m;
}
