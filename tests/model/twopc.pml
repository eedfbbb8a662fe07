/*
 * twopc.pml -- xact's two-phase commit with presumed abort, for SPIN.
 *
 * One global transaction (one gid), one coordinator, N participants, a
 * network that loses, duplicates and reorders, and a bounded number of
 * crashes. The model keeps the rules the code keeps:
 *
 *   coordinator/twopc.c    I1..I5  the state machine of one gid
 *   coordinator/txn.c              sends and replies (call_branch,
 *                                  branch_reply), the COMMIT record,
 *                                  reaping (tick_one), coord_outcome,
 *                                  recovery (recover_one)
 *   coordinator/dlog.c             COMMIT forced, END not; dlog_lookup
 *   participant/branch.c   R1..R4  branch_prepare / _commit / _rollback,
 *                                  branch_reap, branch_resolve
 *   participant/sweeper.c          resolve_one: inquiry of prepared branches
 *
 * Switches (spin -DNAME=value):
 *   N           participants, 2 or 3 (default 2)
 *   MAXCRASH    crashes in total, coordinator and participants (default 2)
 *   MAXLOSS     messages lost in total (default 2)
 *   MAXDUP      requests delivered twice in total (default 1)
 *   BROKEN      the deliberately broken coordinator: COMMIT leaves while
 *               the COMMIT record is still being written (send, then log),
 *               so a crash in between loses a decision already acted on.
 *   NO_SWEEPER  no participant sweeper: a sanity mutant, termination must
 *               then fail (a branch stays prepared forever).
 *
 * Every step of every process is one atomic block: it stands for one
 * handler that runs under a mutex in the code (tx->mu, b->mu); a crash
 * falls between two such steps. Faults stop when their budgets are spent,
 * which is "once faults heal" for the termination property.
 *
 * Steps that change nothing are folded away (a COMMIT the participant
 * refuses and the coordinator resends later, an inquiry answered
 * IN-PROGRESS): they are stutter steps, so leaving them out changes no
 * reachable state, and it leaves no livelock that only fairness could
 * break. Termination is therefore checked without a fairness assumption;
 * with pan -f it holds a fortiori.
 *
 * Abstracted away (see README.md): time (every timeout may fire at any
 * moment), the client and its answer, statements and results, read-only
 * votes and one-phase commit, 3PC, other transactions (group commit,
 * compaction: only their effect on dlog_lookup is kept), the sweeper's
 * two-scan / safety-window guard (acting at once only adds behaviours),
 * and errors of single SQL commands other than PREPARE (they act like a
 * lost reply: the requester retries).
 */

#ifndef N
#define N 2
#endif
#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef MAXLOSS
#define MAXLOSS 2
#endif
#ifndef MAXDUP
#define MAXDUP 1
#endif

/* Coordinator: enum twopc_state (ACTIVE lies before the model starts),
 * plus GONE: the gid is not in the in-flight table (reaped after it
 * finished, or lost in a crash and not re-created by recovery). */
#define C_PREPARING  0
#define C_LOGGING    1
#define C_COMMITTING 2
#define C_COMMITTED  3
#define C_ABORTED    4
#define C_GONE       5

/* The decision log, durable: nothing, COMMIT(gid), COMMIT + END(gid). */
#define R_NONE   0
#define R_COMMIT 1
#define R_END    2

/* twopc_branch.vote (READ-ONLY is not modelled) */
#define V_NONE 0
#define V_YES  1
#define V_NO   2

/* Participant, volatile: the struct branch for the gid (branch.c). */
#define B_NONE 0 /* no struct branch: never made, reaped, or a crash */
#define B_ACT  1 /* BR_ACTIVE with its local tx open: statements ran */
#define B_ACT0 2 /* BR_ACTIVE, no conn, last_seq 0: nothing ran here */
#define B_PREP 3 /* BR_PREPARED */
#define B_COMM 4 /* BR_COMMITTED */
#define B_ABRT 5 /* BR_ABORTED; also the tombstone of R3 */

