/*
 * config: YAML files -> struct coord_config / struct part_config.
 *
 * Every key of a daemon is one row of a static table (coord_keys,
 * part_keys): its dotted path, type, where it lives in the struct, default,
 * bounds, whether it is required and a line of help. Nothing else in this
 * file knows a key by name, so defaults, validation, error messages and
 * docs/config.md (cfg_dump_docs) cannot drift apart.
 *
 * Loading is two passes:
 *
 *   1. libyaml's event parser builds a small tree of maps, lists and
 *      scalars; each node keeps the 1-based line and column where it starts.
 *      Events rather than yaml_parser_load(), because the document API
 *      resolves aliases silently and forgets anchors, and we refuse both:
 *      a config is read by humans, and `*defaults` hides which value wins.
 *
 *   2. The tree is walked against the table. A map key extends the dotted
 *      path ("timeouts" + "vote"); a path that is a row is parsed by the
 *      row's type, a path that prefixes rows must be a map (a section), and
 *      anything else is an unknown key: a typo must never silently become
 *      a default.
 *
 * The first error stops the load and the partial result is freed, so a
 * caller holds either a complete, valid config or one message of the form
 *
 *   FILE:LINE:COL: KEY: what is wrong
 *
 * (LINE:COL or KEY are left out when there is none, e.g. a missing file or
 * a missing required key).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/*
 * Limits on input that no real config comes near; they keep a corrupt or
 * hostile file from exhausting the stack (recursion per nesting level) or
 * memory.
 */
#define CFG_MAX_DEPTH 16
#define CFG_MAX_NODES 100000
#define CFG_MAX_KEYS  32  /* rows in one table */
#define CFG_PATH_MAX  160 /* longest dotted key we print */
#define CFG_QUOTE_MAX 48  /* bytes of a bad value echoed back */
#define CFG_QUOTE_BUF (CFG_QUOTE_MAX * 4 + 8)
#define CFG_URL_MAX   255

#define MS(x)   ((uint64_t)(x))
#define SEC(x)  ((uint64_t)(x)*1000)
#define MIN(x)  ((uint64_t)(x)*60 * 1000)
#define HOUR(x) ((uint64_t)(x)*60 * 60 * 1000)
#define MIB(x)  ((uint64_t)(x) << 20)
#define GIB(x)  ((uint64_t)(x) << 30)

enum cfg_type {
	CFG_STRING,    /* non-empty text; min/max bound its length in bytes */
	CFG_URL,       /* NNG URL with a scheme we accept */
	CFG_HTTP_URL,  /* http://HOST:PORT, for NNG's HTTP server */
	CFG_NAME,      /* node id or participant name, as in gid.h */
	CFG_DURATION,  /* uint32_t milliseconds; min/max in ms */
	CFG_UINT,      /* uint32_t or uint64_t, chosen by the field's size */
	CFG_LEVEL,     /* enum xlog_level */
	CFG_ENDPOINTS, /* list of {item_key, url}; min/max bound its length */
	CFG_CHOICE,    /* uint32_t: the index of one of choices */
};

struct cfg_key {
	const char *key; /* dotted path, e.g. "timeouts.vote" */
	enum cfg_type type;
	size_t off;                 /* of the field in the config struct */
	size_t size;                /* of the field */
	size_t count_off;           /* CFG_ENDPOINTS: of the size_t count */
	const char *item_key;       /* CFG_ENDPOINTS: "name" or "node" */
	const char *const *choices; /* CFG_CHOICE: the words, NULL-ended */
	uint64_t def; /* used when absent; required rows have none */
	uint64_t min, max;
	bool required;
	const char *help; /* one sentence or two; no '|' (docs are a table) */
};

#define COORD(m)                                                               \
	.off = offsetof(struct coord_config, m),                               \
	.size = sizeof(((struct coord_config *)0)->m)
#define PART(m)                                                                \
	.off = offsetof(struct part_config, m),                                \
	.size = sizeof(((struct part_config *)0)->m)

static const char *const protocol_words[] = {
    [CFG_2PC] = "2pc", [CFG_3PC] = "3pc", NULL};
static const char *const mode_words[] = {
    [CFG_QUORUM] = "quorum", [CFG_PLAIN] = "plain", NULL};
static const char *const bool_words[] = {"false", "true", NULL};

