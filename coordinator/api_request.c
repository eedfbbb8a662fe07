#include "api_request.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
bad(int status, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

/* Every key of o is one of the NULL-terminated allowed. */
static int
only_keys(json_t *o, const char *const *allowed, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		size_t i = 0;

		(void)v;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL)
			return bad(400, err, errlen, "unknown field \"%.64s\"",
			           key);
	}
	return 0;
}

/* A non-empty string member, or NULL with err set. */
static const char *
need_str(json_t *o, const char *key, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) == 0) {
		bad(400, err, errlen, "\"%s\" must be a non-empty string", key);
		return NULL;
	}
	return json_string_value(v);
}

static int
take_gid(json_t *o, struct api_request *r, char *err, size_t errlen)
{
	const char *gid = need_str(o, "gid", err, errlen);

	if (gid == NULL)
		return 400;
	if (strlen(gid) >= sizeof(r->gid))
		return bad(400, err, errlen, "\"gid\" is longer than %zu bytes",
		           sizeof(r->gid) - 1);
	snprintf(r->gid, sizeof(r->gid), "%s", gid);
	return 0;
}

static int
take_protocol(json_t *o, struct api_request *r, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "protocol");
	const char *p;

	r->protocol = XACT_PROTOCOL_DEFAULT;
	if (v == NULL)
		return 0;
	p = json_string_value(v);
	if (p != NULL && strcmp(p, "2pc") == 0)
		r->protocol = XACT_PROTOCOL_2PC;
	else if (p != NULL && strcmp(p, "3pc") == 0)
		r->protocol = XACT_PROTOCOL_3PC;
	else
		return bad(400, err, errlen,
		           "\"protocol\" must be \"2pc\" or \"3pc\"");
	return 0;
}

static int
parse_branch(json_t *b, size_t i, struct xact_branch *out, char *err,
             size_t errlen)
{
	static const char *const keys[] = {"participant", "sql", NULL};
	json_t *sql = json_object_get(b, "sql"), *s;
	const char **stmts;
	size_t j;
	int rc;

	if (!json_is_object(b))
		return bad(400, err, errlen, "branch %zu is not an object", i);
	if ((rc = only_keys(b, keys, err, errlen)) != 0)
		return rc;
	if ((out->participant = need_str(b, "participant", err, errlen)) ==
	    NULL)
		return 400;
	if (!json_is_array(sql) || json_array_size(sql) == 0 ||
	    json_array_size(sql) > API_MAX_STATEMENTS)
		return bad(400, err, errlen,
		           "branch %zu: \"sql\" must be an array of 1 to %u "
		           "statements",
		           i, API_MAX_STATEMENTS);
	if ((stmts = calloc(json_array_size(sql), sizeof(*stmts))) == NULL)
		return bad(500, err, errlen, "out of memory");
	out->sql = stmts;
	out->nsql = json_array_size(sql);
	json_array_foreach(sql, j, s)
	{
		if (!json_is_string(s) || json_string_length(s) == 0)
			return bad(400, err, errlen,
			           "branch %zu: statement %zu must be a "
			           "non-empty string",
			           i, j);
		stmts[j] = json_string_value(s);
	}
	return 0;
}

static int
parse_submit(json_t *o, struct api_request *r, char *err, size_t errlen)
{
	static const char *const keys[] = {"branches", "protocol", NULL};
	json_t *bs = json_object_get(o, "branches"), *b;
	size_t i;
	int rc;

	if ((rc = only_keys(o, keys, err, errlen)) != 0 ||
	    (rc = take_protocol(o, r, err, errlen)) != 0)
		return rc;
	if (!json_is_array(bs) || json_array_size(bs) == 0 ||
	    json_array_size(bs) > API_MAX_BRANCHES)
		return bad(400, err, errlen,
		           "\"branches\" must be an array of 1 to %u branches",
		           API_MAX_BRANCHES);
	r->branches = calloc(json_array_size(bs), sizeof(*r->branches));
	if (r->branches == NULL)
		return bad(500, err, errlen, "out of memory");
	json_array_foreach(bs, i, b)
	{
		r->nbranches = i + 1; /* freed up to here on failure */
		if ((rc = parse_branch(b, i, &r->branches[i], err, errlen)) !=
		    0)
			return rc;
	}
	return 0;
}