/* Participant, durable: what PostgreSQL holds for the gid. D_NONE: no
 * prepared transaction (an open local transaction is volatile, it is
 * B_ACT). D_COMM / D_ABRT: COMMIT / ROLLBACK PREPARED ran; PostgreSQL then
 * forgets the gid, so only D_PREP answers "prepared". */
#define D_NONE 0
#define D_PREP 1
#define D_COMM 2
#define D_ABRT 3

/* ---- coordinator ---- */
byte cst = C_PREPARING; /* twopc.state; volatile */
byte rec = R_NONE;      /* the decision log; durable */
bit  ended;             /* dlog: mark_ended() ran (replayed from END) */
byte vote[N];           /* twopc_branch.vote */
bit  acked[N];          /* twopc_branch.acked */
bit  prep_sent[N];      /* io_send_prepare ran for the branch */
bit  prep_pend[N];      /* that PREPARE call is outstanding (its REQ ctx) */
bit  rb_sent[N];        /* io_send_rollback ran */
bit  reconn[N];         /* the REQ pipe to participant i came back */

/* ---- network: one REQ/REP link per participant (peer.c: a socket per
 * participant). A link holds a set of messages: the copies of one request
 * for one gid are identical. Any message present may be delivered next:
 * that is reordering, e.g. a ROLLBACK overtaking its PREPARE, which the
 * participant's separate work and resolve queues allow (participant.c). */
bit c2p_prep[N], c2p_commit[N], c2p_rb[N]; /* requests */
bit p2c_yes[N], p2c_no[N], p2c_ack[N];     /* replies */

/* ---- participants ---- */
byte bs[N];    /* struct branch; volatile */
byte db[N];    /* PostgreSQL; durable */
bit  stmts[N]; /* PREPARE carries the statements (SUBMIT) rather than
                  following EXECs: branch_prepare differs after a restart */

/* ---- fault budgets ---- */
byte crashes, losses, dups;

/* ---- history, for the properties ---- */
bit everC[N];    /* COMMIT PREPARED ran at participant i */
bit everRB[N];   /* ROLLBACK PREPARED ran at participant i */
bit yes_sent[N]; /* participant i sent a YES vote */
bit csent;       /* a COMMIT message was put on the wire */
bit reversal;    /* a decision was contradicted (set where it happens) */

#if N == 2
#define ALL(p) (p(0) && p(1))
#define ANY(p) (p(0) || p(1))
#elif N == 3
#define ALL(p) (p(0) && p(1) && p(2))
#define ANY(p) (p(0) || p(1) || p(2))
#else
#error "N must be 2 or 3"
#endif

#define isC(i)     everC[i]
#define isRB(i)    everRB[i]
#define yes(i)     yes_sent[i]
#define voteYes(i) (vote[i] == V_YES)
#define isAcked(i) acked[i]
#define noPend(i)  (!prep_pend[i])
#define settled(i) (db[i] != D_PREP && bs[i] != B_ACT)

/* ================= coordinator (twopc.c, txn.c) ================= */

/* decide_abort(): ABORTED is absorbing (I2); nothing is logged (I4).
 * Its ROLLBACKs are separate steps of Branch(i), so that a crash can
 * fall between them. */
inline decide_abort() {
	if
	:: rec != R_NONE -> reversal = 1
	:: else -> skip
	fi;
	cst = C_ABORTED
}

/* The coordinator's side of branch i: its requests and their replies
 * (txn.c call_branch / branch_reply; twopc.c twopc_vote, twopc_ack). */
