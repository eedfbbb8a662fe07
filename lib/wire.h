/*
 * wire: the messages between clients, the coordinator and participants.
 *
 * A message is a 4-byte header and a sequence of fields:
 *
 *   'X' 'A' version(1) type(1)  then  { tag(1) length(u32 LE) value }*
 *
 * Strings are sent with their terminating NUL (counted in length), so a
 * decoded string is a C string pointing into the received buffer: no copy.
 * The decoder refuses any string without that NUL or with an embedded one,
 * unknown tags and types, lengths past the end, integers of the wrong size,
 * and messages that miss a field their type requires.
 *
 * Exchanges (request -> reply):
 *
 *   client -> coordinator
 *     BEGIN {[protocol], [count]}         -> BEGUN {gid, [count]}
 *       (count > 1: a lease of count transactions, gid and the next
 *       count - 1 sequence numbers, for SUBMITs with no BEGIN each)
 *     EXEC {gid, NAME, seq, SQL}          -> RESULT | ERROR
 *     COMMIT {gid}                        -> OUTCOME | ERROR
 *     ROLLBACK {gid}                      -> OUTCOME | ERROR
 *     SUBMIT {[gid], [protocol], (NAME SQL+)+}  -> OUTCOME | ERROR
 *       (gid: from a BEGIN, so the client knows it before any work)
 *     STATUS {gid}                        -> OUTCOME
 *     STATS {}                            -> RESULT (columns name, value)
 *   coordinator -> participant
 *     BR_EXEC {gid, seq, SQL}             -> RESULT | ERROR
 *     BR_PREPARE {gid, SQL*}              -> VOTE
 *     BR_PREPARE {gid, protocol=3, rank, quorum, (NAME URL)+, SQL*}
 *                                         -> VOTE   (3PC: the participants)
 *     BR_PREPARE {gid, protocol=1, SQL*}  -> VOTE   (one-phase: the only
 *                                            branch; COMMITTED, NO, or YES
 *                                            if it prepared instead)
 *     BR_RESOLVE {gid}                    -> OUTCOME (one-phase: committed,
 *                                            or aborted for good from now)
 *     BR_COMMIT {gid, [protocol]}         -> ACK | ERROR
 *     BR_ROLLBACK {gid, [protocol]}       -> ACK
 *   coordinator or backup -> participant (3PC termination, lib/term.h)
 *     BR_STATE {gid, ballot}              -> STATE
 *     BR_PRECOMMIT {gid, ballot, value}   -> STATE  (value ABORT: PRE-ABORT)
 *   participant -> coordinator
 *     INQUIRE {gid}                       -> OUTCOME
 *
 * RESULT carries either a SQL error (sqlstate, text) or the result of a
 * statement: COLUMN names, then CELL/NULL values row by row, and affected.
 * VOTE carries code = wire_vote and, for NO, sqlstate and text.
 * OUTCOME carries gid, code = wire_outcome and, for an abort, text (the
 * reason) and where known NAME (the participant) and sqlstate.
 * ERROR carries code = wire_error and text.
 * STATE carries gid, code = wire_state and, as the code says, the decided
 * value (value), what was accepted (accepted, acc_ballot) and the ballot
 * promised (ballot), and whether it voted YES (voted). Values and ballots
 * are those of lib/term.h. A BR_STATE of ballot 0 is a probe: it changes
 * nothing and is always answered.
 */
#ifndef XACT_WIRE_H
#define XACT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION     1
#define WIRE_HEADER_SIZE 4
#define WIRE_MAX_MSG     (16u << 20) /* largest message accepted */
#define WIRE_MAX_LEASE   64          /* largest BEGIN count */

enum wire_type {
	WIRE_BEGIN = 1,
	WIRE_EXEC = 2,
	WIRE_COMMIT = 3,
	WIRE_ROLLBACK = 4,
	WIRE_SUBMIT = 5,
	WIRE_STATUS = 6,
	WIRE_STATS = 7,
	WIRE_LIST = 8, /* admin: open transactions / prepared branches */
	/* admin: an operator's decision (CODE), who (NAME) and why (TEXT) */
	WIRE_RESOLVE = 9,
	WIRE_BR_EXEC = 10,
	WIRE_BR_PREPARE = 11,
	WIRE_BR_COMMIT = 12,
	WIRE_BR_ROLLBACK = 13,
	WIRE_BR_STATE = 14,
	WIRE_BR_PRECOMMIT = 15,
	WIRE_BR_RESOLVE = 16,
	WIRE_INQUIRE = 20,
	WIRE_BEGUN = 30,
	WIRE_RESULT = 31,
	WIRE_OUTCOME = 32,
	WIRE_VOTE = 33,
	WIRE_ACK = 34,
	WIRE_ERROR = 35,
	WIRE_STATE = 36,
};

