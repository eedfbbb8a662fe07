/*
 * wire: encoder and validating decoder; wire.h describes the format.
 *
 * The decoder reads bytes from any peer that can reach a socket, so it
 * trusts nothing and never reads outside [buf, buf + len). It works in two
 * passes. The first checks every field on its own (tag, length, value) and
 * against the message type's rule, stores the scalars and counts the items;
 * the second, over bytes the first has proved well formed, fills the item
 * array, which is therefore allocated once at its exact size. The structure
 * that spans fields (ordering of items, code ranges) is checked last, on
 * the finished message.
 *
 * What each type may carry lives in one table, type_rules, so a new type
 * is one entry there (plus, if its structure is more than "these fields",
 * one check function).
 */
#include "wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_HEADER_SIZE 5 /* tag(1) length(4) */
#define INITIAL_CAP       256
#define SQLSTATE_LEN      5

/*
 * Bounds the one item allocation whatever a peer claims: without it a
 * message of WIRE_MAX_MSG bytes of empty NULL fields would cost 3.3M items.
 * 1M items (16 MiB of wire_item) is far more than any sane result set.
 */
#define WIRE_MAX_ITEMS (1u << 20)

#define NELEM(a)     (sizeof(a) / sizeof((a)[0]))
#define TAG_BIT(tag) (UINT32_C(1) << (tag))

enum field_kind {
	KIND_STR = 1,
	KIND_SQLSTATE,
	KIND_U32,
	KIND_U64,
	KIND_EMPTY,
};

struct tag_rule {
	const char *name; /* NULL: not a tag */
	enum field_kind kind;
	bool item; /* repeated, kept in order; otherwise at most once */
};

static const struct tag_rule tag_rules[] = {
    [WIRE_T_GID] = {"gid", KIND_STR, false},
    [WIRE_T_SEQ] = {"seq", KIND_U64, false},
    [WIRE_T_CODE] = {"code", KIND_U32, false},
    [WIRE_T_SQLSTATE] = {"sqlstate", KIND_SQLSTATE, false},
    [WIRE_T_TEXT] = {"text", KIND_STR, false},
    [WIRE_T_AFFECTED] = {"affected", KIND_U64, false},
    [WIRE_T_PROTOCOL] = {"protocol", KIND_U32, false},
    [WIRE_T_BALLOT] = {"ballot", KIND_U64, false},
    [WIRE_T_VALUE] = {"value", KIND_U32, false},
    [WIRE_T_ACCEPTED] = {"accepted", KIND_U32, false},
    [WIRE_T_ACC_BALLOT] = {"acc_ballot", KIND_U64, false},
    [WIRE_T_RANK] = {"rank", KIND_U32, false},
    [WIRE_T_QUORUM] = {"quorum", KIND_U32, false},
    [WIRE_T_VOTED] = {"voted", KIND_U32, false},
    [WIRE_T_COUNT] = {"count", KIND_U32, false},
    [WIRE_T_NAME] = {"NAME", KIND_STR, true},
    [WIRE_T_SQL] = {"SQL", KIND_STR, true},
    [WIRE_T_COLUMN] = {"COLUMN", KIND_STR, true},
    [WIRE_T_CELL] = {"CELL", KIND_STR, true},
    [WIRE_T_NULL] = {"NULL", KIND_EMPTY, true},
    [WIRE_T_URL] = {"URL", KIND_STR, true},
};

/* Item counts by tag, gathered by the first pass for the checks. */
struct tally {
	uint32_t count[NELEM(tag_rules)];
};

typedef int (*check_fn)(const struct wire_msg *m, const struct tally *t,
                        char *err, size_t errlen);

struct type_rule {
	const char *name;  /* NULL: not a type */
	uint32_t required; /* TAG_BITs of scalars that must be present */
	uint32_t allowed;  /* TAG_BITs of every tag it may carry */
	check_fn check;    /* structure beyond the masks, or NULL */
};

static int check_exec(const struct wire_msg *, const struct tally *, char *,
                      size_t);