static const struct cfg_key coord_keys[] = {
    {.key = "node",
     .type = CFG_NAME,
     COORD(node),
     .required = true,
     .help = "Id of this coordinator. It is written into every gid and tells "
             "participants whom to ask about an in-doubt branch, so it must be "
             "unique and must not change while any database or the log holds "
             "its transactions."},
    {.key = "listen",
     .type = CFG_URL,
     COORD(listen),
     .max = CFG_URL_MAX,
     .required = true,
     .help = "Where clients and participants' inquiries reach this "
             "coordinator."},
    {.key = "log_dir",
     .type = CFG_STRING,
     COORD(log_dir),
     .min = 1,
     .max = 4095,
     .required = true,
     .help = "Directory of the decision log. Losing it loses commit "
             "decisions: put it on durable storage, never on tmpfs in "
             "production."},
    {.key = "participants",
     .type = CFG_ENDPOINTS,
     COORD(participants),
     .count_off = offsetof(struct coord_config, nparticipants),
     .item_key = "name",
     .min = 1,
     .max = 256,
     .required = true,
     .help = "Every participant this coordinator may enlist, by name (as in "
             "the participant's own `name`) and URL. Names are unique."},
    {.key = "timeouts.vote",
     .type = CFG_DURATION,
     COORD(vote_timeout_ms),
     .def = SEC(5),
     .min = MS(1),
     .max = HOUR(1),
     .help = "Phase 1: a participant that has not voted after this long "
             "counts as NO and the transaction aborts."},
    {.key = "timeouts.idle",
     .type = CFG_DURATION,
     COORD(idle_timeout_ms),
     .def = SEC(60),
     .min = MS(1),
     .max = HOUR(1),
     .help = "An open transaction with no client request for this long is "
             "aborted, so a vanished client cannot hold locks forever."},
    {.key = "timeouts.request",
     .type = CFG_DURATION,
     COORD(request_timeout_ms),
     .def = SEC(30),
     .min = MS(1),
     .max = HOUR(1),
     .help = "Longest wait for a participant to run one forwarded "
             "statement."},
    {.key = "timeouts.commit_wait",
     .type = CFG_DURATION,
     COORD(commit_wait_ms),
     .def = SEC(5),
     .min = MS(1),
     .max = HOUR(1),
     .help = "How long a commit waits for phase-2 acks before answering the "
             "client. The decision is already durable; this only bounds how "
             "stale the client's view may be."},
    {.key = "timeouts.retry_max",
     .type = CFG_DURATION,
     COORD(retry_max_ms),
     .def = SEC(5),
     .min = MS(1),
     .max = HOUR(1),
     .help = "Cap of the backoff between COMMIT resends to a participant "
             "that has not acked. Resending never stops."},
    {.key = "protocol",
     .type = CFG_CHOICE,
     COORD(protocol),
     .choices = protocol_words,
     .def = CFG_2PC,
     .help = "Commit protocol of a transaction whose client does not choose "
             "one. 3pc lets participants finish without the coordinator, "
             "at the price of one more round trip (docs/protocols.md)."},
    {.key = "three_phase.mode",
     .type = CFG_CHOICE,
     COORD(three_phase_mode),
     .choices = mode_words,
     .def = CFG_QUORUM,
     .help = "3PC decisions need a majority of the participants (quorum: "
             "safe under network partitions, a minority waits) or whoever "
             "answers (plain: never waits for a crashed node, but two sides "
             "of a partition may decide differently)."},
    {.key = "one_phase",
     .type = CFG_CHOICE,
     COORD(one_phase),
     .choices = bool_words,
     .def = 1,
     .help = "A 2PC transaction with one participant commits in one phase: "
             "no PREPARE, no decision-log write; the participant keeps a "
             "marker row so that a lost answer can still be resolved."},
    {.key = "tls.ca",
     .type = CFG_STRING,
     COORD(tls_ca),
     .min = 1,
     .max = 4095,
     .help = "PEM file of the CA that signs every certificate this coordinator "
             "accepts on tls+tcp:// (mutual authentication: peers without "
             "one are refused). With tls.cert and tls.key."},
    {.key = "tls.cert",
     .type = CFG_STRING,
     COORD(tls_cert),
     .min = 1,
     .max = 4095,
     .help = "PEM file of this coordinator's certificate, shown to every peer "
             "on tls+tcp:// (listening and dialing); its name must match "
             "the host in the URLs others use for it."},
    {.key = "tls.key",
     .type = CFG_STRING,
     COORD(tls_key),
     .min = 1,
     .max = 4095,
     .help = "PEM file of the private key of tls.cert."},
    {.key = "metrics.listen",
     .type = CFG_HTTP_URL,
     COORD(metrics_listen),
     .max = CFG_URL_MAX,
     .help = "Where GET /metrics (Prometheus text format) and GET /healthz "
             "of this coordinator are served, e.g. http://127.0.0.1:9100. "
             "Absent: not served."},
    {.key = "api.listen",
     .type = CFG_HTTP_URL,
     COORD(api_listen),
     .max = CFG_URL_MAX,
     .help = "Where the HTTP/JSON API (docs/api.md) is served, e.g. "
             "http://127.0.0.1:7680. Absent: not served. Plain HTTP: "
             "bind it to a trusted address."},
    {.key = "api.workers",
     .type = CFG_UINT,
     COORD(api_workers),
     .def = 8,
     .min = 1,
     .max = 256,
     .help = "HTTP/JSON requests run at once; more wait in line."},
    {.key = "limits.message_bytes",
     .type = CFG_UINT,
     COORD(max_message_bytes),
     .def = MIB(16),
     .min = 4096,
     .max = MIB(16),
     .help = "Largest request taken from a client; a larger one is "
             "refused with an error (over 16 MiB NNG drops the "
             "connection)."},
    {.key = "limits.participants_per_transaction",
     .type = CFG_UINT,
     COORD(max_participants),
     .def = 64,
     .min = 1,
     .max = 255,
     .help = "Participants one transaction may touch."},
    {.key = "limits.statements_per_branch",
     .type = CFG_UINT,
     COORD(max_statements),
     .def = 10000,
     .min = 1,
     .max = 1000000,
     .help = "Statements one transaction may run at one participant."},
    {.key = "limits.open_per_client",
     .type = CFG_UINT,
     COORD(max_open_per_client),
     .def = 1000,
     .min = 16,
     .max = 1000000,
     .help = "Undecided transactions one client connection may hold, "
             "leased ones included (a client leases 8 at a time)."},
    {.key = "contexts",
     .type = CFG_UINT,
     COORD(contexts),
     .def = 256,
     .min = 1,
     .max = 4096,
     .help = "Client requests served concurrently (NNG contexts)."},
    {.key = "log_compact_bytes",
     .type = CFG_UINT,
     COORD(compact_bytes),
     .def = MIB(64),
     .min = MIB(1),
     .max = GIB(64),
     .help = "Size in bytes at which the decision log is compacted (ended "
             "transactions dropped)."},
    {.key = "log_level",
     .type = CFG_LEVEL,
     COORD(log_level),
     .def = XLOG_INFO,
     .help = "Lowest level written to stderr."},
};

