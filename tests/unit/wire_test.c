/*
 * wire: round trips of every message type, the exact byte layout, every
 * refusal the decoder promises, and a seeded mutation loop that must never
 * crash (run it under ASan).
 *
 * Set WIRE_WRITE_CORPUS=<dir> to write the sample messages there as seeds
 * for a fuzzer (tests/fuzz/wire_corpus/ was made that way).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wire.h"

#define MAX_FIELDS 12
#define ERRLEN     200

/* One field of a sample; kind follows from the tag as in wire.h. */
struct fspec {
	enum wire_tag tag; /* 0 ends the list */
	const char *s;
	uint64_t v;
};

struct sample {
	const char *name;
	enum wire_type type;
	struct fspec f[MAX_FIELDS];
	/* bit k: the first k fields alone form a valid message */
	uint32_t valid_prefixes;
};

#define STR(t, str)                                                            \
	{                                                                      \
		WIRE_T_##t, (str), 0                                           \
	}
#define INT(t, val)                                                            \
	{                                                                      \
		WIRE_T_##t, NULL, (val)                                        \
	}
#define NUL                                                                    \
	{                                                                      \
		WIRE_T_NULL, NULL, 0                                           \
	}
#define P(k) (UINT32_C(1) << (k))

/*
 * Scalars come first, in tag order, then items: the order reencode() uses,
 * so a round trip must give back the same bytes.
 */
static const struct sample samples[] = {
    {"begin", WIRE_BEGIN, {{0}}, P(0)},
    {"exec",
     WIRE_EXEC,
     {STR(GID, "xact_c1_7_1042"), INT(SEQ, 3), STR(NAME, "db1"),
      STR(SQL, "UPDATE t SET v = v + 1 WHERE id = 1")},
     P(4)},
    {"exec_empty",
     WIRE_EXEC,
     {STR(GID, ""), INT(SEQ, 0), STR(NAME, ""), STR(SQL, "")},
     P(4)},
    {"commit", WIRE_COMMIT, {STR(GID, "xact_c1_7_1")}, P(1)},
    {"rollback", WIRE_ROLLBACK, {STR(GID, "xact_c1_7_2")}, P(1)},
    {"submit",
     WIRE_SUBMIT,
     {STR(NAME, "a"), STR(SQL, "INSERT INTO t VALUES (1)"),
      STR(SQL, "INSERT INTO t VALUES (2)"), STR(NAME, "b"),
      STR(SQL, "DELETE FROM t")},
     P(2) | P(3) | P(5)},
    {"status", WIRE_STATUS, {STR(GID, "xact_c1_7_3")}, P(1)},
    {"stats", WIRE_STATS, {{0}}, P(0)},
    {"list", WIRE_LIST, {{0}}, P(0)},
    {"resolve",
     WIRE_RESOLVE,
     {STR(GID, "xact_c1_7_3"), INT(CODE, WIRE_ABORTED),
      STR(TEXT, "bank2 restored from backup"), STR(NAME, "ops@db1")},
     P(4)},
    {"br_exec",
     WIRE_BR_EXEC,
     {STR(GID, "xact_c1_7_4"), INT(SEQ, UINT64_MAX), STR(SQL, "SELECT 1")},
     P(3)},
    {"br_prepare",
     WIRE_BR_PREPARE,
     {STR(GID, "xact_c1_7_5"), STR(SQL, "SELECT 1"), STR(SQL, "SELECT 2")},
     P(1) | P(2) | P(3)},
    {"br_prepare_nosql", WIRE_BR_PREPARE, {STR(GID, "xact_c1_7_5")}, P(1)},
    {"br_commit", WIRE_BR_COMMIT, {STR(GID, "xact_c1_7_6")}, P(1)},
    {"br_commit_3pc",
     WIRE_BR_COMMIT,
     {STR(GID, "xact_c1_7_6"), INT(PROTOCOL, WIRE_3PC)},
     P(1) | P(2)},
    {"begin_3pc", WIRE_BEGIN, {INT(PROTOCOL, WIRE_3PC)}, P(0) | P(1)},
    {"begin_lease",
     WIRE_BEGIN,
     {INT(PROTOCOL, WIRE_2PC), INT(COUNT, WIRE_MAX_LEASE)},
     P(0) | P(1) | P(2)},
    {"begun_lease",
     WIRE_BEGUN,
     {STR(GID, "xact_c1_7_40"), INT(COUNT, 16)},
     P(1) | P(2)},
    {"br_prepare_3pc",
     WIRE_BR_PREPARE,
     {STR(GID, "xact_c1_7_5"), INT(PROTOCOL, WIRE_3PC), INT(RANK, 1),
      INT(QUORUM, 1), STR(NAME, "a"), STR(URL, "tcp://10.0.0.1:7611"),
      STR(NAME, "b"), STR(URL, "tcp://10.0.0.2:7611"), STR(SQL, "SELECT 1")},
     P(1) | P(8) | P(9)},
    {"br_state",
     WIRE_BR_STATE,
     {STR(GID, "xact_c1_7_5"), INT(BALLOT, 65537)},
     P(2)},
    {"br_precommit",
     WIRE_BR_PRECOMMIT,
     {STR(GID, "xact_c1_7_5"), INT(BALLOT, 1), INT(VALUE, 1)},
     P(3)},
    {"state",
     WIRE_STATE,
     {STR(GID, "xact_c1_7_5"), INT(CODE, WIRE_ST_ANSWER), INT(BALLOT, 65536),
      INT(VALUE, 0), INT(ACCEPTED, 1), INT(ACC_BALLOT, 1), INT(VOTED, 1)},
     P(2) | P(3) | P(4) | P(6) | P(7)},
    {"br_rollback", WIRE_BR_ROLLBACK, {STR(GID, "xact_c1_7_7")}, P(1)},
    {"inquire", WIRE_INQUIRE, {STR(GID, "xact_c1_7_8")}, P(1)},
    {"br_resolve", WIRE_BR_RESOLVE, {STR(GID, "xact_c1_7_9")}, P(1)},
    {"br_prepare_1pc",
     WIRE_BR_PREPARE,
     {STR(GID, "xact_c1_7_5"), INT(PROTOCOL, WIRE_1PC), STR(SQL, "SELECT 1")},
     P(1) | P(2) | P(3)},
    {"begun", WIRE_BEGUN, {STR(GID, "xact_c1_7_9")}, P(1)},
    {"result_error",
     WIRE_RESULT,
     {STR(SQLSTATE, "40001"), STR(TEXT, "could not serialize access")},
     P(0) | P(2)},
    {"result_rows",
     WIRE_RESULT,
     {INT(AFFECTED, 2), STR(COLUMN, "id"), STR(COLUMN, "name"), STR(CELL, "1"),
      NUL, STR(CELL, ""), STR(CELL, "x")},
     P(0) | P(1) | P(2) | P(3) | P(5) | P(7)},
    {"result_nulls",
     WIRE_RESULT,
     {STR(COLUMN, "c"), NUL, NUL},
     P(0) | P(1) | P(2) | P(3)},
    {"result_empty", WIRE_RESULT, {{0}}, P(0)},
    {"result_affected", WIRE_RESULT, {INT(AFFECTED, UINT64_MAX)}, P(0) | P(1)},
    {"outcome_aborted",
     WIRE_OUTCOME,
     {STR(GID, "xact_c1_7_10"), INT(CODE, WIRE_ABORTED), STR(SQLSTATE, "23505"),
      STR(TEXT, "duplicate key"), STR(NAME, "db2")},
     P(2) | P(3) | P(4) | P(5)},
    {"outcome_committed",
     WIRE_OUTCOME,
     {STR(GID, "xact_c1_7_11"), INT(CODE, WIRE_COMMITTED)},
     P(2)},
    {"outcome_in_progress",
     WIRE_OUTCOME,
     {STR(GID, ""), INT(CODE, WIRE_IN_PROGRESS), STR(TEXT, ""), STR(NAME, "")},
     P(2) | P(3) | P(4)},
    {"vote_yes", WIRE_VOTE, {INT(CODE, WIRE_VOTE_YES)}, P(1)},
    {"vote_no",
     WIRE_VOTE,
     {STR(GID, "xact_c1_7_12"), INT(CODE, WIRE_VOTE_NO), STR(SQLSTATE, "55000"),
      STR(TEXT, "prepared transactions disabled")},
     P(2) | P(3) | P(4)},
    {"vote_readonly",
     WIRE_VOTE,
     {STR(GID, "xact_c1_7_13"), INT(CODE, WIRE_VOTE_READONLY)},
     P(2)},
    {"vote_committed",
     WIRE_VOTE,
     {STR(GID, "xact_c1_7_13"), INT(CODE, WIRE_VOTE_COMMITTED)},
     P(2)},
    {"ack", WIRE_ACK, {{0}}, P(0)},
    {"ack_gid", WIRE_ACK, {STR(GID, "xact_c1_7_14")}, P(0) | P(1)},
    {"error",
     WIRE_ERROR,
     {INT(CODE, WIRE_E_SHUTTING_DOWN), STR(TEXT, "stopping")},
     P(2)},
    {"error_empty_text",
     WIRE_ERROR,
     {INT(CODE, WIRE_E_BAD_REQUEST), STR(TEXT, "")},
     P(2)},
};

