#include "api.h"

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_request.h"
#include "log.h"
#include "wire.h"
#include "xact.h"

/*
 * NNG refuses a longer body itself (400, an HTML page, the connection
 * closed); up to here api_request_parse() says 413 in JSON.
 */
#define COLLECT_MAX (API_MAX_BODY + (64u << 10))

/* Requests (and their bytes) waiting for a worker; more get 503 at once. */
#define API_QUEUE_MAX   1024
#define API_QUEUE_BYTES (32u << 20)

struct job {
	struct job *next;
	nng_aio *aio;
	size_t bytes; /* of its body */
	struct api_request req;
};

struct api {
	nng_http_server *srv;
	char coord_url[128];
	unsigned timeout_ms;
	pthread_mutex_t mu; /* guards the queue and stopping */
	pthread_cond_t cv;
	struct job *head, *tail;
	size_t queued, queued_bytes;
	bool stopping;
	/* The owner's and each registered handler's: the handlers may
	 * outlive api_stop in a server shared with metrics.listen. */
	unsigned refs;
	bool started; /* nng_http_server_start() succeeded */
	pthread_t *workers;
	size_t nworkers;
};

static void
api_unref(void *arg)
{
	struct api *a = arg;
	bool last;

	pthread_mutex_lock(&a->mu);
	last = --a->refs == 0;
	pthread_mutex_unlock(&a->mu);
	if (!last)
		return;
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->workers);
	free(a);
}

/* ---- answers ---- */

/* A JSON string of s, bytes that are not UTF-8 replaced by '?'. */
static json_t *
jstr(const char *s)
{
	size_t n = strlen(s), i = 0;
	json_t *j = json_stringn(s, n);
	char *t;

	if (j != NULL || (t = malloc(n + 1)) == NULL)
		return j;
	while (i < n) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t len = u[0] < 0x80   ? 1
		             : u[0] < 0xc2 ? 0
		             : u[0] < 0xe0 ? 2
		             : u[0] < 0xf0 ? 3
		             : u[0] < 0xf5 ? 4
		                           : 0;
		size_t k = 1;

		/* Continuations, and no overlong, surrogate or > U+10FFFF. */
		while (len > 1 && k < len && i + k < n &&
		       (u[k] & 0xc0) == 0x80 &&
		       !(k == 1 && ((u[0] == 0xe0 && u[1] < 0xa0) ||
		                    (u[0] == 0xed && u[1] > 0x9f) ||
		                    (u[0] == 0xf0 && u[1] < 0x90) ||
		                    (u[0] == 0xf4 && u[1] > 0x8f))))
			k++;
		if (len == 0 || k < len) {
			t[i++] = '?';
			continue;
		}
		memcpy(t + i, u, len);
		i += len;
	}
	t[n] = '\0';
	j = json_stringn(t, n);
	free(t);
	return j;
}

/* ---- answers ---- */

/* Answer status with body (consumed), one line of JSON. */
static void
respond(nng_aio *aio, uint16_t status, json_t *body)
{
	char *text =
	    body != NULL ? json_dumps(body, JSON_PRESERVE_ORDER) : NULL;
	size_t len = text != NULL ? strlen(text) : 0;
	nng_http_res *res = NULL;
	int rv = NNG_ENOMEM;

	json_decref(body);
	if (body == NULL) {
		static const char oops[] = "{\"error\": \"the answer could not "
		                           "be encoded\"}\n";

		status = 500;
		len = sizeof(oops) - 1;
		if ((text = malloc(len + 1)) != NULL)
			memcpy(text, oops, len + 1);
		len--; /* the newline goes back on below */
	}
	if (text != NULL && (rv = nng_http_res_alloc(&res)) == 0) {
		text[len] = '\n'; /* over the NUL: the length is given */
		if ((rv = nng_http_res_set_status(res, status)) != 0 ||
		    (rv = nng_http_res_set_header(res, "Content-Type",
		                                  "application/json")) != 0 ||
		    (rv = nng_http_res_copy_data(res, text, len + 1)) != 0) {
			nng_http_res_free(res);
			res = NULL;
		}
	}
	free(text);
	if (res != NULL)
		nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, rv);
}