static int check_submit(const struct wire_msg *, const struct tally *, char *,
                        size_t);
static int check_br_exec(const struct wire_msg *, const struct tally *, char *,
                         size_t);
static int check_result(const struct wire_msg *, const struct tally *, char *,
                        size_t);
static int check_outcome(const struct wire_msg *, const struct tally *, char *,
                         size_t);
static int check_vote(const struct wire_msg *, const struct tally *, char *,
                      size_t);
static int check_error(const struct wire_msg *, const struct tally *, char *,
                       size_t);
static int check_protocol(const struct wire_msg *, const struct tally *, char *,
                          size_t);
static int check_prepare(const struct wire_msg *, const struct tally *, char *,
                         size_t);
static int check_begin(const struct wire_msg *, const struct tally *, char *,
                       size_t);
static int check_precommit(const struct wire_msg *, const struct tally *,
                           char *, size_t);
static int check_state(const struct wire_msg *, const struct tally *, char *,
                       size_t);
static int check_resolve(const struct wire_msg *, const struct tally *, char *,
                         size_t);

#define B_GID      TAG_BIT(WIRE_T_GID)
#define B_SEQ      TAG_BIT(WIRE_T_SEQ)
#define B_CODE     TAG_BIT(WIRE_T_CODE)
#define B_SQLSTATE TAG_BIT(WIRE_T_SQLSTATE)
#define B_TEXT     TAG_BIT(WIRE_T_TEXT)
#define B_AFFECTED TAG_BIT(WIRE_T_AFFECTED)
#define B_NAME     TAG_BIT(WIRE_T_NAME)
#define B_SQL      TAG_BIT(WIRE_T_SQL)
#define B_COLUMN   TAG_BIT(WIRE_T_COLUMN)
#define B_CELL     TAG_BIT(WIRE_T_CELL)
#define B_NULL     TAG_BIT(WIRE_T_NULL)
#define B_PROTOCOL TAG_BIT(WIRE_T_PROTOCOL)
#define B_BALLOT   TAG_BIT(WIRE_T_BALLOT)
#define B_VALUE    TAG_BIT(WIRE_T_VALUE)
#define B_ACCEPTED TAG_BIT(WIRE_T_ACCEPTED)
#define B_ACCBAL   TAG_BIT(WIRE_T_ACC_BALLOT)
#define B_RANK     TAG_BIT(WIRE_T_RANK)
#define B_QUORUM   TAG_BIT(WIRE_T_QUORUM)
#define B_URL      TAG_BIT(WIRE_T_URL)
#define B_VOTED    TAG_BIT(WIRE_T_VOTED)
#define B_COUNT    TAG_BIT(WIRE_T_COUNT)