proctype Branch(byte i)
{
end:
	do
	/* twopc_start -> io_send_prepare, once per branch */
	:: atomic { cst == C_PREPARING && !prep_sent[i] ->
		printf("coord: PREPARE -> P%d\n", i);
		prep_sent[i] = 1; prep_pend[i] = 1; c2p_prep[i] = 1 }

	/* branch_reply(CALL_PREPARE) -> twopc_vote(YES). NNG drops a reply
	 * whose call is over (answered, or timed out). */
	:: atomic { p2c_yes[i] -> p2c_yes[i] = 0;
		if
		:: prep_pend[i] ->
			prep_pend[i] = 0;
			if
			:: cst == C_PREPARING && vote[i] == V_NONE ->
				vote[i] = V_YES;
				printf("coord: YES from P%d\n", i);
				if
				:: ALL(voteYes) ->
					/* I3: io_log_commit queues COMMIT(gid) */
					assert(ALL(yes));
					printf("coord: all YES, COMMIT record queued\n");
					cst = C_LOGGING
				:: else -> skip
				fi
			:: cst == C_ABORTED && vote[i] == V_NONE ->
				/* a late YES after the abort: roll it back now */
				printf("coord: late YES from P%d, ROLLBACK -> P%d\n", i, i);
				rb_sent[i] = 1; c2p_rb[i] = 1
			:: else -> skip
			fi
		:: else -> skip
		fi }

	/* branch_reply(CALL_PREPARE) -> twopc_vote(NO) */
	:: atomic { p2c_no[i] -> p2c_no[i] = 0;
		if
		:: prep_pend[i] ->
			prep_pend[i] = 0;
			if
			:: cst == C_PREPARING && vote[i] == V_NONE ->
				printf("coord: NO from P%d, abort\n", i);
				vote[i] = V_NO; decide_abort()
			:: else -> skip
			fi
		:: else -> skip
		fi }

	/* the PREPARE call times out (NNG_ETIMEDOUT) -> twopc_vote_failed */
	:: atomic { prep_pend[i] -> prep_pend[i] = 0;
		if
		:: cst == C_PREPARING ->
			printf("coord: no vote from P%d in time, abort\n", i);
			decide_abort()
		:: else -> skip
		fi }

	/* enter_committing, twopc_tick: send COMMIT, resend until acked (I5).
	 * I1: only in COMMITTING, which only a durable record enters.
	 * BROKEN: already while LOGGING, before the record is durable. */
#ifdef BROKEN
	:: atomic { (cst == C_COMMITTING || cst == C_LOGGING) && !acked[i] &&
		    !c2p_commit[i] && !p2c_ack[i] ->
#else
	:: atomic { cst == C_COMMITTING && !acked[i] &&
		    !c2p_commit[i] && !p2c_ack[i] ->
#endif
		printf("coord: COMMIT -> P%d (record durable: %d)\n", i,
		       rec != R_NONE);
		c2p_commit[i] = 1; csent = 1 }

	/* branch_reply(CALL_COMMIT) -> twopc_ack; all acked: COMMITTED and
	 * io_log_end -> dlog_end (mark_ended now; END reaches disk later) */
	:: atomic { p2c_ack[i] -> p2c_ack[i] = 0;
		if
		:: cst == C_COMMITTING ->
			acked[i] = 1;
			if
			:: ALL(isAcked) ->
				printf("coord: all acked, END appended\n");
				cst = C_COMMITTED; ended = 1
			:: else -> skip
			fi
		:: else -> skip
		fi }

	/* decide_abort -> io_send_rollback to every branch that may have
	 * prepared (not to a NO voter); acks are not awaited (I4) */
	:: atomic { cst == C_ABORTED && vote[i] != V_NO && !rb_sent[i] ->
		if
		:: rec != R_NONE -> reversal = 1
		:: else -> skip
		fi;
		printf("coord: ROLLBACK -> P%d\n", i);
		rb_sent[i] = 1; c2p_rb[i] = 1 }

	/* NNG REQ resends its outstanding requests when the pipe to a
	 * restarted participant comes back (DESIGN.md 6), unless it read
	 * their reply before the old pipe closed. A COMMIT needs no rule
	 * here: it is resent anyway until acked. */
	:: atomic { reconn[i] -> reconn[i] = 0;
		if
		:: prep_pend[i] && !p2c_yes[i] && !p2c_no[i] ->
			printf("coord: pipe to P%d back, PREPARE resent\n", i);
			c2p_prep[i] = 1
		:: else -> skip
		fi;
		if
		:: rb_sent[i] && cst == C_ABORTED ->
			printf("coord: pipe to P%d back, ROLLBACK resent\n", i);
			c2p_rb[i] = 1
		:: else -> skip
		fi }
	od
}

/* The rest of the coordinator: the vote deadline, the log, reaping. */
proctype Coordinator()
{
end:
	do
	/* twopc_tick: the vote deadline passes (or the client rolls back,
	 * or a send fails) while PREPARING. Time is abstract: any moment. */
	:: atomic { cst == C_PREPARING ->
		printf("coord: vote timeout, abort\n");
		decide_abort() }

	/* dlog_commit: the fdatasync of COMMIT(gid) completes. The commit
	 * point (DESIGN.md 3, step 2). A crash before it (or an fsync error,
	 * which exits) leaves no record. */
	:: atomic { cst == C_LOGGING && rec == R_NONE ->
		printf("coord: COMMIT record durable\n");
		rec = R_COMMIT }

	/* tx_logged -> twopc_logged -> enter_committing */
	:: atomic { cst == C_LOGGING && rec == R_COMMIT -> cst = C_COMMITTING }

	/* the END record, appended unforced, reaches the disk */
	:: atomic { cst == C_COMMITTED && rec == R_COMMIT -> rec = R_END }

	/* tick_one: a finished tx with no call outstanding leaves the
	 * in-flight table (after LINGER_MS) */
	:: atomic { (cst == C_COMMITTED || cst == C_ABORTED) && ALL(noPend) ->
		printf("coord: tx leaves the in-flight table\n");
		cst = C_GONE }
	od
}

/* ================= participants (branch.c) ================= */

inline reply_yes(i) {
	/* a YES is true: PostgreSQL holds the branch (or committed it) */
	assert(db[i] == D_PREP || db[i] == D_COMM);
	yes_sent[i] = 1; p2c_yes[i] = 1
}

inline reply_no(i) { p2c_no[i] = 1 }

/* prepare_active: PREPARE TRANSACTION succeeds */
inline pg_prepare(i) {
	/* never a second execution of a gid committed here */
	assert(db[i] != D_COMM);
	printf("P%d: PREPARE TRANSACTION, vote YES\n", i);
	db[i] = D_PREP; bs[i] = B_PREP; reply_yes(i)
}

/* finish_prepared(commit): COMMIT PREPARED; 42704 means done (R2) */
inline pg_commit_prepared(i) {
	if
	:: db[i] == D_PREP ->
		if
		:: everRB[i] -> reversal = 1
		:: else -> skip
		fi;
		printf("P%d: COMMIT PREPARED\n", i);
		db[i] = D_COMM; everC[i] = 1
	:: else -> skip
	fi
}

/* finish_prepared(rollback): ROLLBACK PREPARED; 42704 means done */
inline pg_rollback_prepared(i) {
	if
	:: db[i] == D_PREP ->
		if
		:: everC[i] -> reversal = 1
		:: else -> skip
		fi;
		printf("P%d: ROLLBACK PREPARED\n", i);
		db[i] = D_ABRT; everRB[i] = 1
	:: else -> skip
	fi
}

/* Deliver a request: consumed, or (duplication) left to arrive again. */
inline take(m) {
	if
	:: m = 0
	:: dups < MAXDUP -> dups++
	fi
}

/* participant.c dispatch -> branch.c handlers, for branch i */
proctype Participant(byte i)
{
end:
	do
	/* branch_prepare (R1, R2, R3) */
	:: atomic { c2p_prep[i] -> take(c2p_prep[i]);
		if
		:: bs[i] == B_PREP || bs[i] == B_COMM -> reply_yes(i) /* R2 */
		:: bs[i] == B_ABRT ->
			printf("P%d: PREPARE finds a tombstone, vote NO\n", i);
			reply_no(i)
		:: bs[i] == B_ACT ->
			/* prepare_active: PREPARE TRANSACTION, or an error (SQL
			 * error, PREPARE refused, failpoint): roll back, NO */
			if
			:: pg_prepare(i)
			:: printf("P%d: PREPARE fails, vote NO\n", i);
			   bs[i] = B_ABRT; reply_no(i)
			fi
		:: bs[i] == B_NONE || bs[i] == B_ACT0 ->
			if
			:: !stmts[i] ->
				/* nothing ran in this life: is_prepared() */
				if
				:: db[i] == D_PREP ->
					printf("P%d: found prepared, vote YES\n", i);
					bs[i] = B_PREP; reply_yes(i)
				:: db[i] != D_PREP ->
					printf("P%d: branch unknown, vote NO\n", i);
					bs[i] = B_ABRT; reply_no(i)
				:: printf("P%d: is_prepared fails, vote NO\n", i);
				   bs[i] = B_ACT0; reply_no(i)
				fi
			:: stmts[i] ->
				/* prepare_active runs the statements anew */
				if
				:: db[i] == D_PREP ->
					printf("P%d: PREPARE: gid in use (42710), vote NO\n", i);
					bs[i] = B_ABRT; reply_no(i)
				:: db[i] != D_PREP -> pg_prepare(i)
				:: printf("P%d: PREPARE fails, vote NO\n", i);
				   bs[i] = B_ABRT; reply_no(i)
				fi
			fi
		fi }

	/* branch_commit. A branch ACTIVE or ABORTED in memory refuses it
	 * (error reply, no ack) and the coordinator resends later: that
	 * COMMIT just stays on the wire until the branch can take it. */
	:: atomic { c2p_commit[i] && bs[i] != B_ACT && bs[i] != B_ACT0 &&
		    bs[i] != B_ABRT -> take(c2p_commit[i]);
		pg_commit_prepared(i);
		if
		:: bs[i] == B_PREP -> bs[i] = B_COMM
		:: else -> skip
		fi;
		p2c_ack[i] = 1 }

	/* branch_rollback -> abort_locked (R3, R4). It always acks; the
	 * coordinator ignores rollback acks, so they are not modelled. */
	:: atomic { c2p_rb[i] -> take(c2p_rb[i]);
		if
		:: bs[i] == B_ACT ->
			printf("P%d: ROLLBACK of the open local tx\n", i);
			bs[i] = B_ABRT
		:: bs[i] == B_NONE || bs[i] == B_ACT0 ->
			/* maybe prepared in a past life; leaves a tombstone */
			printf("P%d: ROLLBACK of an unknown branch: tombstone\n", i);
			pg_rollback_prepared(i); bs[i] = B_ABRT
		:: bs[i] == B_PREP -> pg_rollback_prepared(i); bs[i] = B_ABRT
		:: bs[i] == B_COMM -> skip /* refused */
		:: bs[i] == B_ABRT -> skip
		fi }

	/* branch_reap: an ACTIVE branch idle too long rolls back on its own
	 * (R1: allowed before a YES). Any moment. */
	:: atomic { bs[i] == B_ACT || bs[i] == B_ACT0 ->
		printf("P%d: idle timeout, rolls back on its own\n", i);
		bs[i] = B_ABRT }

	/* branch_reap: a finished branch is forgotten after tombstone_ms
	 * (10 min), far longer than a PREPARE call lives (vote timeout, 5 s):
	 * so never while a PREPARE for it is in flight or outstanding. */
	:: atomic { (bs[i] == B_PREP || bs[i] == B_COMM || bs[i] == B_ABRT) &&
		    !c2p_prep[i] && !prep_pend[i] ->
		printf("P%d: forgets the branch (tombstone_ms)\n", i);
		bs[i] = B_NONE }
	od
}

/* sweeper.c resolve_one: a branch in pg_prepared_xacts that is not live
 * (branch_is_live: ACTIVE in memory) is resolved by INQUIRE. The inquiry
 * is one step: its answer cannot change once given (COMMIT is durable;
 * ABORT is given only for a gid that can no longer commit). Passes that
 * change nothing (IN-PROGRESS, no answer, abort_locked() on a tombstone or
 * a committed branch) are left out as stutter steps. */
#define swept(i) (db[i] == D_PREP && bs[i] != B_ACT && bs[i] != B_ACT0)

/* coord_outcome() is COMMITTED: twopc_outcome() of a tx in the table, or
 * dlog_lookup() finds COMMIT(gid), ended or not (unless evicted) */
#define says_commit (cst == C_COMMITTING || cst == C_COMMITTED || \
	(cst == C_GONE && rec != R_NONE))