static void
respond_error(nng_aio *aio, uint16_t status, const char *msg)
{
	respond(aio, status, json_pack("{s:o}", "error", jstr(msg)));
}

/* The HTTP status of a call that failed on c. */
static uint16_t
failed_status(const xact_conn *c)
{
	switch (xact_errcode(c)) {
	case XACT_E_BAD_REQUEST:
	case XACT_E_UNKNOWN_NAME:
		return 400;
	case XACT_E_UNKNOWN_TX:
		return 404;
	case XACT_E_BUSY:
	case XACT_E_NOT_ACTIVE:
	case XACT_E_CONFLICT:
		return 409;
	case XACT_E_LIMIT:
		return 429;
	case XACT_E_INTERNAL:
		return 500;
	case XACT_E_UNAVAILABLE:
	case XACT_E_SHUTTING_DOWN:
		return 503;
	case XACT_E_NONE:
		break;
	}
	return 504; /* no answer: an outcome may be unknown */
}

/*
 * A failed call: its error and, when the outcome may be unknown here (no
 * answer, or a participant that did not answer), the gid to ask about.
 */
static void
respond_failed(nng_aio *aio, xact_conn *c, const char *gid)
{
	json_t *j = json_pack("{s:o}", "error", jstr(xact_errmsg(c)));
	uint16_t status = failed_status(c);

	if (j != NULL && (status == 503 || status == 504) && gid != NULL &&
	    gid[0] != '\0')
		json_object_set_new(j, "gid", json_string(gid));
	respond(aio, status, j);
}

/* why: c's error says why it aborted (not for a status). */
static void
respond_outcome(nng_aio *aio, xact_conn *c, const char *gid, xact_outcome o,
                bool why)
{
	json_t *j = json_pack("{s:s, s:s}", "gid", gid, "outcome",
	                      wire_outcome_name((enum wire_outcome)o));

	if (j != NULL && why && o == XACT_ABORTED && xact_errmsg(c)[0] != '\0')
		json_object_set_new(j, "reason", jstr(xact_errmsg(c)));
	respond(aio, 200, j);
}

static void
respond_result(nng_aio *aio, const xact_result *r)
{
	json_t *cols = json_array(), *rows = json_array(), *j;

	if (xact_result_sqlstate(r) != NULL) {
		json_decref(cols);
		json_decref(rows);
		respond(aio, 422,
		        json_pack("{s:o, s:o}", "error",
		                  jstr(xact_result_message(r) != NULL
		                           ? xact_result_message(r)
		                           : ""),
		                  "sqlstate", jstr(xact_result_sqlstate(r))));
		return;
	}
	for (size_t i = 0; i < xact_result_ncols(r); i++)
		json_array_append_new(cols, jstr(xact_result_colname(r, i)));
	for (size_t i = 0; i < xact_result_nrows(r); i++) {
		json_t *row = json_array();

		for (size_t k = 0; k < xact_result_ncols(r); k++) {
			const char *v = xact_result_value(r, i, k);

			json_array_append_new(row, v != NULL ? jstr(v)
			                                     : json_null());
		}
		json_array_append_new(rows, row);
	}
	j = json_pack("{s:I, s:o, s:o}", "affected",
	              (json_int_t)xact_result_affected(r), "columns", cols,
	              "rows", rows);
	respond(aio, 200, j);
}

/* ---- the calls, on a worker thread ---- */