static const struct type_rule type_rules[] = {
    [WIRE_BEGIN] = {"BEGIN", 0, B_PROTOCOL | B_COUNT, check_begin},
    [WIRE_EXEC] = {"EXEC", B_GID | B_SEQ, B_GID | B_SEQ | B_NAME | B_SQL,
                   check_exec},
    [WIRE_COMMIT] = {"COMMIT", B_GID, B_GID, NULL},
    [WIRE_ROLLBACK] = {"ROLLBACK", B_GID, B_GID, NULL},
    [WIRE_SUBMIT] = {"SUBMIT", 0, B_GID | B_PROTOCOL | B_NAME | B_SQL,
                     check_submit},
    [WIRE_STATUS] = {"STATUS", B_GID, B_GID, NULL},
    [WIRE_STATS] = {"STATS", 0, 0, NULL},
    [WIRE_LIST] = {"LIST", 0, 0, NULL},
    [WIRE_RESOLVE] = {"RESOLVE", B_GID | B_CODE | B_TEXT,
                      B_GID | B_CODE | B_TEXT | B_NAME, check_resolve},
    [WIRE_BR_EXEC] = {"BR_EXEC", B_GID | B_SEQ, B_GID | B_SEQ | B_SQL,
                      check_br_exec},
    [WIRE_BR_PREPARE] = {"BR_PREPARE", B_GID,
                         B_GID | B_SQL | B_PROTOCOL | B_RANK | B_QUORUM |
                             B_NAME | B_URL,
                         check_prepare},
    [WIRE_BR_COMMIT] = {"BR_COMMIT", B_GID, B_GID | B_PROTOCOL, check_protocol},
    [WIRE_BR_ROLLBACK] = {"BR_ROLLBACK", B_GID, B_GID | B_PROTOCOL,
                          check_protocol},
    [WIRE_BR_STATE] = {"BR_STATE", B_GID | B_BALLOT, B_GID | B_BALLOT, NULL},
    [WIRE_BR_PRECOMMIT] = {"BR_PRECOMMIT", B_GID | B_BALLOT | B_VALUE,
                           B_GID | B_BALLOT | B_VALUE, check_precommit},
    [WIRE_BR_RESOLVE] = {"BR_RESOLVE", B_GID, B_GID, NULL},
    [WIRE_INQUIRE] = {"INQUIRE", B_GID, B_GID, NULL},
    [WIRE_BEGUN] = {"BEGUN", B_GID, B_GID | B_COUNT, check_begin},
    [WIRE_RESULT] = {"RESULT", 0,
                     B_SQLSTATE | B_TEXT | B_AFFECTED | B_COLUMN | B_CELL |
                         B_NULL,
                     check_result},
    [WIRE_OUTCOME] = {"OUTCOME", B_GID | B_CODE,
                      B_GID | B_CODE | B_TEXT | B_SQLSTATE | B_NAME,
                      check_outcome},
    [WIRE_VOTE] = {"VOTE", B_CODE, B_CODE | B_GID | B_SQLSTATE | B_TEXT,
                   check_vote},
    [WIRE_ACK] = {"ACK", 0, B_GID, NULL},
    [WIRE_ERROR] = {"ERROR", B_CODE | B_TEXT, B_CODE | B_TEXT, check_error},
    [WIRE_STATE] = {"STATE", B_GID | B_CODE,
                    B_GID | B_CODE | B_VALUE | B_ACCEPTED | B_ACCBAL |
                        B_BALLOT | B_VOTED,
                    check_state},
};

static const struct tag_rule *
tag_rule(unsigned tag)
{
	if (tag >= NELEM(tag_rules) || tag_rules[tag].name == NULL)
		return NULL;
	return &tag_rules[tag];
}

static const struct type_rule *
type_rule(unsigned type)
{
	if (type >= NELEM(type_rules) || type_rules[type].name == NULL)
		return NULL;
	return &type_rules[type];
}

static const char *
tag_name(enum wire_tag tag)
{
	const struct tag_rule *r = tag_rule(tag);

	return r != NULL ? r->name : "?";
}

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "wire: %s", why);
	return -1;
}

/* Encoder */

/*
 * Make room for n more bytes. A message the decoder would refuse for its
 * size counts as a failure too: better the sender learns it than the peer.
 */
static bool
reserve(struct wire_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->failed)
		return false;
	if (n > WIRE_MAX_MSG - b->len) {
		b->failed = true;
		return false;
	}
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap > 0 ? b->cap : INITIAL_CAP;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

static void
store_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
load_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
put_field(struct wire_buf *b, enum wire_tag tag, const void *val, size_t n)
{
	uint8_t *p;

	if (n > UINT32_MAX || !reserve(b, FIELD_HEADER_SIZE + n)) {
		b->failed = true;
		return;
	}
	p = b->data + b->len;
	p[0] = (uint8_t)tag;
	store_le(p + 1, n, 4);
	if (n > 0)
		memcpy(p + FIELD_HEADER_SIZE, val, n);
	b->len += FIELD_HEADER_SIZE + n;
}

void
wire_buf_init(struct wire_buf *b, enum wire_type type)
{
	memset(b, 0, sizeof(*b));
	if (!reserve(b, WIRE_HEADER_SIZE))
		return;
	b->data[0] = 'X';
	b->data[1] = 'A';
	b->data[2] = WIRE_VERSION;
	b->data[3] = (uint8_t)type;
	b->len = WIRE_HEADER_SIZE;
}