#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

/* The spec restated, independently of wire.c's table. */
static uint32_t
required_scalars(enum wire_type t)
{
	const uint32_t gid = 1u << WIRE_T_GID, seq = 1u << WIRE_T_SEQ;
	const uint32_t code = 1u << WIRE_T_CODE, text = 1u << WIRE_T_TEXT;

	switch (t) {
	case WIRE_BEGIN:
	case WIRE_SUBMIT:
	case WIRE_STATS:
	case WIRE_LIST:
	case WIRE_RESULT:
	case WIRE_ACK:
		return 0;
	case WIRE_EXEC:
	case WIRE_BR_EXEC:
		return gid | seq;
	case WIRE_COMMIT:
	case WIRE_ROLLBACK:
	case WIRE_STATUS:
	case WIRE_BR_PREPARE:
	case WIRE_BR_COMMIT:
	case WIRE_BR_ROLLBACK:
	case WIRE_INQUIRE:
	case WIRE_BEGUN:
	case WIRE_BR_RESOLVE:
		return gid;
	case WIRE_OUTCOME:
		return gid | code;
	case WIRE_VOTE:
		return code;
	case WIRE_ERROR:
		return code | text;
	case WIRE_RESOLVE:
		return gid | code | text;
	case WIRE_BR_STATE:
		return gid | 1u << WIRE_T_BALLOT;
	case WIRE_BR_PRECOMMIT:
		return gid | 1u << WIRE_T_BALLOT | 1u << WIRE_T_VALUE;
	case WIRE_STATE:
		return gid | code;
	}
	return 0;
}

static bool
is_item(enum wire_tag t)
{
	return t >= WIRE_T_NAME;
}

static void
put_spec(struct wire_buf *b, const struct fspec *f)
{
	switch (f->tag) {
	case WIRE_T_GID:
	case WIRE_T_SQLSTATE:
	case WIRE_T_TEXT:
	case WIRE_T_NAME:
	case WIRE_T_SQL:
	case WIRE_T_COLUMN:
	case WIRE_T_CELL:
	case WIRE_T_URL:
		wire_put_str(b, f->tag, f->s);
		break;
	case WIRE_T_SEQ:
	case WIRE_T_AFFECTED:
	case WIRE_T_BALLOT:
	case WIRE_T_ACC_BALLOT:
		wire_put_u64(b, f->tag, f->v);
		break;
	case WIRE_T_CODE:
	case WIRE_T_PROTOCOL:
	case WIRE_T_VALUE:
	case WIRE_T_ACCEPTED:
	case WIRE_T_RANK:
	case WIRE_T_QUORUM:
	case WIRE_T_VOTED:
	case WIRE_T_COUNT:
		wire_put_u32(b, f->tag, (uint32_t)f->v);
		break;
	case WIRE_T_NULL:
		wire_put_null(b);
		break;
	}
}

static unsigned
nfields(const struct sample *s)
{
	unsigned n = 0;

	while (n < MAX_FIELDS && s->f[n].tag != 0)
		n++;
	return n;
}

/* Encode the sample's fields except the one at index skip (-1: none). */
static void
encode_sample(const struct sample *s, int skip, struct wire_buf *b)
{
	wire_buf_init(b, s->type);
	for (unsigned i = 0; i < nfields(s); i++)
		if ((int)i != skip)
			put_spec(b, &s->f[i]);
	cr_assert(!b->failed);
}

