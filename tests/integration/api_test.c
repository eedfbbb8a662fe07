/*
 * The HTTP/JSON API with curl, as an application in any language uses it:
 * every example of docs/api.md runs as written and answers as printed
 * (gids aside), and hostile requests get one-line errors.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(api, .fini = finish, .timeout = 120);

#define DOC_URL "http://127.0.0.1:7680"
#define OUT_MAX 16384

static void
start(void)
{
	cr_assert_eq(hcluster_start(&C,
	                            &(struct hcluster_opts){
	                                .n = 2,
	                                .accounts = 2,
	                                .balance = 100,
	                                .api = true,
	                            }),
	             0, "cluster did not start");
}

/* Length of the gid starting at s ("xact_c1_DIGITS_DIGITS"), or 0. */
static size_t
gid_at(const char *s)
{
	size_t n = strlen("xact_c1_"), parts = 0;

	if (strncmp(s, "xact_c1_", n) != 0)
		return 0;
	while (parts < 2) {
		size_t d = strspn(s + n, "0123456789");

		if (d == 0)
			return 0;
		n += d;
		if (++parts == 1) {
			if (s[n] != '_')
				return 0;
			n++;
		}
	}
	return n;
}

/* in with every gid replaced by with ("GID" to compare), and the doc's
 * URL by ours. */
static void
rewrite(char *out, size_t len, const char *in, const char *with,
        const char *url)
{
	size_t o = 0, g;

	while (*in != '\0' && o + 1 < len) {
		const char *sub = NULL;
		size_t skip = 1;

		if ((g = gid_at(in)) != 0) {
			sub = with;
			skip = g;
		} else if (strncmp(in, DOC_URL, strlen(DOC_URL)) == 0) {
			sub = url;
			skip = strlen(DOC_URL);
		}
		if (sub != NULL) {
			o += (size_t)snprintf(out + o, len - o, "%s", sub);
			if (o >= len)
				o = len - 1;
		} else {
			out[o++] = *in;
		}
		in += skip;
	}
	out[o] = '\0';
}

static void
run_shell(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t got;

	cr_assert_not_null(f, "%s", cmd);
	got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	pclose(f);
}

static char *
read_doc(void)
{
	FILE *f = fopen(XACT_SOURCE_DIR "/docs/api.md", "r");
	static char doc[65536];
	size_t n;

	cr_assert_not_null(f, "docs/api.md");
	n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	cr_assert_lt(n, sizeof(doc) - 1, "docs/api.md outgrew the buffer");
	return doc;
}

Test(api, the_examples_in_docs_api_md_run_as_written)
{
	static char cmd[OUT_MAX], out[OUT_MAX], got[OUT_MAX], want[OUT_MAX];
	char url[64], last_gid[128] = "xact_c1_0_0", *line, *save = NULL;
	bool in_sh = false;
	int examples = 0;

	start();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", C.coord_api_port);
	want[0] = '\0';
	for (line = strtok_r(read_doc(), "\n", &save);;
	     line = strtok_r(NULL, "\n", &save)) {
		bool end = line == NULL || strncmp(line, "```", 3) == 0 ||
		           strncmp(line, "$ ", 2) == 0;

		if (end && cmd[0] != '\0') {
			/* The previous command: run it, compare. */
			size_t g;

			run_shell(cmd, out, sizeof(out));
			rewrite(got, sizeof(got), out, "GID", url);
			hc_assert(&C, strcmp(got, want) == 0,
			          "docs/api.md: %s\nwant:\n%sgot:\n%s", cmd,
			          want, out);
			for (char *p = out; *p != '\0'; p++)
				if ((g = gid_at(p)) != 0) {
					snprintf(last_gid, sizeof(last_gid),
					         "%.*s", (int)g, p);
					break;
				}
			cmd[0] = want[0] = '\0';
			examples++;
		}
		if (line == NULL)
			break;
		if (strncmp(line, "```", 3) == 0) {
			in_sh = !in_sh && strcmp(line, "```sh") == 0;
		} else if (in_sh && strncmp(line, "$ ", 2) == 0) {
			rewrite(cmd, sizeof(cmd), line + 2, last_gid, url);
		} else if (in_sh && cmd[0] != '\0') {
			char norm[1024];

			rewrite(norm, sizeof(norm), line, "GID", url);
			strncat(want, norm, sizeof(want) - strlen(want) - 2);
			strcat(want, "\n");
		}
	}
	cr_assert_geq(examples, 14, "only %d examples ran", examples);
	/* 10 then 5 moved from bank1 to bank2; the rest aborted. */
	cr_assert_eq(hbank_total(&C.pg[0]), 185);
	cr_assert_eq(hbank_total(&C.pg[1]), 215);
}