void
wire_put_str(struct wire_buf *b, enum wire_tag tag, const char *s)
{
	assert(s != NULL);
	put_field(b, tag, s, strlen(s) + 1);
}

void
wire_put_u32(struct wire_buf *b, enum wire_tag tag, uint32_t v)
{
	uint8_t le[4];

	store_le(le, v, sizeof(le));
	put_field(b, tag, le, sizeof(le));
}

void
wire_put_u64(struct wire_buf *b, enum wire_tag tag, uint64_t v)
{
	uint8_t le[8];

	store_le(le, v, sizeof(le));
	put_field(b, tag, le, sizeof(le));
}

void
wire_put_null(struct wire_buf *b)
{
	put_field(b, WIRE_T_NULL, NULL, 0);
}

void
wire_buf_free(struct wire_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Decoder */

static bool
valid_sqlstate(const uint8_t *v)
{
	for (size_t i = 0; i < SQLSTATE_LEN; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		      (v[i] >= 'A' && v[i] <= 'Z')))
			return false;
	return true;
}

/* Check one field's value against its tag's kind. */
static int
check_value(unsigned idx, const struct tag_rule *r, const uint8_t *v,
            uint32_t n, char *err, size_t errlen)
{
	const uint8_t *nul;

	switch (r->kind) {
	case KIND_STR:
	case KIND_SQLSTATE:
		if (n == 0)
			return fail(err, errlen,
			            "field %u (%s) is empty, a string needs "
			            "its NUL",
			            idx, r->name);
		nul = memchr(v, '\0', n);
		if (nul == NULL)
			return fail(err, errlen,
			            "field %u (%s) lacks its terminating NUL",
			            idx, r->name);
		if (nul != v + n - 1)
			return fail(err, errlen,
			            "field %u (%s) has a NUL at byte %zu of %u",
			            idx, r->name, (size_t)(nul - v), n);
		if (r->kind == KIND_SQLSTATE &&
		    (n != SQLSTATE_LEN + 1 || !valid_sqlstate(v)))
			return fail(err, errlen,
			            "field %u (%s) is not 5 characters of "
			            "[0-9A-Z]",
			            idx, r->name);
		return 0;
	case KIND_U32:
	case KIND_U64:
	case KIND_EMPTY: {
		uint32_t want = r->kind == KIND_U32   ? 4
		                : r->kind == KIND_U64 ? 8
		                                      : 0;

		if (n != want)
			return fail(err, errlen,
			            "field %u (%s) has %u bytes, expected %u",
			            idx, r->name, n, want);
		return 0;
	}
	}
	assert(!"tag_rules entry without a kind");
	return -1;
}

static void
store_scalar(struct wire_msg *m, enum wire_tag tag, const uint8_t *v,
             uint32_t n)
{
	const char *s = (const char *)v;

	switch (tag) {
	case WIRE_T_GID:
		m->gid = s;
		break;
	case WIRE_T_SEQ:
		m->seq = load_le(v, n);
		m->has_seq = true;
		break;
	case WIRE_T_CODE:
		m->code = (uint32_t)load_le(v, n);
		m->has_code = true;
		break;
	case WIRE_T_SQLSTATE:
		m->sqlstate = s;
		break;
	case WIRE_T_TEXT:
		m->text = s;
		break;
	case WIRE_T_AFFECTED:
		m->affected = load_le(v, n);
		m->has_affected = true;
		break;
	case WIRE_T_PROTOCOL:
		m->protocol = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_BALLOT:
		m->ballot = load_le(v, n);
		m->has_ballot = true;
		break;
	case WIRE_T_VALUE:
		m->value = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_ACCEPTED:
		m->accepted = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_ACC_BALLOT:
		m->acc_ballot = load_le(v, n);
		break;
	case WIRE_T_RANK:
		m->rank = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_QUORUM:
		m->quorum = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_VOTED:
		m->voted = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_COUNT:
		m->count = (uint32_t)load_le(v, n);
		break;
	case WIRE_T_NAME:
	case WIRE_T_SQL:
	case WIRE_T_COLUMN:
	case WIRE_T_CELL:
	case WIRE_T_NULL:
	case WIRE_T_URL:
		assert(!"items are not scalars");
		break;
	}
}