/* Assert that m holds exactly the first k fields of s. */
static void
expect_fields(const struct sample *s, unsigned k, const struct wire_msg *m)
{
	const char *gid = NULL, *sqlstate = NULL, *text = NULL;
	bool has_seq = false, has_code = false, has_affected = false;
	uint64_t seq = 0, affected = 0;
	uint32_t code = 0, item = 0, present = 0;
	uint64_t u[32] = {0};

	cr_assert_eq(m->type, s->type, "%s", s->name);
	for (unsigned i = 0; i < k; i++) {
		const struct fspec *f = &s->f[i];

		if (is_item(f->tag)) {
			cr_assert_lt(item, m->nitems, "%s", s->name);
			cr_assert_eq(m->items[item].tag, f->tag, "%s item %u",
			             s->name, item);
			if (f->tag == WIRE_T_NULL)
				cr_assert_null(m->items[item].str);
			else
				cr_assert_str_eq(m->items[item].str, f->s);
			item++;
			continue;
		}
		switch (f->tag) {
		case WIRE_T_GID:
			gid = f->s;
			break;
		case WIRE_T_SQLSTATE:
			sqlstate = f->s;
			break;
		case WIRE_T_TEXT:
			text = f->s;
			break;
		case WIRE_T_SEQ:
			has_seq = true;
			seq = f->v;
			break;
		case WIRE_T_AFFECTED:
			has_affected = true;
			affected = f->v;
			break;
		case WIRE_T_CODE:
			has_code = true;
			code = (uint32_t)f->v;
			break;
		case WIRE_T_PROTOCOL:
		case WIRE_T_BALLOT:
		case WIRE_T_VALUE:
		case WIRE_T_ACCEPTED:
		case WIRE_T_ACC_BALLOT:
		case WIRE_T_RANK:
		case WIRE_T_QUORUM:
		case WIRE_T_VOTED:
		case WIRE_T_COUNT:
			u[f->tag] = f->v;
			break;
		case WIRE_T_NAME:
		case WIRE_T_SQL:
		case WIRE_T_COLUMN:
		case WIRE_T_CELL:
		case WIRE_T_NULL:
		case WIRE_T_URL:
			break;
		}
		present |= 1u << f->tag;
	}
	cr_assert_eq(m->present, present, "%s: present", s->name);
	cr_assert_eq(m->protocol, u[WIRE_T_PROTOCOL], "%s", s->name);
	cr_assert_eq(m->ballot, u[WIRE_T_BALLOT], "%s", s->name);
	cr_assert_eq(m->has_ballot, (present >> WIRE_T_BALLOT) & 1, "%s",
	             s->name);
	cr_assert_eq(m->value, u[WIRE_T_VALUE], "%s", s->name);
	cr_assert_eq(m->accepted, u[WIRE_T_ACCEPTED], "%s", s->name);
	cr_assert_eq(m->acc_ballot, u[WIRE_T_ACC_BALLOT], "%s", s->name);
	cr_assert_eq(m->rank, u[WIRE_T_RANK], "%s", s->name);
	cr_assert_eq(m->quorum, u[WIRE_T_QUORUM], "%s", s->name);
	cr_assert_eq(m->voted, u[WIRE_T_VOTED], "%s", s->name);
	cr_assert_eq(m->count, u[WIRE_T_COUNT], "%s", s->name);
	cr_assert_eq(m->nitems, item, "%s", s->name);
	if (item == 0)
		cr_assert_null(m->items, "%s: no items, no array", s->name);
#define SAME_STR(x)                                                            \
	do {                                                                   \
		if ((x) == NULL)                                               \
			cr_assert_null(m->x, "%s: " #x, s->name);              \
		else                                                           \
			cr_assert_str_eq(m->x, (x), "%s: " #x, s->name);       \
	} while (0)
	SAME_STR(gid);
	SAME_STR(sqlstate);
	SAME_STR(text);
#undef SAME_STR
	cr_assert_eq(m->has_seq, has_seq, "%s", s->name);
	cr_assert_eq(m->seq, seq, "%s", s->name);
	cr_assert_eq(m->has_code, has_code, "%s", s->name);
	cr_assert_eq(m->code, code, "%s", s->name);
	cr_assert_eq(m->has_affected, has_affected, "%s", s->name);
	cr_assert_eq(m->affected, affected, "%s", s->name);
}

/* Encode a decoded message again, scalars first in tag order. */
static void
reencode(const struct wire_msg *m, struct wire_buf *b)
{
	wire_buf_init(b, m->type);
	if (m->gid != NULL)
		wire_put_str(b, WIRE_T_GID, m->gid);
	if (m->has_seq)
		wire_put_u64(b, WIRE_T_SEQ, m->seq);
	if (m->has_code)
		wire_put_u32(b, WIRE_T_CODE, m->code);
	if (m->sqlstate != NULL)
		wire_put_str(b, WIRE_T_SQLSTATE, m->sqlstate);
	if (m->text != NULL)
		wire_put_str(b, WIRE_T_TEXT, m->text);
	if (m->has_affected)
		wire_put_u64(b, WIRE_T_AFFECTED, m->affected);
#define PUT(tag, fn, field)                                                    \
	do {                                                                   \
		if (m->present & (1u << (tag)))                                \
			fn(b, (tag), m->field);                                \
	} while (0)
	PUT(WIRE_T_PROTOCOL, wire_put_u32, protocol);
	PUT(WIRE_T_BALLOT, wire_put_u64, ballot);
	PUT(WIRE_T_VALUE, wire_put_u32, value);
	PUT(WIRE_T_ACCEPTED, wire_put_u32, accepted);
	PUT(WIRE_T_ACC_BALLOT, wire_put_u64, acc_ballot);
	PUT(WIRE_T_RANK, wire_put_u32, rank);
	PUT(WIRE_T_QUORUM, wire_put_u32, quorum);
	PUT(WIRE_T_VOTED, wire_put_u32, voted);
	PUT(WIRE_T_COUNT, wire_put_u32, count);
#undef PUT
	for (uint32_t i = 0; i < m->nitems; i++) {
		if (m->items[i].tag == WIRE_T_NULL)
			wire_put_null(b);
		else
			wire_put_str(b, m->items[i].tag, m->items[i].str);
	}
}

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* Decoding must fail, say why with needle in it, and leave out empty. */
static void
expect_reject(const void *buf, size_t len, const char *needle)
{
	struct wire_msg m;
	char err[ERRLEN] = "";

	memset(&m, 0xA5, sizeof(m));
	cr_assert_eq(wire_decode(buf, len, &m, err, sizeof(err)), -1,
	             "accepted; expected \"%s\"", needle);
	cr_assert(strncmp(err, "wire: ", 6) == 0, "err: %s", err);
	cr_assert(strstr(err, needle) != NULL, "err \"%s\" lacks \"%s\"", err,
	          needle);
	cr_assert(all_zero(&m, sizeof(m)), "out not cleared on failure");
}

static void
expect_reject_buf(struct wire_buf *b, const char *needle)
{
	cr_assert(!b->failed);
	expect_reject(b->data, b->len, needle);
	wire_buf_free(b);
}

/* Raw messages, for what the encoder cannot produce. */
struct raw {
	uint8_t d[512];
	size_t n;
};

static void
raw_header(struct raw *r, uint8_t type)
{
	r->d[0] = 'X';
	r->d[1] = 'A';
	r->d[2] = WIRE_VERSION;
	r->d[3] = type;
	r->n = WIRE_HEADER_SIZE;
}

static void
raw_field(struct raw *r, uint8_t tag, uint32_t len, const void *val,
          size_t vlen)
{
	cr_assert_leq(r->n + 5 + vlen, sizeof(r->d));
	r->d[r->n] = tag;
	for (int i = 0; i < 4; i++)
		r->d[r->n + 1 + i] = (uint8_t)(len >> (8 * i));
	if (vlen > 0)
		memcpy(r->d + r->n + 5, val, vlen);
	r->n += 5 + vlen;
}

/* A field whose length is its value's. */
static void
raw_put(struct raw *r, uint8_t tag, const void *val, size_t vlen)
{
	raw_field(r, tag, (uint32_t)vlen, val, vlen);
}

/* Round trips */

Test(wire, layout_is_exact)
{
	/* one field a line */
	/* clang-format off */
	static const uint8_t want[] = {
		'X', 'A', WIRE_VERSION, WIRE_EXEC,
		WIRE_T_GID, 2, 0, 0, 0, 'g', 0,
		WIRE_T_SEQ, 8, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1,
		WIRE_T_NAME, 3, 0, 0, 0, 'd', 'b', 0,
		WIRE_T_SQL, 1, 0, 0, 0, 0,
	};
	static const uint8_t want32[] = {
		'X', 'A', WIRE_VERSION, WIRE_VOTE,
		WIRE_T_CODE, 4, 0, 0, 0, 2, 0, 0, 0,
		WIRE_T_NULL, 0, 0, 0, 0,
	};
	/* clang-format on */
	struct wire_buf b;
	struct wire_msg m;
	char err[ERRLEN];

	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, UINT64_C(0x0102030405060708));
	wire_put_str(&b, WIRE_T_NAME, "db");
	wire_put_str(&b, WIRE_T_SQL, "");
	cr_assert(!b.failed);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(m.seq, UINT64_C(0x0102030405060708));
	/* strings point into the buffer: no copy */
	cr_assert_eq((const void *)m.gid, (const void *)(b.data + 9));
	wire_msg_free(&m);
	wire_buf_free(&b);

	wire_buf_init(&b, WIRE_VOTE);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_NO);
	wire_put_null(&b);
	cr_assert_eq(b.len, sizeof(want32));
	cr_assert_arr_eq(b.data, want32, sizeof(want32));
	wire_buf_free(&b);
}