/* coord_outcome() is ABORTED: an aborted tx in the table, presumed abort,
 * or DLOG_FORGOTTEN: an ended COMMIT evicted from the log's memory */
#define says_abort (cst == C_ABORTED || (cst == C_GONE && rec == R_NONE) || \
	(cst == C_GONE && rec != R_NONE && ended))

proctype Sweeper(byte i)
{
end:
	do
	:: atomic { swept(i) && says_commit ->
		printf("P%d sweeper: coordinator says COMMIT\n", i);
		pg_commit_prepared(i);
		if
		:: bs[i] != B_NONE -> bs[i] = B_COMM
		:: else -> skip
		fi }
	:: atomic { swept(i) && says_abort && (bs[i] == B_NONE || bs[i] == B_PREP) ->
		printf("P%d sweeper: coordinator says ABORT\n", i);
		if
		:: rec != R_NONE && !ended -> reversal = 1
		:: else -> skip
		fi;
		pg_rollback_prepared(i);
		if
		:: bs[i] == B_PREP -> bs[i] = B_ABRT
		:: else -> skip
		fi }
	od
}

/* ================= faults ================= */

/* kill -9 of the coordinator, restart, recovery (tx_recover_all ->
 * recover_one -> twopc_recover). Replies to the dead process are gone;
 * requests it sent may still reach the participants (or be lost: the
 * loss budget). */