/*
 * First pass: validate every field, store scalars into m and count items
 * into t. Leaves m->items unset.
 */
static int
scan_fields(const uint8_t *p, size_t len, const struct type_rule *rule,
            struct wire_msg *m, struct tally *t, char *err, size_t errlen)
{
	uint32_t seen = 0;
	size_t off = WIRE_HEADER_SIZE;
	unsigned idx = 0;

	while (off < len) {
		const struct tag_rule *r;
		enum wire_tag tag;
		uint32_t n;

		idx++;
		if (len - off < FIELD_HEADER_SIZE)
			return fail(err, errlen,
			            "field %u header runs past the end (needs "
			            "%d bytes, %zu left)",
			            idx, FIELD_HEADER_SIZE, len - off);
		r = tag_rule(p[off]);
		if (r == NULL)
			return fail(err, errlen, "field %u has unknown tag %u",
			            idx, p[off]);
		tag = (enum wire_tag)p[off];
		n = (uint32_t)load_le(p + off + 1, 4);
		off += FIELD_HEADER_SIZE;
		if (n > len - off)
			return fail(err, errlen,
			            "field %u (tag %u) runs past the end "
			            "(needs %u bytes, %zu left)",
			            idx, (unsigned)tag, n, len - off);
		if (!(rule->allowed & TAG_BIT(tag)))
			return fail(err, errlen, "%s does not take %s",
			            rule->name, r->name);
		if (check_value(idx, r, p + off, n, err, errlen) != 0)
			return -1;
		if (r->item) {
			if (m->nitems == WIRE_MAX_ITEMS)
				return fail(err, errlen,
				            "more than %u repeated fields",
				            WIRE_MAX_ITEMS);
			m->nitems++;
			t->count[tag]++;
		} else {
			if (seen & TAG_BIT(tag))
				return fail(err, errlen, "field %u repeats %s",
				            idx, r->name);
			seen |= TAG_BIT(tag);
			store_scalar(m, tag, p + off, n);
		}
		off += n;
	}
	m->present = seen;
	for (unsigned tag = 0; tag < NELEM(tag_rules); tag++)
		if ((rule->required & TAG_BIT(tag)) && !(seen & TAG_BIT(tag)))
			return fail(err, errlen, "%s without %s", rule->name,
			            tag_name((enum wire_tag)tag));
	return 0;
}

/* Second pass, over fields scan_fields accepted: collect the items. */
static void
fill_items(const uint8_t *p, size_t len, struct wire_msg *m)
{
	size_t off = WIRE_HEADER_SIZE;
	uint32_t k = 0;

	while (off < len) {
		enum wire_tag tag = (enum wire_tag)p[off];
		uint32_t n = (uint32_t)load_le(p + off + 1, 4);

		off += FIELD_HEADER_SIZE;
		if (tag_rules[tag].item) {
			assert(k < m->nitems);
			m->items[k].tag = tag;
			m->items[k].str =
			    tag == WIRE_T_NULL ? NULL : (const char *)(p + off);
			k++;
		}
		off += n;
	}
	assert(k == m->nitems);
}