/*
 * POST body (a shell word) to path: the answer and the HTTP status, or -1.
 * No assertion: it may run on a thread of the test's.
 */
static int
post_quiet(const char *path, const char *body, char *out, size_t len)
{
	char cmd[4096];
	char *nl;
	FILE *f;
	size_t got;

	snprintf(cmd, sizeof(cmd),
	         "curl -s -w '\\n%%{http_code}' -X POST "
	         "http://127.0.0.1:%d%s -d %s",
	         C.coord_api_port, path, body);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	pclose(f);
	if ((nl = strrchr(out, '\n')) == NULL)
		return -1;
	*nl = '\0'; /* what -w added; the body's own newline stays */
	return atoi(nl + 1);
}

static int
post(const char *path, const char *body, char *out, size_t len)
{
	int status = post_quiet(path, body, out, len);

	cr_assert_neq(status, -1, "POST %s: %s", path, out);
	return status;
}

/* POST /v1/begin: the new transaction's gid into gid. */
static void
begin(char *gid, size_t len)
{
	char out[OUT_MAX];
	const char *p;

	cr_assert_eq(post("/v1/begin", "''", out, sizeof(out)), 200, "%s", out);
	cr_assert_not_null(p = strstr(out, "xact_c1_"), "%s", out);
	snprintf(gid, len, "%.*s", (int)gid_at(p), p);
}

struct bg_post {
	pthread_t thread;
	const char *body;
	char out[OUT_MAX];
	int status;
};

static void *
bg_post_main(void *arg)
{
	struct bg_post *b = arg;

	b->status = post_quiet("/v1/exec", b->body, b->out, sizeof(b->out));
	return NULL;
}

static bool
waiting_for_the_lock(void *arg)
{
	int64_t n = 0;

	(void)arg;
	return hpg_query_i64(&C.pg[0],
	                     "SELECT count(*) FROM pg_stat_activity WHERE "
	                     "wait_event_type = 'Lock' AND query LIKE "
	                     "'UPDATE accounts%'",
	                     &n) == 0 &&
	       n > 0;
}

/*
 * An HTTP client that retries a statement while it still runs (its first
 * request timed out on its side, say) is told at once to ask again (409),
 * not left waiting with no answer; asked again once it is done, it gets
 * the statement's answer, and the statement ran once. The statement waits
 * on a row lock that a prepared transaction of the test's holds, so it
 * runs for as long as the test needs.
 */
Test(api, a_retry_of_a_running_statement_is_told_to_ask_again)
{
	char out[OUT_MAX], body[512], gid[128] = "";
	struct bg_post first = {.body = body};

	start();
	cr_assert_eq(hpg_exec(&C.pg[0], "BEGIN; UPDATE accounts SET balance = "
	                                "balance WHERE id = 2; PREPARE "
	                                "TRANSACTION 'test_holds_row_2'"),
	             0);
	begin(gid, sizeof(gid));
	snprintf(
	    body, sizeof(body),
	    "'{\"gid\": \"%s\", \"seq\": 1, \"participant\": \"bank1\", "
	    "\"sql\": \"UPDATE accounts SET balance = balance + 7 WHERE id "
	    "= 2 RETURNING balance\"}'",
	    gid);
	cr_assert_eq(pthread_create(&first.thread, NULL, bg_post_main, &first),
	             0);
	cr_assert(hwait_until(waiting_for_the_lock, NULL, 10000),
	          "it never ran");

	cr_assert_eq(post("/v1/exec", body, out, sizeof(out)), 409, "%s", out);
	cr_assert(strstr(out, "still running") != NULL, "%s", out);
	cr_assert_eq(hpg_exec(&C.pg[0], "ROLLBACK PREPARED 'test_holds_row_2'"),
	             0);
	pthread_join(first.thread, NULL);
	cr_assert_eq(first.status, 200, "%s", first.out);
	cr_assert(strstr(first.out, "107") != NULL, "%s", first.out);
	cr_assert_eq(post("/v1/exec", body, out, sizeof(out)), 200, "%s", out);
	cr_assert(strcmp(out, first.out) == 0, "%s <> %s", out, first.out);

	snprintf(body, sizeof(body), "'{\"gid\": \"%s\"}'", gid);
	cr_assert_eq(post("/v1/commit", body, out, sizeof(out)), 200, "%s",
	             out);
	cr_assert_eq(hbank_total(&C.pg[0]), 207, "the statement ran once");
}