static int
parse_exec(json_t *o, struct api_request *r, char *err, size_t errlen)
{
	static const char *const keys[] = {"gid", "seq", "participant", "sql",
	                                   NULL};
	json_t *seq = json_object_get(o, "seq");
	int rc;

	if ((rc = only_keys(o, keys, err, errlen)) != 0 ||
	    (rc = take_gid(o, r, err, errlen)) != 0)
		return rc;
	if (!json_is_integer(seq) || json_integer_value(seq) < 1)
		return bad(400, err, errlen,
		           "\"seq\" must be an integer from 1: the number of "
		           "the statement in its transaction");
	r->seq = (uint64_t)json_integer_value(seq);
	if ((r->participant = need_str(o, "participant", err, errlen)) ==
	        NULL ||
	    (r->sql = need_str(o, "sql", err, errlen)) == NULL)
		return 400;
	return 0;
}

static int
parse_body(enum api_call call, json_t *o, struct api_request *r, char *err,
           size_t errlen)
{
	static const char *const gid_only[] = {"gid", NULL};
	static const char *const protocol_only[] = {"protocol", NULL};
	int rc;

	switch (call) {
	case API_SUBMIT:
		return parse_submit(o, r, err, errlen);
	case API_BEGIN:
		if ((rc = only_keys(o, protocol_only, err, errlen)) != 0)
			return rc;
		return take_protocol(o, r, err, errlen);
	case API_EXEC:
		return parse_exec(o, r, err, errlen);
	case API_COMMIT:
	case API_ROLLBACK:
		if ((rc = only_keys(o, gid_only, err, errlen)) != 0)
			return rc;
		return take_gid(o, r, err, errlen);
	case API_STATUS:
		break;
	}
	return 0;
}

/* The call a path names (without its query), or -1. */
static int
route(const char *path, size_t len, const char **rest)
{
	static const struct {
		const char *path;
		enum api_call call;
	} routes[] = {
	    {"/v1/submit", API_SUBMIT},     {"/v1/begin", API_BEGIN},
	    {"/v1/exec", API_EXEC},         {"/v1/commit", API_COMMIT},
	    {"/v1/rollback", API_ROLLBACK}, {"/v1/status/", API_STATUS},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
		size_t l = strlen(routes[i].path);

		if (routes[i].call == API_STATUS ? len > l : len == l) {
			if (strncmp(path, routes[i].path, l) == 0) {
				*rest = path + l;
				return (int)routes[i].call;
			}
		}
	}
	return -1;
}

int
api_request_parse(const char *method, const char *path, const void *body,
                  size_t len, struct api_request *out, char *err, size_t errlen)
{
	size_t plen = strcspn(path, "?");
	const char *rest;
	json_error_t je;
	json_t *doc;
	int call, rc;

	memset(out, 0, sizeof(*out));
	if ((call = route(path, plen, &rest)) < 0)
		return bad(404, err, errlen, "no such endpoint: %.*s",
		           (int)(plen < 64 ? plen : 64), path);
	out->call = (enum api_call)call;
	if (out->call == API_STATUS) {
		if (strcmp(method, "GET") != 0)
			return bad(405, err, errlen, "use GET for %s",
			           "status");
		if ((size_t)(path + plen - rest) >= sizeof(out->gid))
			return bad(400, err, errlen,
			           "gid longer than %zu bytes",
			           sizeof(out->gid) - 1);
		snprintf(out->gid, sizeof(out->gid), "%.*s",
		         (int)(path + plen - rest), rest);
		return 0;
	}
	if (strcmp(method, "POST") != 0)
		return bad(405, err, errlen, "use POST for %.*s", (int)plen,
		           path);
	if (len > API_MAX_BODY)
		return bad(413, err, errlen, "body of %zu bytes: at most %u",
		           len, API_MAX_BODY);
	if (len == 0 && out->call == API_BEGIN)
		return 0;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return bad(400, err, errlen,
		           "bad JSON at line %d column %d: %s", je.line,
		           je.column, je.text);
	out->doc = doc;
	rc = json_is_object(doc)
	         ? parse_body(out->call, doc, out, err, errlen)
	         : bad(400, err, errlen, "the body must be a JSON object");
	if (rc != 0) {
		api_request_free(out);
		return rc;
	}
	return 0;
}

void
api_request_free(struct api_request *r)
{
	for (size_t i = 0; i < r->nbranches; i++)
		free((void *)r->branches[i].sql);
	free(r->branches);
	json_decref(r->doc);
	memset(r, 0, sizeof(*r));
}