Test(wire, round_trip_every_sample)
{
	bool type_seen[64] = {false};

	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct wire_buf b, again;
		struct wire_msg m;
		char err[ERRLEN] = "";

		encode_sample(s, -1, &b);
		cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)),
		             0, "%s: %s", s->name, err);
		expect_fields(s, nfields(s), &m);
		reencode(&m, &again);
		cr_assert_eq(again.len, b.len, "%s", s->name);
		cr_assert_arr_eq(again.data, b.data, b.len, "%s", s->name);
		type_seen[s->type] = true;
		wire_msg_free(&m);
		cr_assert_null(m.items);
		wire_buf_free(&again);
		wire_buf_free(&b);
	}
	for (unsigned t = 0; t < 64; t++)
		if (strcmp(wire_type_name((enum wire_type)t), "unknown") != 0)
			cr_assert(type_seen[t], "no sample of %s",
			          wire_type_name((enum wire_type)t));
}

Test(wire, scalars_may_follow_items)
{
	struct wire_buf b;
	struct wire_msg m;
	char err[ERRLEN];

	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_SQL, "SELECT 1");
	wire_put_u64(&b, WIRE_T_SEQ, 9);
	wire_put_str(&b, WIRE_T_NAME, "db1");
	wire_put_str(&b, WIRE_T_GID, "xact_a_1_1");
	cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_str_eq(m.gid, "xact_a_1_1");
	cr_assert_eq(m.seq, 9);
	cr_assert_str_eq(wire_first(&m, WIRE_T_NAME), "db1");
	cr_assert_str_eq(wire_first(&m, WIRE_T_SQL), "SELECT 1");
	cr_assert_null(wire_first(&m, WIRE_T_CELL));
	wire_msg_free(&m);
	wire_buf_free(&b);
}

Test(wire, long_sql)
{
	const size_t n = (size_t)1 << 20;
	char *sql = malloc(n + 1);
	struct wire_buf b;
	struct wire_msg m;
	char err[ERRLEN];

	cr_assert_not_null(sql);
	for (size_t i = 0; i < n; i++)
		sql[i] = (char)('a' + i % 26);
	sql[n] = '\0';
	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, "xact_c1_1_1");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL, sql);
	cr_assert(!b.failed);
	/* grown geometrically: never more than twice what is used */
	cr_assert_leq(b.cap, 2 * b.len);
	cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(strlen(wire_first(&m, WIRE_T_SQL)), n);
	cr_assert_str_eq(wire_first(&m, WIRE_T_SQL), sql);
	wire_msg_free(&m);
	wire_buf_free(&b);
	free(sql);
}

Test(wire, many_cells)
{
	const unsigned ncols = 4, nrows = 25000;
	struct wire_buf b;
	struct wire_msg m;
	char err[ERRLEN], cell[32];

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_u64(&b, WIRE_T_AFFECTED, nrows);
	for (unsigned c = 0; c < ncols; c++) {
		snprintf(cell, sizeof(cell), "col%u", c);
		wire_put_str(&b, WIRE_T_COLUMN, cell);
	}
	for (unsigned i = 0; i < ncols * nrows; i++) {
		if (i % 3 == 0) {
			wire_put_null(&b);
			continue;
		}
		snprintf(cell, sizeof(cell), "%u", i);
		wire_put_str(&b, WIRE_T_CELL, cell);
	}
	cr_assert(!b.failed);
	cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)), 0, "%s",
	             err);
	cr_assert_eq(m.nitems, ncols + ncols * nrows);
	cr_assert_eq(wire_count(&m, WIRE_T_COLUMN), ncols);
	cr_assert_eq(wire_count(&m, WIRE_T_NULL) + wire_count(&m, WIRE_T_CELL),
	             ncols * nrows);
	for (unsigned i = 0; i < ncols * nrows; i++) {
		const struct wire_item *it = &m.items[ncols + i];

		if (i % 3 == 0) {
			cr_assert_eq(it->tag, WIRE_T_NULL);
			cr_assert_null(it->str);
		} else {
			snprintf(cell, sizeof(cell), "%u", i);
			cr_assert_eq(it->tag, WIRE_T_CELL);
			cr_assert_str_eq(it->str, cell);
		}
	}
	wire_msg_free(&m);
	wire_buf_free(&b);
}

/* Truncation */

/*
 * Every proper prefix is refused, except one that ends on a field boundary
 * and is itself a valid message (fewer optional fields, fewer whole rows):
 * that one must decode to exactly the fields it holds. valid_prefixes says
 * which boundaries those are, so a prefix that lost a required field or
 * split a row is refused.
 */
Test(wire, every_prefix)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		size_t bound[MAX_FIELDS + 1];
		unsigned nf = nfields(s), k = 0;
		struct wire_buf b;

		wire_buf_init(&b, s->type);
		bound[0] = b.len;
		for (unsigned f = 0; f < nf; f++) {
			put_spec(&b, &s->f[f]);
			bound[f + 1] = b.len;
		}
		cr_assert(!b.failed);
		for (size_t len = 0; len <= b.len; len++) {
			/* exact size, so ASan sees any read past the end */
			uint8_t *copy = malloc(len > 0 ? len : 1);
			struct wire_msg m;
			char err[ERRLEN] = "";
			bool boundary;
			int rc;

			memcpy(copy, b.data, len);
			while (k < nf && bound[k] < len)
				k++;
			boundary = bound[k] == len && len >= WIRE_HEADER_SIZE;
			rc = wire_decode(copy, len, &m, err, sizeof(err));
			if (boundary && (s->valid_prefixes & P(k))) {
				cr_assert_eq(rc, 0, "%s: %u fields: %s",
				             s->name, k, err);
				expect_fields(s, k, &m);
				wire_msg_free(&m);
			} else {
				cr_assert_eq(rc, -1,
				             "%s: prefix of %zu bytes accepted",
				             s->name, len);
				cr_assert(err[0] != '\0');
			}
			free(copy);
		}
		cr_assert(s->valid_prefixes & P(nf), "%s", s->name);
		wire_buf_free(&b);
	}
}