/* c's protocol is the request's (for a BEGIN or a SUBMIT). */
static void
run(xact_conn *c, struct job *job)
{
	const struct api_request *q = &job->req;
	char gid[XACT_GID_MAX] = "";
	xact_result *r = NULL;
	xact_tx *tx = NULL;
	xact_outcome o;

	switch (q->call) {
	case API_SUBMIT:
		if (xact_submit(c, q->branches, q->nbranches, gid, &o) != 0)
			respond_failed(job->aio, c, gid);
		else
			respond_outcome(job->aio, c, gid, o, true);
		return;
	case API_BEGIN:
		if (xact_begin(c, &tx) != 0)
			respond_failed(job->aio, c, NULL);
		else
			respond(job->aio, 200,
			        json_pack("{s:s}", "gid", xact_tx_gid(tx)));
		break;
	case API_EXEC:
		if (xact_tx_resume(c, q->gid, q->seq - 1, &tx) != 0 ||
		    xact_exec(tx, q->participant, q->sql, &r) != 0)
			respond_failed(job->aio, c, NULL);
		else
			respond_result(job->aio, r);
		xact_result_free(r);
		break;
	case API_COMMIT:
		if (xact_tx_resume(c, q->gid, 0, &tx) != 0 ||
		    xact_commit(tx, &o) != 0)
			respond_failed(job->aio, c, q->gid);
		else
			respond_outcome(job->aio, c, q->gid, o, true);
		break;
	case API_ROLLBACK:
		if (xact_tx_resume(c, q->gid, 0, &tx) != 0 ||
		    xact_rollback(tx) != 0)
			respond_failed(job->aio, c, q->gid);
		else
			respond(job->aio, 200,
			        json_pack("{s:s, s:s}", "gid", q->gid,
			                  "outcome", "aborted"));
		break;
	case API_STATUS:
		if (xact_status(c, q->gid, &o) != 0)
			respond_failed(job->aio, c, NULL);
		else
			respond_outcome(job->aio, c, q->gid, o, false);
		return;
	}
	xact_tx_free(tx);
}

static struct job *
take_job(struct api *a)
{
	struct job *j;

	pthread_mutex_lock(&a->mu);
	while (a->head == NULL && !a->stopping)
		pthread_cond_wait(&a->cv, &a->mu);
	if ((j = a->head) != NULL) {
		a->head = j->next;
		if (a->head == NULL)
			a->tail = NULL;
		a->queued--;
		a->queued_bytes -= j->bytes;
	}
	pthread_mutex_unlock(&a->mu);
	return j;
}

static void *
worker_main(void *arg)
{
	struct api *a = arg;
	/* One per protocol: a lease of gids is for one protocol. */
	xact_conn *conns[XACT_PROTOCOL_3PC + 1] = {NULL};
	struct job *j;

	while ((j = take_job(a)) != NULL) {
		bool fresh =
		    j->req.call == API_SUBMIT || j->req.call == API_BEGIN;
		xact_protocol p = fresh ? j->req.protocol : 0;
		xact_conn **c = &conns[p];
		bool stopping;

		pthread_mutex_lock(&a->mu);
		stopping = a->stopping;
		pthread_mutex_unlock(&a->mu);
		if (stopping) {
			respond_error(j->aio, 503,
			              "the coordinator is stopping");
		} else if (*c == NULL &&
		           (xact_connect(a->coord_url, a->timeout_ms, c) != 0 ||
		            xact_set_protocol(*c, p) != 0)) {
			respond_error(j->aio, 503,
			              *c != NULL ? xact_errmsg(*c)
			                         : "out of memory");
			xact_disconnect(*c);
			*c = NULL;
		} else {
			run(*c, j);
		}
		api_request_free(&j->req);
		free(j);
	}
	for (size_t i = 0; i < sizeof(conns) / sizeof(*conns); i++)
		xact_disconnect(conns[i]);
	return NULL;
}

/* ---- the HTTP side, on NNG's threads: never blocks ---- */