Test(api, a_repeated_statement_runs_once_and_bad_requests_get_one_line)
{
	char out[OUT_MAX], body[1024], gid[128] = "";

	start();
	begin(gid, sizeof(gid));

	/* A client that retries a statement (same seq) does not pay twice. */
	snprintf(body, sizeof(body),
	         "'{\"gid\": \"%s\", \"seq\": 1, \"participant\": \"bank1\", "
	         "\"sql\": \"UPDATE accounts SET balance = balance - 1 "
	         "WHERE id = 1\"}'",
	         gid);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(post("/v1/exec", body, out, sizeof(out)), 200,
		             "%s", out);
	snprintf(body, sizeof(body), "'{\"gid\": \"%s\"}'", gid);
	cr_assert_eq(post("/v1/commit", body, out, sizeof(out)), 200, "%s",
	             out);
	cr_assert(strstr(out, "\"outcome\": \"committed\"") != NULL, "%s", out);
	cr_assert_eq(hbank_total(&C.pg[0]), 199, "the retry ran again");

	/* An older statement number is refused; the tx is gone anyway. */
	snprintf(body, sizeof(body),
	         "'{\"gid\": \"%s\", \"seq\": 1, \"participant\": \"bank1\", "
	         "\"sql\": \"SELECT 1\"}'",
	         gid);
	cr_assert_eq(post("/v1/exec", body, out, sizeof(out)), 409, "%s", out);
	/* Too late to roll back: it says so rather than "aborted". */
	snprintf(body, sizeof(body), "'{\"gid\": \"%s\"}'", gid);
	cr_assert_eq(post("/v1/rollback", body, out, sizeof(out)), 409, "%s",
	             out);
	cr_assert(strstr(out, "too late to roll back") != NULL, "%s", out);

	/* PostgreSQL's message cut inside a character: still one line of
	 * JSON, the broken bytes replaced. */
	{
		char big[2048], *w;

		begin(gid, sizeof(gid));
		w = big + snprintf(big, sizeof(big),
		                   "'{\"gid\": \"%s\", \"seq\": 1, "
		                   "\"participant\": \"bank1\", \"sql\": "
		                   "\"SELECT $$xy",
		                   gid);
		for (int i = 0; i < 300; i++, w += 2)
			memcpy(w, "\xc3\xa9", 2);
		snprintf(w, (size_t)(big + sizeof(big) - w), "$$::int\"}'");
		cr_assert_eq(post("/v1/exec", big, out, sizeof(out)), 422, "%s",
		             out);
		cr_assert(strstr(out, "\"sqlstate\": \"22P02\"") != NULL, "%s",
		          out);
		snprintf(body, sizeof(body), "'{\"gid\": \"%s\"}'", gid);
		cr_assert_eq(post("/v1/rollback", body, out, sizeof(out)), 200,
		             "%s", out);
	}

	/* Hostile bodies: one line each, nothing runs. */
	static const struct {
		const char *path, *body;
		int status;
		const char *says;
	} bad[] = {
	    {"/v1/submit", "'[1, 2]'", 400, "must be a JSON object"},
	    {"/v1/submit",
	     "'{\"branches\": [{\"participant\": \"bank1\", "
	     "\"sql\": [7]}]}'",
	     400, "statement 0 must be a non-empty string"},
	    {"/v1/submit", "'{\"branches\": 1, \"branches\": 2}'", 400,
	     "duplicate object key"},
	    {"/v1/exec",
	     "'{\"gid\": \"x\", \"seq\": 0, \"participant\": "
	     "\"bank1\", \"sql\": \"SELECT 1\"}'",
	     400, "must be an integer from 1"},
	    {"/v1/exec",
	     "'{\"gid\": \"x\", \"seq\": 1, \"participant\": "
	     "\"bank1\", \"sql\": \"SELECT 1\"}'",
	     400, "not a gid"},
	    {"/v1/commit", "'{\"gid\": \"xact_c1_1_999999\"}'", 404,
	     "not issued by this coordinator"},
	    {"/v1/nothing", "'{}'", 404, "no such endpoint"},
	    {"/v1/begin", "'{\"protocol\": \"4pc\"}'", 400, "must be"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int status = post(bad[i].path, bad[i].body, out, sizeof(out));

		cr_assert_eq(status, bad[i].status, "%s %s: %d %s", bad[i].path,
		             bad[i].body, status, out);
		cr_assert(strncmp(out, "{\"error\": \"", 11) == 0 &&
		              strstr(out, bad[i].says) != NULL &&
		              strchr(out, '\n') == out + strlen(out) - 1,
		          "%s: %s", bad[i].body, out);
	}

	/* A body over the limit is refused before it is parsed. */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd),
		         "head -c 1100000 /dev/zero | tr '\\0' ' ' | "
		         "curl -s -o /dev/null -w '%%{http_code}' -X POST "
		         "--data-binary @- http://127.0.0.1:%d/v1/submit",
		         C.coord_api_port);
		run_shell(cmd, out, sizeof(out));
		cr_assert_str_eq(out, "413");
	}
	cr_assert_eq(hbank_total(&C.pg[0]), 199, "a bad request ran");
}