inline coord_crash() {
	byte k;
	crashes++;
	for (k : 0 .. N-1) {
		p2c_yes[k] = 0; p2c_no[k] = 0; p2c_ack[k] = 0;
		vote[k] = V_NONE; acked[k] = 0; prep_sent[k] = 0;
		prep_pend[k] = 0; rb_sent[k] = 0; reconn[k] = 0
	}
	k = 0;
	if
	:: rec == R_COMMIT ->
		printf("FAULT: coordinator crash; log has COMMIT: resend COMMIT\n");
		cst = C_COMMITTING; ended = 0;
		for (k : 0 .. N-1) { vote[k] = V_YES }
		k = 0
	:: rec == R_END ->
		printf("FAULT: coordinator crash; log has COMMIT and END\n");
		cst = C_GONE; ended = 1
	:: rec == R_NONE ->
		printf("FAULT: coordinator crash; log empty: presumed abort\n");
		cst = C_GONE; ended = 0
	fi
}

/* kill -9 of participant i, restart: its struct branch and every request
 * queued for it or in flight to it are gone; PostgreSQL keeps prepared,
 * committed and rolled back branches and loses the open local tx. The
 * replies it sent were read by the coordinator before the pipe closed
 * (they count) or are lost with it. The coordinator's REQ pipe comes
 * back. */