int
wire_decode(const void *buf, size_t len, struct wire_msg *out, char *err,
            size_t errlen)
{
	const uint8_t *p = buf;
	const struct type_rule *rule;
	struct wire_msg m = {0};
	struct tally t = {{0}};

	memset(out, 0, sizeof(*out));
	if (len > WIRE_MAX_MSG)
		return fail(err, errlen, "message of %zu bytes exceeds %u", len,
		            WIRE_MAX_MSG);
	if (len < WIRE_HEADER_SIZE)
		return fail(err, errlen,
		            "message of %zu bytes is shorter than the header",
		            len);
	if (p[0] != 'X' || p[1] != 'A')
		return fail(err, errlen, "bad magic 0x%02x%02x", p[0], p[1]);
	if (p[2] != WIRE_VERSION)
		return fail(err, errlen, "version %u, expected %u", p[2],
		            WIRE_VERSION);
	rule = type_rule(p[3]);
	if (rule == NULL)
		return fail(err, errlen, "unknown message type %u", p[3]);
	m.type = (enum wire_type)p[3];

	if (scan_fields(p, len, rule, &m, &t, err, errlen) != 0)
		return -1;
	if (m.nitems > 0) {
		m.items = calloc(m.nitems, sizeof(*m.items));
		if (m.items == NULL)
			return fail(err, errlen, "out of memory for %u items",
			            m.nitems);
		fill_items(p, len, &m);
	}
	if (rule->check != NULL && rule->check(&m, &t, err, errlen) != 0) {
		free(m.items);
		return -1;
	}
	*out = m;
	return 0;
}

void
wire_msg_free(struct wire_msg *m)
{
	if (m == NULL)
		return;
	free(m->items);
	memset(m, 0, sizeof(*m));
}

/* Structure checks, one per type that needs more than its masks. */

static int
check_exec(const struct wire_msg *m, const struct tally *t, char *err,
           size_t errlen)
{
	(void)m;
	if (t->count[WIRE_T_NAME] != 1 || t->count[WIRE_T_SQL] != 1)
		return fail(err, errlen,
		            "EXEC needs one NAME and one SQL (has %u and %u)",
		            t->count[WIRE_T_NAME], t->count[WIRE_T_SQL]);
	return 0;
}

static int
check_protocol(const struct wire_msg *m, const struct tally *t, char *err,
               size_t errlen)
{
	(void)t;
	if (m->protocol != 0 && m->protocol != WIRE_2PC &&
	    m->protocol != WIRE_3PC)
		return fail(err, errlen, "%s with unknown protocol %u",
		            wire_type_name(m->type), m->protocol);
	return 0;
}

static int
check_begin(const struct wire_msg *m, const struct tally *t, char *err,
            size_t errlen)
{
	if ((m->present & B_COUNT) &&
	    (m->count == 0 || m->count > WIRE_MAX_LEASE))
		return fail(err, errlen, "%s with count %u (1 to %u)",
		            wire_type_name(m->type), m->count, WIRE_MAX_LEASE);
	return check_protocol(m, t, err, errlen);
}

/* Values of lib/term.h: 1 commit, 2 abort (0 none). */
static bool
value_known(uint32_t v, bool none_ok)
{
	return v == 1 || v == 2 || (none_ok && v == 0);
}

/*
 * A 3PC PREPARE names every participant, each NAME followed by its URL,
 * before the statements, and the receiver's rank among them.
 */
static int
check_prepare(const struct wire_msg *m, const struct tally *t, char *err,
              size_t errlen)
{
	uint32_t npeers = t->count[WIRE_T_NAME];

	if (m->protocol != WIRE_1PC && check_protocol(m, t, err, errlen) != 0)
		return -1;
	if (m->protocol != WIRE_3PC) {
		if (npeers > 0 || t->count[WIRE_T_URL] > 0)
			return fail(err, errlen,
			            "BR_PREPARE names participants without "
			            "protocol 3");
		return 0;
	}
	if (npeers == 0 || npeers > 32 || t->count[WIRE_T_URL] != npeers)
		return fail(err, errlen,
		            "3PC BR_PREPARE needs 1 to 32 NAME and URL pairs "
		            "(has %u and %u)",
		            npeers, t->count[WIRE_T_URL]);
	for (uint32_t i = 0; i < 2 * npeers; i++)
		if (m->items[i].tag != (i % 2 == 0 ? WIRE_T_NAME : WIRE_T_URL))
			return fail(err, errlen,
			            "3PC BR_PREPARE: item %u is not the %s "
			            "expected",
			            i + 1, i % 2 == 0 ? "NAME" : "URL");
	if (m->rank >= npeers)
		return fail(err, errlen, "3PC BR_PREPARE: rank %u of %u",
		            m->rank, npeers);
	if (m->quorum > 1)
		return fail(err, errlen, "3PC BR_PREPARE: quorum %u",
		            m->quorum);
	return 0;
}