static const struct cfg_key part_keys[] = {
    {.key = "name",
     .type = CFG_NAME,
     PART(name),
     .required = true,
     .help = "Name of this participant; coordinators list it under the same "
             "name."},
    {.key = "listen",
     .type = CFG_URL,
     PART(listen),
     .max = CFG_URL_MAX,
     .required = true,
     .help = "Where coordinators reach this participant."},
    {.key = "database",
     .type = CFG_STRING,
     PART(database),
     .min = 1,
     .max = 4095,
     .required = true,
     .help = "libpq conninfo of the database, e.g. `host=... port=... "
             "dbname=... user=...`. Its `max_prepared_transactions` must be at "
             "least `pool_size`, more if branches may stay in doubt."},
    {.key = "coordinators",
     .type = CFG_ENDPOINTS,
     PART(coordinators),
     .count_off = offsetof(struct part_config, ncoordinators),
     .item_key = "node",
     .min = 1,
     .max = 64,
     .required = true,
     .help = "Every coordinator whose gids may appear in this database, by "
             "node id and URL: the sweeper asks the node named in a gid about "
             "its in-doubt branch."},
    {.key = "pool_size",
     .type = CFG_UINT,
     PART(pool_size),
     .def = 16,
     .min = 1,
     .max = 1024,
     .help = "Database connections, hence transaction branches open at "
             "once."},
    {.key = "timeouts.statement",
     .type = CFG_DURATION,
     PART(statement_timeout_ms),
     .def = SEC(30),
     .min = MS(1),
     .max = HOUR(1),
     .help = "PostgreSQL statement_timeout of each statement run for a "
             "branch."},
    {.key = "timeouts.idle",
     .type = CFG_DURATION,
     PART(idle_timeout_ms),
     .def = SEC(120),
     .min = MS(1),
     .max = HOUR(1),
     .help = "A branch not yet prepared that hears nothing for this long is "
             "rolled back (it has not voted, so it may). Those a coordinator "
             "left open when it died go sooner: at the first branch of its "
             "next start."},
    {.key = "log_dir",
     .type = CFG_STRING,
     PART(log_dir),
     .min = 1,
     .max = 4095,
     .help = "Directory of the participant's 3PC log. Without it the "
             "participant votes NO on every 3PC transaction. Put it on "
             "durable storage."},
    {.key = "timeouts.termination",
     .type = CFG_DURATION,
     PART(termination_timeout_ms),
     .def = SEC(2),
     .min = MS(50),
     .max = HOUR(1),
     .help = "3PC: a prepared branch that hears nothing from its "
             "coordinator this long starts the termination protocol with "
             "the other participants (later for higher ranks)."},
    {.key = "sweep.interval",
     .type = CFG_DURATION,
     PART(sweep_interval_ms),
     .def = SEC(10),
     .min = MS(100),
     .max = HOUR(1),
     .help = "Period of the sweeper that resolves prepared branches left in "
             "`pg_prepared_xacts`."},
    {.key = "sweep.safety",
     .type = CFG_DURATION,
     PART(sweep_safety_ms),
     .def = SEC(30),
     .min = MS(1),
     .max = HOUR(1),
     .help = "A prepared branch younger than this is never rolled back by "
             "the sweeper, so it cannot race a live transaction."},
    {.key = "sweep.inquiry_timeout",
     .type = CFG_DURATION,
     PART(sweep_inquiry_ms),
     .def = SEC(2),
     .min = MS(10),
     .max = MIN(10),
     .help = "How long the sweeper waits for a coordinator's answer about an "
             "in-doubt branch; one that does not answer is asked again at "
             "the next sweep."},
    {.key = "one_phase.retention",
     .type = CFG_DURATION,
     PART(one_phase_retention_ms),
     .def = HOUR(1),
     .min = SEC(1),
     .max = HOUR(24 * 7),
     .help = "How long the marker of a one-phase commit (table "
             "`xact.one_phase`) is kept: its outcome can be asked for "
             "this long, and a one-phase request that waited here longer "
             "than half of it is not committed. Keep it well above any "
             "client's retry window."},
    {.key = "tls.ca",
     .type = CFG_STRING,
     PART(tls_ca),
     .min = 1,
     .max = 4095,
     .help = "PEM file of the CA that signs every certificate this participant "
             "accepts on tls+tcp:// (mutual authentication: peers without "
             "one are refused). With tls.cert and tls.key."},
    {.key = "tls.cert",
     .type = CFG_STRING,
     PART(tls_cert),
     .min = 1,
     .max = 4095,
     .help = "PEM file of this participant's certificate, shown to every peer "
             "on tls+tcp:// (listening and dialing); its name must match "
             "the host in the URLs others use for it."},
    {.key = "tls.key",
     .type = CFG_STRING,
     PART(tls_key),
     .min = 1,
     .max = 4095,
     .help = "PEM file of the private key of tls.cert."},
    {.key = "metrics.listen",
     .type = CFG_HTTP_URL,
     PART(metrics_listen),
     .max = CFG_URL_MAX,
     .help = "Where GET /metrics (Prometheus text format) and GET /healthz "
             "of this participant are served, e.g. http://127.0.0.1:9100. "
             "Absent: not served."},
    {.key = "contexts",
     .type = CFG_UINT,
     PART(contexts),
     .def = 256,
     .min = 1,
     .max = 4096,
     .help = "Coordinator requests served concurrently (NNG contexts)."},
    {.key = "log_level",
     .type = CFG_LEVEL,
     PART(log_level),
     .def = XLOG_INFO,
     .help = "Lowest level written to stderr."},
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* The fields of one endpoint entry, as rows so that they parse like keys. */
static const struct cfg_key item_name_row = {.type = CFG_NAME};
static const struct cfg_key item_url_row = {.type = CFG_URL,
                                            .max = CFG_URL_MAX};

static const char *const level_names[] = {
    [XLOG_DEBUG] = "debug",
    [XLOG_INFO] = "info",
    [XLOG_WARN] = "warn",
    [XLOG_ERROR] = "error",
};

/* ---- the YAML tree ---------------------------------------------------- */

enum ykind {
	YN_SCALAR,
	YN_MAP, /* kid[] holds key, value, key, value, ... */
	YN_SEQ,
	YN_ALIAS, /* kept only to be refused with its position */
};

struct ynode {
	enum ykind kind;
	unsigned line, col; /* 1-based */
	bool anchored;
	bool plain; /* unquoted scalar: only these can be null */
	char *str;  /* scalar text, NUL-terminated; may hold NULs inside */
	size_t len;
	struct ynode **kid;
	size_t nkid, cap;
};

struct loader {
	const char *path;
	char *err;
	size_t errlen;
	yaml_parser_t parser;
	size_t nodes;
	const struct cfg_key *keys;
	size_t nkeys;
	bool seen[CFG_MAX_KEYS];
	char *base; /* the config struct being filled */
};

static void
node_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkid; i++)
		node_free(n->kid[i]);
	free(n->kid);
	free(n->str);
	free(n);
}

static int
node_push(struct ynode *n, struct ynode *kid)
{
	if (n->nkid == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 8;
		struct ynode **k = realloc(n->kid, cap * sizeof(*k));

		if (k == NULL)
			return -1;
		n->kid = k;
		n->cap = cap;
	}
	n->kid[n->nkid++] = kid;
	return 0;
}

static unsigned
mark_pos(size_t v)
{
	return v >= UINT32_MAX ? UINT32_MAX : (unsigned)v + 1;
}

/* ---- error messages --------------------------------------------------- */

static int fail(struct loader *ld, const struct ynode *at, const char *key,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct loader *ld, const struct ynode *at, const char *key,
     const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL && key != NULL)
		snprintf(ld->err, ld->errlen, "%s:%u:%u: %s: %s", ld->path,
		         at->line, at->col, key, msg);
	else if (at != NULL)
		snprintf(ld->err, ld->errlen, "%s:%u:%u: %s", ld->path,
		         at->line, at->col, msg);
	else if (key != NULL)
		snprintf(ld->err, ld->errlen, "%s: %s: %s", ld->path, key, msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s", ld->path, msg);
	return -1;
}

/*
 * A user's value echoed in a message: quoted, control bytes escaped so a
 * message stays one line, and cut short so a pasted certificate does not
 * flood the log.
 */