/* Refusals */

Test(wire, rejects_bad_header)
{
	static const uint8_t ok[] = {'X', 'A', WIRE_VERSION, WIRE_BEGIN};
	uint8_t h[4];

	expect_reject(ok, 0, "shorter than the header");
	for (size_t n = 1; n < 4; n++)
		expect_reject(ok, n, "shorter than the header");
	memcpy(h, ok, 4);
	h[0] = 'Y';
	expect_reject(h, 4, "magic");
	memcpy(h, ok, 4);
	h[1] = 'a';
	expect_reject(h, 4, "magic");
	memcpy(h, ok, 4);
	h[2] = 0;
	expect_reject(h, 4, "version 0");
	h[2] = WIRE_VERSION + 1;
	expect_reject(h, 4, "version");
	memcpy(h, ok, 4);
	static const uint8_t bad_types[] = {0, 17, 18, 19, 21, 29, 37, 255};
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		h[3] = bad_types[i];
		expect_reject(h, 4, "unknown message type");
	}
}

Test(wire, rejects_oversize_message)
{
	size_t len = (size_t)WIRE_MAX_MSG + 1;
	uint8_t *big = calloc(1, len);

	cr_assert_not_null(big);
	memcpy(big, "XA", 2);
	big[2] = WIRE_VERSION;
	big[3] = WIRE_RESULT;
	expect_reject(big, len, "exceeds");
	free(big);
}

Test(wire, rejects_unknown_tag)
{
	static const uint8_t tags[] = {0, 22, 31, 100, 255};

	for (size_t i = 0; i < sizeof(tags); i++) {
		struct raw r;

		raw_header(&r, WIRE_ACK);
		raw_put(&r, tags[i], "x", 2);
		expect_reject(r.d, r.n, "unknown tag");
	}
}

Test(wire, rejects_length_past_end)
{
	struct raw r;

	raw_header(&r, WIRE_ACK);
	raw_field(&r, WIRE_T_GID, 0xFFFFFFFFu, "abc", 4);
	expect_reject(r.d, r.n, "runs past the end");

	raw_header(&r, WIRE_ACK);
	raw_field(&r, WIRE_T_GID, 0xFFFFFFFFu, NULL, 0);
	expect_reject(r.d, r.n, "runs past the end");

	raw_header(&r, WIRE_ACK);
	raw_field(&r, WIRE_T_GID, 5, "abc", 4);
	expect_reject(r.d, r.n, "needs 5 bytes, 4 left");

	/* a field header cut short */
	raw_header(&r, WIRE_ACK);
	raw_put(&r, WIRE_T_GID, "a", 2);
	r.d[r.n++] = WIRE_T_GID;
	r.d[r.n++] = 0;
	expect_reject(r.d, r.n, "field 2 header runs past the end");
}

Test(wire, rejects_bad_strings)
{
	struct raw r;

	raw_header(&r, WIRE_BEGUN);
	raw_put(&r, WIRE_T_GID, "abc", 3);
	expect_reject(r.d, r.n, "lacks its terminating NUL");

	raw_header(&r, WIRE_BEGUN);
	raw_put(&r, WIRE_T_GID, "ab\0c", 5);
	expect_reject(r.d, r.n, "has a NUL at byte 2");

	raw_header(&r, WIRE_BEGUN);
	raw_put(&r, WIRE_T_GID, "\0\0", 2);
	expect_reject(r.d, r.n, "has a NUL at byte 0");

	raw_header(&r, WIRE_BEGUN);
	raw_put(&r, WIRE_T_GID, NULL, 0);
	expect_reject(r.d, r.n, "is empty");

	/* the same for an item */
	raw_header(&r, WIRE_BR_PREPARE);
	raw_put(&r, WIRE_T_GID, "g", 2);
	raw_put(&r, WIRE_T_SQL, "SELECT 1", 8);
	expect_reject(r.d, r.n, "field 2 (SQL) lacks its terminating NUL");
}

Test(wire, rejects_wrong_integer_size)
{
	static const uint8_t zeros[9] = {0};
	static const struct {
		uint8_t type, tag;
		size_t len;
	} cases[] = {
	    {WIRE_BR_EXEC, WIRE_T_SEQ, 4}, {WIRE_BR_EXEC, WIRE_T_SEQ, 0},
	    {WIRE_BR_EXEC, WIRE_T_SEQ, 9}, {WIRE_VOTE, WIRE_T_CODE, 8},
	    {WIRE_VOTE, WIRE_T_CODE, 3},   {WIRE_RESULT, WIRE_T_AFFECTED, 4},
	    {WIRE_RESULT, WIRE_T_NULL, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw r;

		raw_header(&r, cases[i].type);
		raw_put(&r, cases[i].tag, zeros, cases[i].len);
		expect_reject(r.d, r.n, "expected");
	}
}

Test(wire, rejects_duplicate_scalar)
{
	struct wire_buf b;

	wire_buf_init(&b, WIRE_COMMIT);
	wire_put_str(&b, WIRE_T_GID, "a");
	wire_put_str(&b, WIRE_T_GID, "a");
	expect_reject_buf(&b, "field 2 repeats gid");

	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, "a");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL, "x");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	expect_reject_buf(&b, "repeats seq");

	wire_buf_init(&b, WIRE_VOTE);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_YES);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_YES);
	expect_reject_buf(&b, "repeats code");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_u64(&b, WIRE_T_AFFECTED, 1);
	wire_put_u64(&b, WIRE_T_AFFECTED, 1);
	expect_reject_buf(&b, "repeats affected");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	wire_put_str(&b, WIRE_T_TEXT, "a");
	wire_put_str(&b, WIRE_T_TEXT, "b");
	expect_reject_buf(&b, "repeats text");
}

Test(wire, rejects_missing_required_field)
{
	unsigned checked = 0;

	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		uint32_t req = required_scalars(s->type);

		for (unsigned f = 0; f < nfields(s); f++) {
			struct wire_buf b;

			if (!(req & (1u << s->f[f].tag)))
				continue;
			encode_sample(s, (int)f, &b);
			expect_reject_buf(&b, "without");
			checked++;
		}
	}
	cr_assert_geq(checked, 20);
}