static int
check_precommit(const struct wire_msg *m, const struct tally *t, char *err,
                size_t errlen)
{
	(void)t;
	if (!value_known(m->value, false))
		return fail(err, errlen, "BR_PRECOMMIT with value %u",
		            m->value);
	if (m->ballot == 0)
		return fail(err, errlen, "BR_PRECOMMIT with ballot 0");
	return 0;
}

static int
check_state(const struct wire_msg *m, const struct tally *t, char *err,
            size_t errlen)
{
	(void)t;
	if (m->code < WIRE_ST_ANSWER || m->code > WIRE_ST_FORGOTTEN)
		return fail(err, errlen, "STATE with unknown code %u", m->code);
	if (!value_known(m->value, true) || !value_known(m->accepted, true))
		return fail(err, errlen, "STATE with unknown value");
	if ((m->accepted != 0) != (m->acc_ballot != 0))
		return fail(err, errlen,
		            "STATE: accepted and its ballot go together");
	return 0;
}

static int
check_submit(const struct wire_msg *m, const struct tally *t, char *err,
             size_t errlen)
{
	if (check_protocol(m, t, err, errlen) != 0)
		return -1;
	if (m->nitems == 0)
		return fail(err, errlen, "SUBMIT without NAME");
	if (m->items[0].tag != WIRE_T_NAME)
		return fail(err, errlen, "SUBMIT must start with NAME");
	for (uint32_t i = 0; i < m->nitems; i++)
		if (m->items[i].tag == WIRE_T_NAME &&
		    (i + 1 == m->nitems || m->items[i + 1].tag == WIRE_T_NAME))
			return fail(err, errlen,
			            "SUBMIT: NAME at item %u has no SQL",
			            i + 1);
	return 0;
}

static int
check_br_exec(const struct wire_msg *m, const struct tally *t, char *err,
              size_t errlen)
{
	(void)m;
	if (t->count[WIRE_T_SQL] != 1)
		return fail(err, errlen, "BR_EXEC needs one SQL (has %u)",
		            t->count[WIRE_T_SQL]);
	return 0;
}

/*
 * A RESULT is either a SQL error (sqlstate and text, nothing else) or rows:
 * all COLUMNs first, then the values row by row, so the number of values
 * must be a multiple of the number of columns.
 */
static int
check_result(const struct wire_msg *m, const struct tally *t, char *err,
             size_t errlen)
{
	uint32_t ncols = t->count[WIRE_T_COLUMN];
	uint32_t ncells = t->count[WIRE_T_CELL] + t->count[WIRE_T_NULL];

	if (m->sqlstate != NULL || m->text != NULL) {
		if (m->sqlstate == NULL || m->text == NULL)
			return fail(
			    err, errlen,
			    "RESULT error needs both sqlstate and text");
		if (m->nitems > 0 || m->has_affected)
			return fail(err, errlen,
			            "RESULT error carries rows too");
		return 0;
	}
	for (uint32_t i = ncols; i < m->nitems; i++)
		if (m->items[i].tag == WIRE_T_COLUMN)
			return fail(err, errlen,
			            "RESULT: COLUMN at item %u follows values",
			            i + 1);
	if (ncols == 0 && ncells > 0)
		return fail(err, errlen, "RESULT has values but no COLUMN");
	if (ncols > 0 && ncells % ncols != 0)
		return fail(err, errlen, "RESULT has %u values for %u columns",
		            ncells, ncols);
	return 0;
}