enum wire_tag {
	/* scalars: at most once per message */
	WIRE_T_GID = 1,         /* string */
	WIRE_T_SEQ = 2,         /* u64 */
	WIRE_T_CODE = 3,        /* u32: wire_outcome, wire_vote or wire_error */
	WIRE_T_SQLSTATE = 4,    /* string of 5 characters */
	WIRE_T_TEXT = 5,        /* string: message or reason */
	WIRE_T_AFFECTED = 6,    /* u64: rows affected */
	WIRE_T_PROTOCOL = 7,    /* u32: 2 or 3 (WIRE_2PC, WIRE_3PC) */
	WIRE_T_BALLOT = 8,      /* u64: a ballot, or the one promised */
	WIRE_T_VALUE = 9,       /* u32: term_value proposed or decided */
	WIRE_T_ACCEPTED = 10,   /* u32: term_value accepted */
	WIRE_T_ACC_BALLOT = 11, /* u64: the ballot it was accepted at */
	WIRE_T_RANK = 12,       /* u32: the receiver's index among the NAMEs */
	WIRE_T_QUORUM = 13,     /* u32: 1 quorum mode, 0 plain */
	WIRE_T_VOTED = 14,      /* u32: 1 if the sender voted YES */
	WIRE_T_COUNT = 15,      /* u32: transactions begun at once */
	/* items: repeated, kept in order in wire_msg.items */
	WIRE_T_NAME = 16,   /* string: participant name */
	WIRE_T_SQL = 17,    /* string: one statement */
	WIRE_T_COLUMN = 18, /* string: column name */
	WIRE_T_CELL = 19,   /* string: one value as text */
	WIRE_T_NULL = 20,   /* empty: one NULL value */
	WIRE_T_URL = 21,    /* string: the URL of the NAME before it */
};

enum wire_protocol {
	WIRE_1PC = 1, /* BR_PREPARE only: commit now, the only branch */
	WIRE_2PC = 2,
	WIRE_3PC = 3,
};

enum wire_state {
	WIRE_ST_ANSWER = 1,    /* state request answered: value, accepted */
	WIRE_ST_REFUSED = 2,   /* a higher ballot promised, or decided: value */
	WIRE_ST_ACCEPTED = 3,  /* PRE-COMMIT / PRE-ABORT accepted */
	WIRE_ST_FORGOTTEN = 4, /* resolved so long ago it is no longer known */
};

enum wire_outcome {
	WIRE_COMMITTED = 1,
	WIRE_ABORTED = 2,
	WIRE_IN_PROGRESS = 3,
};

enum wire_vote {
	WIRE_VOTE_YES = 1,
	WIRE_VOTE_NO = 2,
	WIRE_VOTE_READONLY = 3,  /* wrote nothing, committed, leaves phase 2 */
	WIRE_VOTE_COMMITTED = 4, /* one-phase: committed */
};

enum wire_error {
	WIRE_E_BAD_REQUEST = 1,   /* malformed or not valid here */
	WIRE_E_UNKNOWN_TX = 2,    /* no such active transaction */
	WIRE_E_UNKNOWN_NAME = 3,  /* no such participant */
	WIRE_E_BUSY = 4,          /* another request on this tx is running */
	WIRE_E_NOT_ACTIVE = 5,    /* the transaction is aborted or ending */
	WIRE_E_UNAVAILABLE = 6,   /* a participant did not answer */
	WIRE_E_LIMIT = 7,         /* a configured limit was exceeded */
	WIRE_E_INTERNAL = 8,      /* a bug or resource failure; see the log */
	WIRE_E_SHUTTING_DOWN = 9, /* the daemon is stopping */
	WIRE_E_CONFLICT = 10,     /* contradicts a decision already taken */
};

/* An encoder: a growable buffer. Errors (out of memory) are sticky. */
struct wire_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

void wire_buf_init(struct wire_buf *b, enum wire_type type);
void wire_put_str(struct wire_buf *b, enum wire_tag tag, const char *s);
void wire_put_u32(struct wire_buf *b, enum wire_tag tag, uint32_t v);
void wire_put_u64(struct wire_buf *b, enum wire_tag tag, uint64_t v);
void wire_put_null(struct wire_buf *b);
void wire_buf_free(struct wire_buf *b);

struct wire_item {
	enum wire_tag tag;
	const char *str; /* NULL for WIRE_T_NULL */
};

/* A decoded message. Strings point into the decoded buffer. */
struct wire_msg {
	enum wire_type type;
	const char *gid; /* NULL when absent (likewise sqlstate, text) */
	const char *sqlstate;
	const char *text;
	uint64_t seq;
	uint64_t affected;
	uint64_t ballot;
	uint64_t acc_ballot;
	uint32_t code;
	uint32_t protocol; /* 0 when absent */
	uint32_t value;    /* likewise value, accepted, rank, quorum */
	uint32_t accepted;
	uint32_t rank;
	uint32_t quorum;
	uint32_t voted;
	uint32_t count;
	bool has_seq;
	bool has_code;
	bool has_affected;
	bool has_ballot;
	uint32_t present;        /* bit 1 << tag for each scalar present */
	struct wire_item *items; /* the repeated fields, in order */
	uint32_t nitems;
};

/*
 * Decode and validate len bytes. Returns 0, or -1 with a one-line reason in
 * err. On success free the result with wire_msg_free(); buf must outlive it.
 */
int wire_decode(const void *buf, size_t len, struct wire_msg *out, char *err,
                size_t errlen);
void wire_msg_free(struct wire_msg *m);

/* The first item with this tag, or NULL. */
const char *wire_first(const struct wire_msg *m, enum wire_tag tag);

/* Number of items with this tag. */
uint32_t wire_count(const struct wire_msg *m, enum wire_tag tag);

const char *wire_type_name(enum wire_type t);
const char *wire_outcome_name(enum wire_outcome o);
const char *wire_error_name(enum wire_error e);

#endif