Test(wire, rejects_field_not_allowed_for_type)
{
	struct wire_buf b;

	wire_buf_init(&b, WIRE_BEGIN);
	wire_put_str(&b, WIRE_T_GID, "a");
	expect_reject_buf(&b, "BEGIN does not take gid");

	wire_buf_init(&b, WIRE_COMMIT);
	wire_put_str(&b, WIRE_T_GID, "a");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	expect_reject_buf(&b, "COMMIT does not take seq");

	wire_buf_init(&b, WIRE_BR_ROLLBACK);
	wire_put_str(&b, WIRE_T_GID, "a");
	wire_put_str(&b, WIRE_T_SQL, "x");
	expect_reject_buf(&b, "does not take SQL");

	wire_buf_init(&b, WIRE_ACK);
	wire_put_str(&b, WIRE_T_TEXT, "x");
	expect_reject_buf(&b, "ACK does not take text");

	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, "a");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_NAME, "db");
	wire_put_str(&b, WIRE_T_SQL, "x");
	expect_reject_buf(&b, "does not take NAME");

	wire_buf_init(&b, WIRE_ERROR);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_E_BUSY);
	wire_put_str(&b, WIRE_T_TEXT, "x");
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	expect_reject_buf(&b, "does not take sqlstate");
}

Test(wire, rejects_bad_sqlstate)
{
	static const char *bad[] = {"",
	                            "4000",
	                            "400011",
	                            "4000a",
	                            "40 01",
	                            "40-01",
	                            "\x7f"
	                            "0001",
	                            "4000\xc3"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire_buf b;

		wire_buf_init(&b, WIRE_RESULT);
		wire_put_str(&b, WIRE_T_SQLSTATE, bad[i]);
		wire_put_str(&b, WIRE_T_TEXT, "t");
		expect_reject_buf(&b, "sqlstate");
	}
}

Test(wire, rejects_bad_result)
{
	struct wire_buf b;

	/* 3 values for 2 columns */
	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_COLUMN, "a");
	wire_put_str(&b, WIRE_T_COLUMN, "b");
	wire_put_str(&b, WIRE_T_CELL, "1");
	wire_put_null(&b);
	wire_put_str(&b, WIRE_T_CELL, "3");
	expect_reject_buf(&b, "3 values for 2 columns");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_CELL, "1");
	expect_reject_buf(&b, "no COLUMN");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_null(&b);
	expect_reject_buf(&b, "no COLUMN");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_COLUMN, "a");
	wire_put_str(&b, WIRE_T_CELL, "1");
	wire_put_str(&b, WIRE_T_COLUMN, "b");
	wire_put_str(&b, WIRE_T_CELL, "2");
	expect_reject_buf(&b, "follows values");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	expect_reject_buf(&b, "both sqlstate and text");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_TEXT, "oops");
	expect_reject_buf(&b, "both sqlstate and text");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	wire_put_str(&b, WIRE_T_TEXT, "oops");
	wire_put_str(&b, WIRE_T_COLUMN, "a");
	expect_reject_buf(&b, "carries rows");

	wire_buf_init(&b, WIRE_RESULT);
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	wire_put_str(&b, WIRE_T_TEXT, "oops");
	wire_put_u64(&b, WIRE_T_AFFECTED, 0);
	expect_reject_buf(&b, "carries rows");
}

Test(wire, rejects_bad_submit)
{
	struct wire_buf b;

	wire_buf_init(&b, WIRE_SUBMIT);
	expect_reject_buf(&b, "SUBMIT without NAME");

	wire_buf_init(&b, WIRE_SUBMIT);
	wire_put_str(&b, WIRE_T_SQL, "x");
	wire_put_str(&b, WIRE_T_NAME, "a");
	wire_put_str(&b, WIRE_T_SQL, "y");
	expect_reject_buf(&b, "must start with NAME");

	wire_buf_init(&b, WIRE_SUBMIT);
	wire_put_str(&b, WIRE_T_NAME, "a");
	wire_put_str(&b, WIRE_T_NAME, "b");
	wire_put_str(&b, WIRE_T_SQL, "y");
	expect_reject_buf(&b, "NAME at item 1 has no SQL");

	wire_buf_init(&b, WIRE_SUBMIT);
	wire_put_str(&b, WIRE_T_NAME, "a");
	wire_put_str(&b, WIRE_T_SQL, "y");
	wire_put_str(&b, WIRE_T_NAME, "b");
	expect_reject_buf(&b, "NAME at item 3 has no SQL");

	wire_buf_init(&b, WIRE_SUBMIT);
	wire_put_str(&b, WIRE_T_NAME, "a");
	wire_put_str(&b, WIRE_T_SQL, "y");
	wire_put_u64(&b, WIRE_T_SEQ, 7);
	expect_reject_buf(&b, "SUBMIT does not take seq");
}

Test(wire, rejects_bad_exec)
{
	struct wire_buf b;

	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL, "x");
	expect_reject_buf(&b, "has 0 and 1");

	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_NAME, "db");
	wire_put_str(&b, WIRE_T_SQL, "x");
	wire_put_str(&b, WIRE_T_SQL, "y");
	expect_reject_buf(&b, "has 1 and 2");

	wire_buf_init(&b, WIRE_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_NAME, "db");
	wire_put_str(&b, WIRE_T_NAME, "db");
	wire_put_str(&b, WIRE_T_SQL, "x");
	expect_reject_buf(&b, "has 2 and 1");

	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	expect_reject_buf(&b, "BR_EXEC needs one SQL (has 0)");

	wire_buf_init(&b, WIRE_BR_EXEC);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_str(&b, WIRE_T_SQL, "x");
	wire_put_str(&b, WIRE_T_SQL, "y");
	expect_reject_buf(&b, "(has 2)");
}

Test(wire, rejects_a_resolve_that_decides_nothing)
{
	static const uint32_t bad_code[] = {0, WIRE_IN_PROGRESS, 4};
	struct wire_buf b;

	for (size_t i = 0; i < 3; i++) {
		wire_buf_init(&b, WIRE_RESOLVE);
		wire_put_str(&b, WIRE_T_GID, "g");
		wire_put_u32(&b, WIRE_T_CODE, bad_code[i]);
		wire_put_str(&b, WIRE_T_TEXT, "why");
		wire_put_str(&b, WIRE_T_NAME, "ops");
		expect_reject_buf(&b, "not commit or abort");
	}
	wire_buf_init(&b, WIRE_RESOLVE);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_CODE, WIRE_COMMITTED);
	wire_put_str(&b, WIRE_T_TEXT, "why");
	expect_reject_buf(&b, "0 NAMEs, not one");
	wire_buf_init(&b, WIRE_RESOLVE);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_CODE, WIRE_COMMITTED);
	wire_put_str(&b, WIRE_T_TEXT, "why");
	wire_put_str(&b, WIRE_T_NAME, "ops");
	wire_put_str(&b, WIRE_T_NAME, "root");
	expect_reject_buf(&b, "2 NAMEs, not one");
	wire_buf_init(&b, WIRE_RESOLVE);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_CODE, WIRE_ABORTED);
	wire_put_str(&b, WIRE_T_TEXT, "");
	wire_put_str(&b, WIRE_T_NAME, "ops");
	expect_reject_buf(&b, "without a reason");
}