inline part_crash(i) {
	printf("FAULT: P%d crash\n", i);
	crashes++;
	bs[i] = B_NONE;
	c2p_prep[i] = 0; c2p_commit[i] = 0; c2p_rb[i] = 0;
	if
	:: skip
	:: p2c_yes[i] = 0; p2c_no[i] = 0; p2c_ack[i] = 0
	fi;
	reconn[i] = 1
}

#define LOSE(m, i, text) \
	:: atomic { losses < MAXLOSS && m[i] -> losses++; m[i] = 0; \
		printf(text, i) }

/* The faults of participant i and its link. */
#define LINK_FAULTS(i) \
	:: atomic { crashes < MAXCRASH -> part_crash(i) } \
	LOSE(c2p_prep, i, "FAULT: PREPARE to P%d lost\n") \
	LOSE(c2p_commit, i, "FAULT: COMMIT to P%d lost\n") \
	LOSE(c2p_rb, i, "FAULT: ROLLBACK to P%d lost\n") \
	LOSE(p2c_yes, i, "FAULT: YES from P%d lost\n") \
	LOSE(p2c_no, i, "FAULT: NO from P%d lost\n") \
	LOSE(p2c_ack, i, "FAULT: ack from P%d lost\n")

/* Every fault, within its budget; once all are spent this process is
 * blocked for good: the faults have healed. */