static void
on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	struct api *a = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
	struct job *j = calloc(1, sizeof(*j));
	void *body;
	size_t len;
	char err[256];
	int status;

	if (j == NULL) {
		respond_error(aio, 500, "out of memory");
		return;
	}
	nng_http_req_get_data(req, &body, &len);
	status = api_request_parse(nng_http_req_get_method(req),
	                           nng_http_req_get_uri(req), body, len,
	                           &j->req, err, sizeof(err));
	if (status != 0) {
		free(j);
		xlog_debug("api: %s %s: %d %s", nng_http_req_get_method(req),
		           nng_http_req_get_uri(req), status, err);
		respond_error(aio, (uint16_t)status, err);
		return;
	}
	j->aio = aio;
	j->bytes = len;
	pthread_mutex_lock(&a->mu);
	if (a->stopping || a->queued >= API_QUEUE_MAX ||
	    a->queued_bytes + len > API_QUEUE_BYTES) {
		bool stopping = a->stopping;

		pthread_mutex_unlock(&a->mu);
		api_request_free(&j->req);
		free(j);
		respond_error(aio, 503,
		              stopping ? "the coordinator is stopping"
		                       : "too many requests waiting: retry");
		return;
	}
	if (a->tail != NULL)
		a->tail->next = j;
	else
		a->head = j;
	a->tail = j;
	a->queued++;
	a->queued_bytes += len;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/*
 * One handler per path, any method (api_request_parse says 405). A tree
 * takes the paths under it: "/v1/status/GID", and "/" for everything
 * else (a 404 in JSON rather than NNG's HTML page).
 */
static int
add_handler(struct api *a, const char *path, bool body, bool tree)
{
	nng_http_handler *h;
	int rv;

	if ((rv = nng_http_handler_alloc(&h, path, on_request)) != 0)
		return rv;
	pthread_mutex_lock(&a->mu);
	a->refs++; /* the handler's, released by api_unref */
	pthread_mutex_unlock(&a->mu);
	if ((rv = nng_http_handler_set_data(h, a, api_unref)) != 0) {
		api_unref(a);
		nng_http_handler_free(h);
		return rv;
	}
	if ((rv = nng_http_handler_set_method(h, NULL)) != 0 ||
	    (rv = nng_http_handler_collect_body(h, body, COLLECT_MAX)) != 0 ||
	    (tree && (rv = nng_http_handler_set_tree(h)) != 0) ||
	    (rv = nng_http_server_add_handler(a->srv, h)) != 0) {
		nng_http_handler_free(h);
		return rv;
	}
	return 0;
}

int
api_start(const char *url, const char *coord_url, unsigned workers,
          unsigned timeout_ms, struct api **out, char *err, size_t errlen)
{
	static const char *const posts[] = {"/v1/submit", "/v1/begin",
	                                    "/v1/exec", "/v1/commit",
	                                    "/v1/rollback"};
	struct api *a = calloc(1, sizeof(*a));
	nng_url *u = NULL;
	int rv;

	*out = NULL;
	if (a == NULL ||
	    (a->workers = calloc(workers, sizeof(pthread_t))) == NULL) {
		free(a);
		snprintf(err, errlen, "api: out of memory");
		return -1;
	}
	snprintf(a->coord_url, sizeof(a->coord_url), "%s", coord_url);
	a->timeout_ms = timeout_ms;
	a->refs = 1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    (rv = nng_http_server_hold(&a->srv, u)) != 0) {
		snprintf(err, errlen, "api.listen %s: %s", url,
		         nng_strerror(rv));
		nng_url_free(u);
		api_stop(a);
		return -1;
	}
	nng_url_free(u);
	for (size_t i = 0; i < sizeof(posts) / sizeof(*posts) && rv == 0; i++)
		rv = add_handler(a, posts[i], true, false);
	if (rv == 0)
		rv = add_handler(a, "/v1/status", false, true);
	if (rv == 0)
		rv = add_handler(a, "/", true, true);
	if (rv == 0 && (rv = nng_http_server_start(a->srv)) == 0)
		a->started = true;
	while (rv == 0 && a->nworkers < workers) {
		if (pthread_create(&a->workers[a->nworkers], NULL, worker_main,
		                   a) != 0)
			rv = NNG_ENOMEM;
		else
			a->nworkers++;
	}
	if (rv != 0) {
		snprintf(err, errlen, "api.listen %s: %s", url,
		         nng_strerror(rv));
		api_stop(a);
		return -1;
	}
	*out = a;
	return 0;
}

void
api_stop(struct api *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	/* Every queued request is answered before the server stops. */
	for (size_t i = 0; i < a->nworkers; i++)
		pthread_join(a->workers[i], NULL);
	if (a->started)
		nng_http_server_stop(a->srv);
	if (a->srv != NULL)
		nng_http_server_release(a->srv); /* frees our handlers */
	api_unref(a);
}