static const char *
quote(char buf[CFG_QUOTE_BUF], const struct ynode *v)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = v->len, o = 0;
	bool cut = false;

	if (n > CFG_QUOTE_MAX) {
		n = CFG_QUOTE_MAX;
		/* Do not split a UTF-8 sequence. */
		while (n > 0 && ((unsigned char)v->str[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v->str[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	if (cut) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int
syntax_error(struct loader *ld)
{
	const yaml_parser_t *p = &ld->parser;
	const char *problem = p->problem ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		snprintf(ld->err, ld->errlen, "%s: out of memory", ld->path);
		break;
	case YAML_READER_ERROR: {
		char value[16] = "";

		/* libyaml's only non-encoding reader problem is a failed read.
		 */
		if (strcmp(problem, "input error") == 0) {
			snprintf(ld->err, ld->errlen, "%s: cannot read: %s",
			         ld->path, problem);
			break;
		}
		if (p->problem_value != -1)
			snprintf(value, sizeof(value), " (#%X)",
			         (unsigned)p->problem_value);
		/* No line/column here: the reader only knows the offset. */
		snprintf(ld->err, ld->errlen,
		         "%s: byte %zu: %s%s; the file must be UTF-8 text",
		         ld->path, p->problem_offset, problem, value);
		break;
	}
	case YAML_NO_ERROR:
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
	case YAML_COMPOSER_ERROR:
	case YAML_WRITER_ERROR:
	case YAML_EMITTER_ERROR:
		if (p->context != NULL)
			snprintf(ld->err, ld->errlen,
			         "%s:%u:%u: YAML syntax error: %s (%s at line "
			         "%u, column %u)",
			         ld->path, mark_pos(p->problem_mark.line),
			         mark_pos(p->problem_mark.column), problem,
			         p->context, mark_pos(p->context_mark.line),
			         mark_pos(p->context_mark.column));
		else
			snprintf(ld->err, ld->errlen,
			         "%s:%u:%u: YAML syntax error: %s", ld->path,
			         mark_pos(p->problem_mark.line),
			         mark_pos(p->problem_mark.column), problem);
		break;
	}
	return -1;
}

/* ---- pass 1: events -> tree ------------------------------------------- */

static int
next_event(struct loader *ld, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&ld->parser, ev))
		return syntax_error(ld);
	return 0;
}

/*
 * Build the node that ev starts, consuming ev and, for a map or a list,
 * every event up to its end.
 */
static int
tree_build(struct loader *ld, yaml_event_t *ev, unsigned depth,
           struct ynode **out)
{
	yaml_event_type_t end = YAML_NO_EVENT;
	struct ynode *n;

	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		yaml_event_delete(ev);
		return fail(ld, NULL, NULL, "out of memory");
	}
	n->line = mark_pos(ev->start_mark.line);
	n->col = mark_pos(ev->start_mark.column);
	if (++ld->nodes > CFG_MAX_NODES || depth > CFG_MAX_DEPTH) {
		yaml_event_delete(ev);
		fail(ld, n, NULL,
		     "the file is too large or nested too deeply "
		     "to be a config");
		goto fail;
	}

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n->kind = YN_SCALAR;
		n->anchored = ev->data.scalar.anchor != NULL;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		n->str = malloc(n->len + 1);
		if (n->str == NULL) {
			yaml_event_delete(ev);
			fail(ld, NULL, NULL, "out of memory");
			goto fail;
		}
		memcpy(n->str, ev->data.scalar.value, n->len);
		n->str[n->len] = '\0';
		break;
	case YAML_ALIAS_EVENT:
		n->kind = YN_ALIAS;
		break;
	case YAML_SEQUENCE_START_EVENT:
		n->kind = YN_SEQ;
		n->anchored = ev->data.sequence_start.anchor != NULL;
		end = YAML_SEQUENCE_END_EVENT;
		break;
	case YAML_MAPPING_START_EVENT:
		n->kind = YN_MAP;
		n->anchored = ev->data.mapping_start.anchor != NULL;
		end = YAML_MAPPING_END_EVENT;
		break;
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		/* libyaml only starts a node with the events above. */
		yaml_event_delete(ev);
		fail(ld, n, NULL, "unexpected YAML event");
		goto fail;
	}
	yaml_event_delete(ev);

	while (end != YAML_NO_EVENT) {
		yaml_event_t kev;
		struct ynode *kid;

		if (next_event(ld, &kev) != 0)
			goto fail;
		if (kev.type == end) {
			yaml_event_delete(&kev);
			break;
		}
		if (tree_build(ld, &kev, depth + 1, &kid) != 0)
			goto fail;
		if (node_push(n, kid) != 0) {
			node_free(kid);
			fail(ld, NULL, NULL, "out of memory");
			goto fail;
		}
	}
	*out = n;
	return 0;
fail:
	node_free(n);
	return -1;
}

/* Parse the one document of the file into *root. */
static int
tree_load(struct loader *ld, FILE *f, struct ynode **root)
{
	yaml_event_t ev;
	int rc = -1;

	*root = NULL;
	if (!yaml_parser_initialize(&ld->parser))
		return fail(ld, NULL, NULL, "out of memory");
	yaml_parser_set_input_file(&ld->parser, f);

	if (next_event(ld, &ev) != 0) /* stream start */
		goto out;
	yaml_event_delete(&ev);
	if (next_event(ld, &ev) != 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		fail(ld, NULL, NULL,
		     "the file is empty; expected a map of keys");
		goto out;
	}
	yaml_event_delete(&ev); /* document start */
	if (next_event(ld, &ev) != 0)
		goto out;
	if (tree_build(ld, &ev, 0, root) != 0)
		goto out;
	if (next_event(ld, &ev) != 0) /* document end */
		goto out;
	yaml_event_delete(&ev);
	if (next_event(ld, &ev) != 0)
		goto out;
	if (ev.type == YAML_DOCUMENT_START_EVENT) {
		struct ynode at = {.line = mark_pos(ev.start_mark.line),
		                   .col = mark_pos(ev.start_mark.column)};

		yaml_event_delete(&ev);
		fail(ld, &at, NULL,
		     "a second YAML document; a config is exactly one");
		goto out;
	}
	yaml_event_delete(&ev);
	rc = 0;
out:
	yaml_parser_delete(&ld->parser);
	if (rc != 0) {
		node_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- value parsers ---------------------------------------------------- */

static bool
is_null(const struct ynode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (n->kind != YN_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->str, nulls[i]) == 0)
			return true;
	return false;
}

static const char *
kind_name(const struct ynode *n)
{
	if (is_null(n))
		return "nothing";
	switch (n->kind) {
	case YN_SCALAR:
		return "a single value";
	case YN_MAP:
		return "a map";
	case YN_SEQ:
		return "a list";
	case YN_ALIAS:
		return "an alias";
	}
	return "?";
}

static const char *
type_desc(enum cfg_type t)
{
	switch (t) {
	case CFG_STRING:
		return "a string";
	case CFG_URL:
	case CFG_HTTP_URL:
		return "a URL";
	case CFG_NAME:
		return "a name";
	case CFG_DURATION:
		return "a duration";
	case CFG_UINT:
		return "an integer";
	case CFG_LEVEL:
		return "a log level";
	case CFG_ENDPOINTS:
		return "a list";
	case CFG_CHOICE:
		return "one of the listed words";
	}
	return "?";
}

/* Same rule as gid_valid_name(): the name is embedded in gids. */
static bool
valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return n >= 1 && n <= CFG_NAME_MAX;
}