proctype Faults()
{
end:
	do
	/* (a tx that is gone stays gone unless it has an open COMMIT: a
	 * crash then changes nothing but the budget, so it is left out) */
	:: atomic { crashes < MAXCRASH && (cst != C_GONE || rec == R_COMMIT) ->
		coord_crash() }
	LINK_FAULTS(0)
	LINK_FAULTS(1)
#if N == 3
	LINK_FAULTS(2)
#endif
	od
}

init {
	byte k;
	atomic {
		/* A branch reaches PREPARE after EXECs (its local tx is open)
		 * or with its statements in the PREPARE (SUBMIT). Participants
		 * are symmetric: stmts[] ascending covers every mix. */
		for (k : 0 .. N-1) {
			if
			:: k == 0 || !stmts[k-1] -> stmts[k] = 0; bs[k] = B_ACT
			:: stmts[k] = 1; bs[k] = B_NONE
			fi
		}
		run Coordinator();
		run Faults();
		for (k : 0 .. N-1) {
			run Branch(k);
			run Participant(k);
#ifndef NO_SWEEPER
			run Sweeper(k)
#endif
		}
		k = 0
	}
}

/* ================= properties (DESIGN.md section 5) ================= */

/* 1: no gid committed at one participant and rolled back (after PREPARE)
 * at another, or at the same one. */
ltl atomicity { [] !(ANY(isC) && ANY(isRB)) }

/* 2: one decision. The coordinator never aborts, sends ROLLBACK or
 * answers ABORT once a COMMIT record exists (an ended COMMIT evicted from
 * memory excepted: DLOG_FORGOTTEN); no participant goes committed ->
 * rolled back or rolled back -> committed. */
ltl no_reversal { [] !reversal }

/* 3: a COMMIT record implies every participant voted YES. */
ltl commit_needs_yes { [] (rec != R_NONE -> ALL(yes)) }

/* 6: log before send: no COMMIT on the wire before the record is
 * durable. */
ltl log_before_send { [] (csent -> rec != R_NONE) }

/* 1, 2, 3 and 6 at once: the four above are []-invariants of the same
 * model, so one search checks their conjunction (tests/model/run runs each
 * on its own only when this one fails, to name the violated ones). */
ltl safety_all { [] (!(ANY(isC) && ANY(isRB)) && !reversal &&
	(rec != R_NONE -> ALL(yes)) && (csent -> rec != R_NONE)) }

/* 5 and I5: once faults stop, every branch ends committed or rolled back
 * (none stays prepared, no local tx stays open) and the coordinator
 * finishes. */
ltl termination { <> [] (ALL(settled) &&
	(cst == C_COMMITTED || cst == C_ABORTED || cst == C_GONE)) }