/* A name for each known value, NULL for anything else. */
static const char *
outcome_name(uint32_t o)
{
	switch ((enum wire_outcome)o) {
	case WIRE_COMMITTED:
		return "committed";
	case WIRE_ABORTED:
		return "aborted";
	case WIRE_IN_PROGRESS:
		return "in_progress";
	}
	return NULL;
}

static bool
vote_known(uint32_t v)
{
	switch ((enum wire_vote)v) {
	case WIRE_VOTE_YES:
	case WIRE_VOTE_NO:
	case WIRE_VOTE_READONLY:
	case WIRE_VOTE_COMMITTED:
		return true;
	}
	return false;
}

static const char *
error_name(uint32_t e)
{
	switch ((enum wire_error)e) {
	case WIRE_E_BAD_REQUEST:
		return "bad_request";
	case WIRE_E_UNKNOWN_TX:
		return "unknown_tx";
	case WIRE_E_UNKNOWN_NAME:
		return "unknown_name";
	case WIRE_E_BUSY:
		return "busy";
	case WIRE_E_NOT_ACTIVE:
		return "not_active";
	case WIRE_E_UNAVAILABLE:
		return "unavailable";
	case WIRE_E_LIMIT:
		return "limit";
	case WIRE_E_INTERNAL:
		return "internal";
	case WIRE_E_SHUTTING_DOWN:
		return "shutting_down";
	case WIRE_E_CONFLICT:
		return "conflict";
	}
	return NULL;
}

static int
check_outcome(const struct wire_msg *m, const struct tally *t, char *err,
              size_t errlen)
{
	if (outcome_name(m->code) == NULL)
		return fail(err, errlen, "OUTCOME with unknown code %u",
		            m->code);
	if (t->count[WIRE_T_NAME] > 1)
		return fail(err, errlen, "OUTCOME with %u NAMEs",
		            t->count[WIRE_T_NAME]);
	return 0;
}

static int
check_vote(const struct wire_msg *m, const struct tally *t, char *err,
           size_t errlen)
{
	(void)t;
	if (!vote_known(m->code))
		return fail(err, errlen, "VOTE with unknown code %u", m->code);
	if (m->code != WIRE_VOTE_NO && (m->sqlstate != NULL || m->text != NULL))
		return fail(err, errlen,
		            "VOTE other than NO carries sqlstate or text");
	return 0;
}

static int
check_error(const struct wire_msg *m, const struct tally *t, char *err,
            size_t errlen)
{
	(void)t;
	if (error_name(m->code) == NULL)
		return fail(err, errlen, "ERROR with unknown code %u", m->code);
	return 0;
}

static int
check_resolve(const struct wire_msg *m, const struct tally *t, char *err,
              size_t errlen)
{
	if (m->code != WIRE_COMMITTED && m->code != WIRE_ABORTED)
		return fail(err, errlen,
		            "RESOLVE with code %u: not commit "
		            "or abort",
		            m->code);
	if (t->count[WIRE_T_NAME] != 1)
		return fail(err, errlen, "RESOLVE with %u NAMEs, not one",
		            t->count[WIRE_T_NAME]);
	if (m->text[0] == '\0')
		return fail(err, errlen, "RESOLVE without a reason");
	return 0;
}

/* Lookups */

const char *
wire_first(const struct wire_msg *m, enum wire_tag tag)
{
	for (uint32_t i = 0; i < m->nitems; i++)
		if (m->items[i].tag == tag)
			return m->items[i].str;
	return NULL;
}

uint32_t
wire_count(const struct wire_msg *m, enum wire_tag tag)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->nitems; i++)
		if (m->items[i].tag == tag)
			n++;
	return n;
}

const char *
wire_type_name(enum wire_type t)
{
	const struct type_rule *r = type_rule(t);

	return r != NULL ? r->name : "unknown";
}

const char *
wire_outcome_name(enum wire_outcome o)
{
	const char *s = outcome_name(o);

	return s != NULL ? s : "unknown";
}

const char *
wire_error_name(enum wire_error e)
{
	const char *s = error_name(e);

	return s != NULL ? s : "unknown";
}