Test(wire, rejects_bad_codes)
{
	struct wire_buf b;
	static const uint32_t bad_outcome[] = {0, 4, UINT32_MAX};
	static const uint32_t bad_vote[] = {0, 5, 0x100};
	static const uint32_t bad_error[] = {0, 11, UINT32_MAX};

	for (size_t i = 0; i < 3; i++) {
		wire_buf_init(&b, WIRE_OUTCOME);
		wire_put_str(&b, WIRE_T_GID, "g");
		wire_put_u32(&b, WIRE_T_CODE, bad_outcome[i]);
		expect_reject_buf(&b, "OUTCOME with unknown code");

		wire_buf_init(&b, WIRE_VOTE);
		wire_put_u32(&b, WIRE_T_CODE, bad_vote[i]);
		expect_reject_buf(&b, "VOTE with unknown code");

		wire_buf_init(&b, WIRE_ERROR);
		wire_put_u32(&b, WIRE_T_CODE, bad_error[i]);
		wire_put_str(&b, WIRE_T_TEXT, "t");
		expect_reject_buf(&b, "ERROR with unknown code");
	}

	wire_buf_init(&b, WIRE_OUTCOME);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_CODE, WIRE_ABORTED);
	wire_put_str(&b, WIRE_T_NAME, "a");
	wire_put_str(&b, WIRE_T_NAME, "b");
	expect_reject_buf(&b, "OUTCOME with 2 NAMEs");

	wire_buf_init(&b, WIRE_VOTE);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_YES);
	wire_put_str(&b, WIRE_T_TEXT, "t");
	expect_reject_buf(&b, "other than NO");

	wire_buf_init(&b, WIRE_VOTE);
	wire_put_u32(&b, WIRE_T_CODE, WIRE_VOTE_READONLY);
	wire_put_str(&b, WIRE_T_SQLSTATE, "40001");
	expect_reject_buf(&b, "other than NO");

	/* Protocol 1 (one-phase) belongs to BR_PREPARE alone. */
	wire_buf_init(&b, WIRE_BR_COMMIT);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_PROTOCOL, WIRE_1PC);
	expect_reject_buf(&b, "unknown protocol 1");
	wire_buf_init(&b, WIRE_BEGIN);
	wire_put_u32(&b, WIRE_T_PROTOCOL, WIRE_1PC);
	expect_reject_buf(&b, "unknown protocol 1");

	/* A lease is 1 to WIRE_MAX_LEASE transactions. */
	wire_buf_init(&b, WIRE_BEGIN);
	wire_put_u32(&b, WIRE_T_COUNT, 0);
	expect_reject_buf(&b, "count 0");
	wire_buf_init(&b, WIRE_BEGUN);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_COUNT, WIRE_MAX_LEASE + 1);
	expect_reject_buf(&b, "count 65");
	wire_buf_init(&b, WIRE_STATUS);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_u32(&b, WIRE_T_COUNT, 2);
	expect_reject_buf(&b, "STATUS");
}

Test(wire, rejects_too_many_items)
{
	/* every field an empty NULL: the cheapest items a peer can send */
	size_t nnull = (WIRE_MAX_MSG - WIRE_HEADER_SIZE - 7) / 5;
	size_t len = WIRE_HEADER_SIZE + 7 + nnull * 5;
	uint8_t *p = calloc(1, len);

	cr_assert_not_null(p);
	memcpy(p, "XA", 2);
	p[2] = WIRE_VERSION;
	p[3] = WIRE_RESULT;
	p[4] = WIRE_T_COLUMN;
	p[5] = 2;
	p[9] = 'c';
	for (size_t i = 0; i < nnull; i++)
		p[WIRE_HEADER_SIZE + 7 + i * 5] = WIRE_T_NULL;
	expect_reject(p, len, "repeated fields");
	free(p);
}

/* Encoder */

Test(wire, encoder_failure_is_sticky)
{
	size_t n = (size_t)WIRE_MAX_MSG;
	char *huge = malloc(n + 1);
	struct wire_buf b;
	size_t len;

	cr_assert_not_null(huge);
	memset(huge, 'x', n);
	huge[n] = '\0';
	wire_buf_init(&b, WIRE_BR_PREPARE);
	wire_put_str(&b, WIRE_T_GID, "g");
	cr_assert(!b.failed);
	len = b.len;
	wire_put_str(&b, WIRE_T_SQL, huge);
	cr_assert(b.failed, "a message the decoder would refuse");
	cr_assert_eq(b.len, len);
	wire_put_str(&b, WIRE_T_SQL, "x");
	wire_put_u32(&b, WIRE_T_CODE, 1);
	wire_put_u64(&b, WIRE_T_SEQ, 1);
	wire_put_null(&b);
	cr_assert(b.failed);
	cr_assert_eq(b.len, len);
	wire_buf_free(&b);
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert(!b.failed);
	free(huge);
}

Test(wire, encoder_fills_to_the_limit)
{
	/* the largest message the decoder takes can be encoded */
	size_t n = WIRE_MAX_MSG - WIRE_HEADER_SIZE - (5 + 2) - (5 + 1);
	char *big = malloc(n + 1);
	struct wire_buf b;
	struct wire_msg m;
	char err[ERRLEN];

	cr_assert_not_null(big);
	memset(big, 'y', n);
	big[n] = '\0';
	wire_buf_init(&b, WIRE_BR_PREPARE);
	wire_put_str(&b, WIRE_T_GID, "g");
	wire_put_str(&b, WIRE_T_SQL, big);
	cr_assert(!b.failed);
	cr_assert_eq(b.len, WIRE_MAX_MSG);
	cr_assert_eq(wire_decode(b.data, b.len, &m, err, sizeof(err)), 0, "%s",
	             err);
	wire_msg_free(&m);
	wire_put_null(&b);
	cr_assert(b.failed);
	wire_buf_free(&b);
	free(big);
}

Test(wire, names)
{
	cr_assert_str_eq(wire_type_name(WIRE_BR_PREPARE), "BR_PREPARE");
	cr_assert_str_eq(wire_type_name(WIRE_RESULT), "RESULT");
	cr_assert_str_eq(wire_type_name((enum wire_type)0), "unknown");
	cr_assert_str_eq(wire_type_name((enum wire_type)200), "unknown");
	cr_assert_str_eq(wire_outcome_name(WIRE_COMMITTED), "committed");
	cr_assert_str_eq(wire_outcome_name(WIRE_ABORTED), "aborted");
	cr_assert_str_eq(wire_outcome_name(WIRE_IN_PROGRESS), "in_progress");
	cr_assert_str_eq(wire_outcome_name((enum wire_outcome)9), "unknown");
	cr_assert_str_eq(wire_error_name(WIRE_E_UNKNOWN_TX), "unknown_tx");
	cr_assert_str_eq(wire_error_name(WIRE_E_SHUTTING_DOWN),
	                 "shutting_down");
	cr_assert_str_eq(wire_error_name((enum wire_error)0), "unknown");
	for (unsigned e = WIRE_E_BAD_REQUEST; e <= WIRE_E_CONFLICT; e++)
		cr_assert_str_neq(wire_error_name((enum wire_error)e),
		                  "unknown");
}