/* Decimal digits only: no sign, no spaces, no hex. -1 bad, -2 overflow. */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* "250ms", "5s", "2m", "1h" or bare milliseconds. -1 bad, -2 overflow. */
static int
parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
	    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"", 1}};
	size_t digits = strspn(s, "0123456789");
	uint64_t v;
	int rc;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + digits, units[i].suffix) != 0)
			continue;
		rc = parse_u64(s, digits, &v);
		if (rc != 0)
			return rc;
		if (v > UINT64_MAX / units[i].mult)
			return -2;
		*ms = v * units[i].mult;
		return 0;
	}
	return -1;
}

static const char *
fmt_duration(char *buf, size_t n, uint64_t ms)
{
	if (ms != 0 && ms % HOUR(1) == 0)
		snprintf(buf, n, "%" PRIu64 "h", ms / HOUR(1));
	else if (ms != 0 && ms % MIN(1) == 0)
		snprintf(buf, n, "%" PRIu64 "m", ms / MIN(1));
	else if (ms != 0 && ms % SEC(1) == 0)
		snprintf(buf, n, "%" PRIu64 "s", ms / SEC(1));
	else
		snprintf(buf, n, "%" PRIu64 "ms", ms);
	return buf;
}

/* A bound or default of a numeric row as a user would write it. */
static const char *
fmt_number(char *buf, size_t n, const struct cfg_key *k, uint64_t v)
{
	if (k->type == CFG_DURATION)
		return fmt_duration(buf, n, v);
	snprintf(buf, n, "%" PRIu64, v);
	return buf;
}

/*
 * NULL if url is one NNG can use here, else why not. Only the shape is
 * checked; whether the host resolves or the port is free is NNG's to say.
 */
static const char *
url_problem(const char *url)
{
	static const char *const schemes[] = {"tcp://", "tls+tcp://", "ipc://",
	                                      "inproc://"};
	const char *rest = NULL, *colon;
	bool tcp = false;
	uint64_t port;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i]);

		if (strncmp(url, schemes[i], n) == 0) {
			rest = url + n;
			tcp = i < 2;
			break;
		}
	}
	if (rest == NULL)
		return "is not a URL this daemon can use (tcp://HOST:PORT, "
		       "tls+tcp://HOST:PORT, ipc://PATH or inproc://NAME)";
	for (const char *c = url; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return "contains a space or a control character";
	if (*rest == '\0')
		return "has nothing after the scheme";
	if (!tcp)
		return NULL;
	colon = strrchr(rest, ':');
	if (colon == NULL || (rest[0] == '[' && strchr(colon, ']') != NULL))
		return "has no port (e.g. tcp://127.0.0.1:7600)";
	if (parse_u64(colon + 1, strlen(colon + 1), &port) != 0 || port > 65535)
		return "has a port that is not a number from 0 to 65535";
	return NULL;
}

/* NULL if url is http://HOST:PORT, else why not. */
static const char *
http_url_problem(const char *url)
{
	const char *rest = url + strlen("http://"), *colon;
	uint64_t port;

	if (strncmp(url, "http://", strlen("http://")) != 0)
		return "is not an HTTP address (http://HOST:PORT)";
	for (const char *c = url; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f ||
		    (*c == '/' && c >= rest))
			return "is not http://HOST:PORT (no path, no spaces)";
	colon = strrchr(rest, ':');
	if (colon == NULL || colon == rest ||
	    (rest[0] == '[' && strchr(colon, ']') != NULL))
		return "has no host or no port (e.g. http://127.0.0.1:9100)";
	if (parse_u64(colon + 1, strlen(colon + 1), &port) != 0 || port > 65535)
		return "has a port that is not a number from 0 to 65535";
	return NULL;
}

static int
store_string(struct loader *ld, const struct ynode *v, char **dst)
{
	char *s = malloc(v->len + 1);

	if (s == NULL)
		return fail(ld, NULL, NULL, "out of memory");
	memcpy(s, v->str, v->len + 1);
	*dst = s;
	return 0;
}

static void
store_uint(const struct cfg_key *k, void *field, uint64_t v)
{
	if (k->size == sizeof(uint64_t)) {
		*(uint64_t *)field = v;
	} else {
		assert(k->size == sizeof(uint32_t) && v <= UINT32_MAX);
		*(uint32_t *)field = (uint32_t)v;
	}
}

/* Parse scalar v as row k into field; path names it in messages. */
/* "a, b, c": the words of a CFG_CHOICE row. */
static const char *
choice_list(char *buf, size_t n, const struct cfg_key *k)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; k->choices[i] != NULL && off < n; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s",
		                        i > 0 ? ", " : "", k->choices[i]);
	return buf;
}

static int
parse_scalar(struct loader *ld, const struct cfg_key *k, const struct ynode *v,
             const char *path, void *field)
{
	char q[CFG_QUOTE_BUF], lo[64], hi[32];
	enum xlog_level level;
	const char *why;
	uint64_t n = 0;
	int rc;

	if (v->kind != YN_SCALAR)
		return fail(ld, v, path, "expected %s, got %s",
		            type_desc(k->type), kind_name(v));
	if (is_null(v))
		return fail(ld, v, path, "no value given; expected %s",
		            type_desc(k->type));
	if (strlen(v->str) != v->len)
		return fail(ld, v, path, "%s contains a NUL byte", quote(q, v));

	switch (k->type) {
	case CFG_STRING:
		if (v->len < k->min)
			return fail(ld, v, path, "must not be empty");
		if (v->len > k->max)
			return fail(ld, v, path,
			            "is longer than %" PRIu64 " bytes", k->max);
		return store_string(ld, v, field);
	case CFG_URL:
	case CFG_HTTP_URL:
		why = k->type == CFG_URL ? url_problem(v->str)
		                         : http_url_problem(v->str);
		if (why != NULL)
			return fail(ld, v, path, "%s %s", quote(q, v), why);
		if (v->len > k->max)
			return fail(ld, v, path,
			            "is longer than %" PRIu64 " bytes", k->max);
		return store_string(ld, v, field);
	case CFG_NAME:
		if (!valid_name(v->str))
			return fail(ld, v, path,
			            "%s is not a valid name (1 to %d of A-Z, "
			            "a-z, 0-9 and -)",
			            quote(q, v), CFG_NAME_MAX);
		return store_string(ld, v, field);
	case CFG_DURATION:
	case CFG_UINT:
		rc = k->type == CFG_DURATION ? parse_duration(v->str, &n)
		                             : parse_u64(v->str, v->len, &n);
		if (rc == -1 && k->type == CFG_DURATION)
			return fail(ld, v, path,
			            "%s is not a duration (e.g. 500ms, 5s, 2m)",
			            quote(q, v));
		if (rc == -1)
			return fail(ld, v, path,
			            "%s is not a whole number (digits only)",
			            quote(q, v));
		if (rc == -2 || n < k->min || n > k->max)
			return fail(ld, v, path, "%s is out of range (%s..%s)",
			            quote(q, v),
			            fmt_number(lo, sizeof(lo), k, k->min),
			            fmt_number(hi, sizeof(hi), k, k->max));
		store_uint(k, field, n);
		return 0;
	case CFG_LEVEL:
		if (xlog_level_parse(v->str, &level) != 0)
			return fail(
			    ld, v, path,
			    "%s is not a log level (debug, info, warn, error)",
			    quote(q, v));
		*(enum xlog_level *)field = level;
		return 0;
	case CFG_CHOICE:
		for (uint32_t i = 0; k->choices[i] != NULL; i++)
			if (strcmp(v->str, k->choices[i]) == 0) {
				*(uint32_t *)field = i;
				return 0;
			}
		return fail(ld, v, path, "%s is not one of %s", quote(q, v),
		            choice_list(lo, sizeof(lo), k));
	case CFG_ENDPOINTS:
		break;
	}
	return fail(ld, v, path, "expected %s", type_desc(k->type));
}

/* ---- pass 2: tree -> struct ------------------------------------------- */

/* A field of the struct being filled; offsetof() keeps it aligned. */
static void *
field_at(const struct loader *ld, size_t off)
{
	return ld->base + off;
}

/* Anchors and aliases are refused wherever they appear (see the top). */
static int
check_node(struct loader *ld, const struct ynode *n, const char *path)
{
	if (n->kind == YN_ALIAS || n->anchored)
		return fail(ld, n, path,
		            "anchors and aliases (&name, *name) are not "
		            "supported; write the value out");
	return 0;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[CFG_PATH_MAX + 1];

	if (la > CFG_PATH_MAX || lb > CFG_PATH_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Keep cand in best if it is the closest plausible spelling of word. */
static void
suggest(const char *word, const char *cand, size_t clen, const char **best,
        size_t *bestlen, size_t *bestd)
{
	char c[CFG_PATH_MAX + 1];
	size_t d;

	if (clen > CFG_PATH_MAX)
		return;
	memcpy(c, cand, clen);
	c[clen] = '\0';
	d = edit_distance(word, c);
	if (d <= 2 && d < strlen(word) && d < *bestd) {
		*best = cand;
		*bestlen = clen;
		*bestd = d;
	}
}

static int
unknown_key(struct loader *ld, const struct ynode *k, const char *prefix,
            const char *path)
{
	size_t plen = prefix ? strlen(prefix) + 1 : 0, bestlen = 0;
	size_t bestd = SIZE_MAX;
	const char *best = NULL;

	if (memchr(k->str, '.', k->len) != NULL)
		return fail(ld, k, path,
		            "unknown key (nest keys as maps, e.g. "
		            "\"timeouts:\" then \"vote: 5s\" indented)");
	for (size_t i = 0; i < ld->nkeys; i++) {
		const char *key = ld->keys[i].key;

		if (prefix != NULL && (strncmp(key, prefix, plen - 1) != 0 ||
		                       key[plen - 1] != '.'))
			continue;
		suggest(k->str, key + plen, strcspn(key + plen, "."), &best,
		        &bestlen, &bestd);
	}
	if (best != NULL)
		return fail(ld, k, path, "unknown key (did you mean \"%.*s\"?)",
		            (int)bestlen, best);
	return fail(ld, k, path, "unknown key");
}

/* A map key must be one non-empty scalar; prefix names the map. */
static int
check_key(struct loader *ld, const struct ynode *k, const char *prefix)
{
	if (check_node(ld, k, prefix) != 0)
		return -1;
	if (k->kind != YN_SCALAR)
		return fail(ld, k, prefix,
		            "a key must be a single word, not %s",
		            kind_name(k));
	if (k->len == 0 || strlen(k->str) != k->len)
		return fail(ld, k, prefix, "empty or malformed key");
	return 0;
}

/* The i-th key of map, already checked, against the keys before it. */
static int
check_dup(struct loader *ld, const struct ynode *map, size_t i,
          const char *path)
{
	const struct ynode *k = map->kid[i];

	for (size_t j = 0; j < i; j += 2) {
		const struct ynode *o = map->kid[j];

		if (o->len == k->len && memcmp(o->str, k->str, k->len) == 0)
			return fail(ld, k, path,
			            "duplicate key (first at line %u)",
			            o->line);
	}
	return 0;
}

/* buf = "prefix.key", or "key" at the top; -1 (and "") if too long. */
static int
join_path(char buf[CFG_PATH_MAX], const char *prefix, const char *key)
{
	size_t pl = prefix != NULL ? strlen(prefix) : 0, kl = strlen(key);

	buf[0] = '\0';
	if (pl + 1 + kl >= CFG_PATH_MAX)
		return -1;
	if (prefix != NULL) {
		memcpy(buf, prefix, pl);
		buf[pl++] = '.';
	}
	memcpy(buf + pl, key, kl + 1);
	return 0;
}

static const struct ynode *
map_get(const struct ynode *map, const char *key)
{
	for (size_t i = 0; map->kind == YN_MAP && i + 1 < map->nkid; i += 2)
		if (strcmp(map->kid[i]->str, key) == 0)
			return map->kid[i + 1];
	return NULL;
}

static int
parse_endpoint(struct loader *ld, const struct cfg_key *k,
               const struct ynode *item, const char *ipath,
               struct cfg_endpoint *ep)
{
	const struct ynode *name = NULL, *url = NULL;
	char path[CFG_PATH_MAX];

	if (check_node(ld, item, ipath) != 0)
		return -1;
	if (item->kind != YN_MAP)
		return fail(ld, item, ipath,
		            "expected a map with %s and url, got %s",
		            k->item_key, kind_name(item));
	for (size_t j = 0; j + 1 < item->nkid; j += 2) {
		const struct ynode *kk = item->kid[j], *vv = item->kid[j + 1];

		if (check_key(ld, kk, ipath) != 0)
			return -1;
		if (join_path(path, ipath, kk->str) != 0)
			return fail(ld, kk, ipath, "unknown key");
		if (check_dup(ld, item, j, path) != 0 ||
		    check_node(ld, vv, path) != 0)
			return -1;
		if (strcmp(kk->str, k->item_key) == 0) {
			name = vv;
		} else if (strcmp(kk->str, "url") == 0) {
			url = vv;
		} else {
			const char *hint = NULL;
			size_t hl = 0, hd = SIZE_MAX;

			suggest(kk->str, k->item_key, strlen(k->item_key),
			        &hint, &hl, &hd);
			suggest(kk->str, "url", 3, &hint, &hl, &hd);
			if (hint != NULL)
				return fail(
				    ld, kk, path,
				    "unknown key (did you mean \"%.*s\"?)",
				    (int)hl, hint);
			return fail(ld, kk, path,
			            "unknown key (expected %s and url)",
			            k->item_key);
		}
	}
	if (name == NULL) {
		join_path(path, ipath, k->item_key);
		return fail(ld, item, path, "required key missing");
	}
	if (url == NULL) {
		join_path(path, ipath, "url");
		return fail(ld, item, path, "required key missing");
	}
	join_path(path, ipath, k->item_key);
	if (parse_scalar(ld, &item_name_row, name, path, &ep->name) != 0)
		return -1;
	join_path(path, ipath, "url");
	return parse_scalar(ld, &item_url_row, url, path, &ep->url);
}

static int
parse_endpoints(struct loader *ld, const struct cfg_key *k,
                const struct ynode *v, const char *path)
{
	struct cfg_endpoint *eps, **list;
	size_t n, *count;

	if (is_null(v) || (v->kind == YN_SEQ && v->nkid == 0))
		return fail(ld, v, path,
		            "the list is empty; at least %" PRIu64
		            " entry is required",
		            k->min);
	if (v->kind != YN_SEQ)
		return fail(ld, v, path,
		            "expected a list of maps with %s and url, got %s",
		            k->item_key, kind_name(v));
	n = v->nkid;
	if (n < k->min || n > k->max)
		return fail(ld, v, path,
		            "has %zu entries; between %" PRIu64 " and %" PRIu64
		            " are allowed",
		            n, k->min, k->max);
	eps = calloc(n, sizeof(*eps));
	if (eps == NULL)
		return fail(ld, NULL, NULL, "out of memory");
	/* Owned by the struct from here on, so that a failure frees it. */
	list = field_at(ld, k->off);
	count = field_at(ld, k->count_off);
	*list = eps;
	*count = n;

	for (size_t i = 0; i < n; i++) {
		char ipath[CFG_PATH_MAX];

		/* path is a table key, far shorter than the bound. */
		snprintf(ipath, sizeof(ipath), "%.64s[%zu]", path, i);
		if (parse_endpoint(ld, k, v->kid[i], ipath, &eps[i]) != 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			char q[CFG_QUOTE_BUF], npath[CFG_PATH_MAX];
			const struct ynode *first, *dup;

			if (strcmp(eps[j].name, eps[i].name) != 0)
				continue;
			first = map_get(v->kid[j], k->item_key);
			dup = map_get(v->kid[i], k->item_key);
			join_path(npath, ipath, k->item_key);
			return fail(ld, dup, npath,
			            "duplicate %s %s (first at line %u)",
			            k->item_key, quote(q, dup), first->line);
		}
	}
	return 0;
}

static int
apply(struct loader *ld, size_t idx, const struct ynode *v, const char *path)
{
	const struct cfg_key *k = &ld->keys[idx];

	ld->seen[idx] = true;
	if (k->type == CFG_ENDPOINTS)
		return parse_endpoints(ld, k, v, path);
	return parse_scalar(ld, k, v, path, field_at(ld, k->off));
}

static bool
is_section(const struct loader *ld, const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < ld->nkeys; i++)
		if (strncmp(ld->keys[i].key, path, n) == 0 &&
		    ld->keys[i].key[n] == '.')
			return true;
	return false;
}

static int
walk_map(struct loader *ld, const struct ynode *map, const char *prefix)
{
	for (size_t i = 0; i + 1 < map->nkid; i += 2) {
		const struct ynode *k = map->kid[i], *v = map->kid[i + 1];
		char path[CFG_PATH_MAX];
		size_t idx;

		if (check_key(ld, k, prefix) != 0)
			return -1;
		if (join_path(path, prefix, k->str) != 0)
			return fail(ld, k, prefix, "unknown key");
		if (check_dup(ld, map, i, path) != 0)
			return -1;
		if (memchr(k->str, '.', k->len) != NULL)
			return unknown_key(ld, k, prefix, path);
		if (check_node(ld, v, path) != 0)
			return -1;
		for (idx = 0; idx < ld->nkeys; idx++)
			if (strcmp(ld->keys[idx].key, path) == 0)
				break;
		if (idx < ld->nkeys) {
			if (apply(ld, idx, v, path) != 0)
				return -1;
		} else if (is_section(ld, path)) {
			/* "timeouts:" with every entry commented out. */
			if (is_null(v))
				continue;
			if (v->kind != YN_MAP)
				return fail(ld, v, path,
				            "expected a map of keys, got %s",
				            kind_name(v));
			if (walk_map(ld, v, path) != 0)
				return -1;
		} else {
			return unknown_key(ld, k, prefix, path);
		}
	}
	return 0;
}

static void
set_defaults(struct loader *ld)
{
	for (size_t i = 0; i < ld->nkeys; i++) {
		const struct cfg_key *k = &ld->keys[i];
		void *field = field_at(ld, k->off);

		switch (k->type) {
		case CFG_DURATION:
		case CFG_UINT:
			store_uint(k, field, k->def);
			break;
		case CFG_LEVEL:
			*(enum xlog_level *)field = (enum xlog_level)k->def;
			break;
		case CFG_CHOICE:
			*(uint32_t *)field = (uint32_t)k->def;
			break;
		case CFG_STRING:
		case CFG_URL:
		case CFG_HTTP_URL:
		case CFG_NAME:
		case CFG_ENDPOINTS:
			break;
		}
	}
}

static int
load(const char *path, const struct cfg_key *keys, size_t nkeys, void *out,
     char *err, size_t errlen)
{
	struct loader ld = {
	    .path = path, .keys = keys, .nkeys = nkeys, .base = out};
	struct ynode *root = NULL;
	char scratch[1];
	struct stat st;
	FILE *f;
	int rc = -1;

	assert(nkeys <= CFG_MAX_KEYS);
	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	ld.err = err;
	ld.errlen = errlen;
	err[0] = '\0';
	set_defaults(&ld);

	f = fopen(path, "rb");
	if (f == NULL)
		return fail(&ld, NULL, NULL, "cannot open: %s",
		            strerror(errno));
	/* fopen() accepts a directory; reading it would fail less clearly. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		return fail(&ld, NULL, NULL, "cannot open: %s",
		            strerror(EISDIR));
	}
	rc = tree_load(&ld, f, &root);
	fclose(f);
	if (rc != 0)
		return -1;

	rc = -1;
	if (root->kind != YN_MAP) {
		fail(&ld, root, NULL,
		     "the top level must be a map of keys (key: value), got "
		     "%s",
		     kind_name(root));
		goto out;
	}
	if (check_node(&ld, root, NULL) != 0 || walk_map(&ld, root, NULL) != 0)
		goto out;
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].required && !ld.seen[i]) {
			fail(&ld, NULL, keys[i].key, "required key missing");
			goto out;
		}
	}
	rc = 0;
out:
	node_free(root);
	return rc;
}

/* ---- public API ------------------------------------------------------- */

/* tls.ca, tls.cert and tls.key go together. */
static int
check_tls(const char *path, const char *ca, const char *cert, const char *key,
          char *err, size_t errlen)
{
	int n = (ca != NULL) + (cert != NULL) + (key != NULL);

	if (n == 0 || n == 3)
		return 0;
	snprintf(err, errlen,
	         "%s: tls: ca, cert and key go together (%s "
	         "is missing)",
	         path,
	         ca == NULL     ? "ca"
	         : cert == NULL ? "cert"
	                        : "key");
	return -1;
}

int
cfg_load_coord(const char *path, struct coord_config *out, char *err,
               size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (load(path, coord_keys, NKEYS(coord_keys), out, err, errlen) != 0 ||
	    check_tls(path, out->tls_ca, out->tls_cert, out->tls_key, err,
	              errlen) != 0) {
		cfg_free_coord(out);
		return -1;
	}
	return 0;
}

int
cfg_load_part(const char *path, struct part_config *out, char *err,
              size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (load(path, part_keys, NKEYS(part_keys), out, err, errlen) != 0 ||
	    check_tls(path, out->tls_ca, out->tls_cert, out->tls_key, err,
	              errlen) != 0) {
		cfg_free_part(out);
		return -1;
	}
	return 0;
}

static void
free_endpoints(struct cfg_endpoint *list, size_t n)
{
	for (size_t i = 0; list != NULL && i < n; i++) {
		free(list[i].name);
		free(list[i].url);
	}
	free(list);
}

void
cfg_free_coord(struct coord_config *c)
{
	if (c == NULL)
		return;
	free(c->node);
	free(c->listen);
	free(c->log_dir);
	free(c->metrics_listen);
	free(c->api_listen);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free_endpoints(c->participants, c->nparticipants);
	memset(c, 0, sizeof(*c));
}

void
cfg_free_part(struct part_config *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->listen);
	free(c->database);
	free(c->log_dir);
	free(c->metrics_listen);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free_endpoints(c->coordinators, c->ncoordinators);
	memset(c, 0, sizeof(*c));
}

const struct cfg_endpoint *
cfg_find(const struct cfg_endpoint *list, size_t n, const char *name)
{
	for (size_t i = 0; list != NULL && name != NULL && i < n; i++)
		if (list[i].name != NULL && strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

/* ---- documentation ---------------------------------------------------- */

/* As fmt_number, with whole MiB and GiB spelt out for the reader. */
static const char *
fmt_docs_number(char *buf, size_t n, const struct cfg_key *k, uint64_t v)
{
	if (k->type == CFG_UINT && v != 0 && v % GIB(1) == 0)
		snprintf(buf, n, "%" PRIu64 " (%" PRIu64 " GiB)", v, v >> 30);
	else if (k->type == CFG_UINT && v != 0 && v % MIB(1) == 0)
		snprintf(buf, n, "%" PRIu64 " (%" PRIu64 " MiB)", v, v >> 20);
	else
		fmt_number(buf, n, k, v);
	return buf;
}

static void
dump_table(FILE *f, const struct cfg_key *keys, size_t nkeys)
{
	fprintf(f, "| key | type | default | bounds | meaning |\n");
	fprintf(f, "|---|---|---|---|---|\n");
	for (size_t i = 0; i < nkeys; i++) {
		const struct cfg_key *k = &keys[i];
		char def[48], lo[48], hi[48], type[32], bounds[128];

		snprintf(def, sizeof(def), "%s",
		         k->required ? "**required**" : "");
		bounds[0] = '\0';
		switch (k->type) {
		case CFG_STRING:
			snprintf(type, sizeof(type), "string");
			snprintf(bounds, sizeof(bounds),
			         "%" PRIu64 "..%" PRIu64 " bytes", k->min,
			         k->max);
			break;
		case CFG_URL:
		case CFG_HTTP_URL:
			snprintf(type, sizeof(type), "url");
			snprintf(bounds, sizeof(bounds),
			         "at most %" PRIu64 " bytes", k->max);
			break;
		case CFG_NAME:
			snprintf(type, sizeof(type), "name");
			snprintf(bounds, sizeof(bounds),
			         "1..%d of `A-Z a-z 0-9 -`", CFG_NAME_MAX);
			break;
		case CFG_DURATION:
		case CFG_UINT:
			snprintf(type, sizeof(type), "%s",
			         k->type == CFG_DURATION ? "duration"
			                                 : "integer");
			if (!k->required)
				fmt_docs_number(def, sizeof(def), k, k->def);
			snprintf(bounds, sizeof(bounds), "%s..%s",
			         fmt_docs_number(lo, sizeof(lo), k, k->min),
			         fmt_docs_number(hi, sizeof(hi), k, k->max));
			break;
		case CFG_LEVEL:
			snprintf(type, sizeof(type), "level");
			snprintf(def, sizeof(def), "%s", level_names[k->def]);
			snprintf(bounds, sizeof(bounds),
			         "debug, info, warn, error");
			break;
		case CFG_CHOICE:
			snprintf(type, sizeof(type), "word");
			snprintf(def, sizeof(def), "%s", k->choices[k->def]);
			choice_list(bounds, sizeof(bounds), k);
			break;
		case CFG_ENDPOINTS:
			snprintf(type, sizeof(type), "list of {%s, url}",
			         k->item_key);
			snprintf(bounds, sizeof(bounds),
			         "%" PRIu64 "..%" PRIu64 " entries", k->min,
			         k->max);
			break;
		}
		fprintf(f, "| `%s` | %s | %s | %s | %s |\n", k->key, type, def,
		        bounds, k->help);
	}
}

void
cfg_dump_docs(FILE *f)
{
	fprintf(f, "### Coordinator (`xact-coordinator`)\n\n");
	dump_table(f, coord_keys, NKEYS(coord_keys));
	fprintf(f, "\n### Participant (`xact-participant`)\n\n");
	dump_table(f, part_keys, NKEYS(part_keys));
}