Test(wire, decode_error_fits_small_buffer)
{
	static const uint8_t bad[] = {'X', 'B', WIRE_VERSION, WIRE_BEGIN};
	struct wire_msg m;
	char err[8];

	cr_assert_eq(wire_decode(bad, sizeof(bad), &m, err, sizeof(err)), -1);
	cr_assert_str_eq(err, "wire: b");
	cr_assert_eq(wire_decode(bad, sizeof(bad), &m, NULL, 0), -1);
}

/* Mutations */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: fixed seed, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static size_t
rnd(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

#define SCRATCH 2048

static size_t
mutate(uint8_t *d, size_t n, const struct wire_buf *other)
{
	static const uint32_t lens[] = {
	    0, 1, 4, 5, 6, 8, 0x7FFFFFFF, 0xFFFFFFFF, WIRE_MAX_MSG};
	static const uint8_t bytes[] = {0,   1,   2,    4,    5,   6,
	                                16,  17,  18,   19,   20,  21,
	                                'X', 'A', 0x7F, 0x80, 0xFF};
	size_t pos = rnd(n), len;

	switch (rnd(9)) {
	case 0:
		if (n > 0)
			d[pos] ^= (uint8_t)(1u << rnd(8));
		break;
	case 1:
		if (n > 0)
			d[pos] = (uint8_t)rng();
		break;
	case 2:
		if (n > 0)
			d[pos] = bytes[rnd(sizeof(bytes))];
		break;
	case 3:
		n = rnd(n + 1);
		break;
	case 4:
		if (n < SCRATCH) {
			memmove(d + pos + 1, d + pos, n - pos);
			d[pos] = bytes[rnd(sizeof(bytes))];
			n++;
		}
		break;
	case 5:
		if (n > 0) {
			memmove(d + pos, d + pos + 1, n - pos - 1);
			n--;
		}
		break;
	case 6:
		if (n >= 4) {
			uint32_t v = lens[rnd(sizeof(lens) / sizeof(lens[0]))];

			pos = rnd(n - 3);
			for (int i = 0; i < 4; i++)
				d[pos + i] = (uint8_t)(v >> (8 * i));
		}
		break;
	case 7: /* repeat a span: duplicates fields when it hits boundaries */
		len = rnd(n - pos + 1);
		if (n + len <= SCRATCH) {
			memcpy(d + n, d + pos, len);
			n += len;
		}
		break;
	case 8: /* another message's fields after this header */
		if (other->len > WIRE_HEADER_SIZE && n >= WIRE_HEADER_SIZE) {
			len = other->len - WIRE_HEADER_SIZE;
			if (n + len <= SCRATCH) {
				memcpy(d + n, other->data + WIRE_HEADER_SIZE,
				       len);
				n += len;
			}
		}
		break;
	}
	return n;
}

/* What must hold of any message the decoder accepts. */
static void
check_accepted(const uint8_t *buf, size_t len, const struct wire_msg *m)
{
	const char *strs[3] = {m->gid, m->sqlstate, m->text};
	const char *lo = (const char *)buf, *hi = lo + len;
	struct wire_buf b;
	struct wire_msg again;
	char err[ERRLEN];

	for (int i = 0; i < 3; i++)
		if (strs[i] != NULL)
			cr_assert(strs[i] >= lo &&
			          strs[i] + strlen(strs[i]) < hi);
	cr_assert_eq(m->items == NULL, m->nitems == 0);
	for (uint32_t i = 0; i < m->nitems; i++) {
		const char *s = m->items[i].str;

		cr_assert_eq(s == NULL, m->items[i].tag == WIRE_T_NULL);
		if (s != NULL)
			cr_assert(s >= lo && s + strlen(s) < hi);
	}
	if (m->sqlstate != NULL)
		cr_assert_eq(strlen(m->sqlstate), 5);
	/* validity does not depend on where the scalars sit */
	reencode(m, &b);
	cr_assert(!b.failed);
	cr_assert_eq(wire_decode(b.data, b.len, &again, err, sizeof(err)), 0,
	             "re-encoded message refused: %s", err);
	cr_assert_eq(again.nitems, m->nitems);
	wire_msg_free(&again);
	wire_buf_free(&b);
}

Test(wire, random_mutations_never_crash, .timeout = 120)
{
	struct wire_buf enc[NSAMPLES];
	unsigned accepted = 0, rejected = 0;
	uint8_t *scratch = malloc(SCRATCH);

	cr_assert_not_null(scratch);
	for (size_t i = 0; i < NSAMPLES; i++)
		encode_sample(&samples[i], -1, &enc[i]);
	rng_state = UINT64_C(0x9E3779B97F4A7C15);
	for (unsigned iter = 0; iter < 100000; iter++) {
		const struct wire_buf *src = &enc[rnd(NSAMPLES)];
		size_t n = src->len, rounds = 1 + rnd(4);
		struct wire_msg m;
		char err[ERRLEN];
		uint8_t *exact;

		memcpy(scratch, src->data, n);
		for (size_t r = 0; r < rounds; r++)
			n = mutate(scratch, n, &enc[rnd(NSAMPLES)]);
		/* exact size, so ASan sees any read past the end */
		exact = malloc(n > 0 ? n : 1);
		memcpy(exact, scratch, n);
		err[0] = '\0';
		if (wire_decode(exact, n, &m, err, sizeof(err)) == 0) {
			check_accepted(exact, n, &m);
			wire_msg_free(&m);
			accepted++;
		} else {
			cr_assert(strncmp(err, "wire: ", 6) == 0, "%s", err);
			cr_assert_null(m.items);
			rejected++;
		}
		free(exact);
	}
	/* the loop must exercise both sides to mean anything */
	cr_assert_gt(accepted, 1000, "accepted %u", accepted);
	cr_assert_gt(rejected, 1000, "rejected %u", rejected);
	for (size_t i = 0; i < NSAMPLES; i++)
		wire_buf_free(&enc[i]);
	free(scratch);
}

/* Fuzzer seeds: only when asked. */
Test(wire, write_corpus)
{
	const char *dir = getenv("WIRE_WRITE_CORPUS");
	char path[4096];

	if (dir == NULL || dir[0] == '\0')
		return;
	cr_assert(mkdir(dir, 0777) == 0 || errno == EEXIST, "%s: %s", dir,
	          strerror(errno));
	for (size_t i = 0; i < NSAMPLES; i++) {
		struct wire_buf b;
		FILE *f;

		encode_sample(&samples[i], -1, &b);
		snprintf(path, sizeof(path), "%s/%s.bin", dir, samples[i].name);
		f = fopen(path, "wb");
		cr_assert_not_null(f, "%s: %s", path, strerror(errno));
		cr_assert_eq(fwrite(b.data, 1, b.len, f), b.len);
		cr_assert_eq(fclose(f), 0);
		wire_buf_free(&b);
	}
}
