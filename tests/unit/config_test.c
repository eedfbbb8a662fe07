/*
 * config: valid files load with the right values and defaults; every
 * invalid fixture is refused with FILE:LINE:COL: KEY and a useful reason;
 * the demo files under config/ load; docs/config.md matches the tables.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA XACT_SOURCE_DIR "/tests/unit/data/config/"

static const struct coord_config zero_coord;
static const struct part_config zero_part;

static void
load_coord_ok(const char *path, struct coord_config *c)
{
	char err[512];

	cr_assert_eq(cfg_load_coord(path, c, err, sizeof(err)), 0, "%s", err);
}

static void
load_part_ok(const char *path, struct part_config *c)
{
	char err[512];

	cr_assert_eq(cfg_load_part(path, c, err, sizeof(err)), 0, "%s", err);
}

/* file is under DATA; want must appear in the message, verbatim. */
static void
coord_err(const char *file, const char *want)
{
	struct coord_config c;
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s%s", DATA, file);
	memset(&c, 0x5a, sizeof(c));
	cr_assert_eq(cfg_load_coord(path, &c, err, sizeof(err)), -1,
	             "%s loaded", file);
	cr_assert_not_null(strstr(err, want), "\n  want: %s\n  got:  %s", want,
	                   err);
	/* The partial result is freed and the struct left zeroed. */
	cr_assert_eq(memcmp(&c, &zero_coord, sizeof(c)), 0);
	cfg_free_coord(&c);
}

static void
part_err(const char *file, const char *want)
{
	struct part_config c;
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s%s", DATA, file);
	memset(&c, 0x5a, sizeof(c));
	cr_assert_eq(cfg_load_part(path, &c, err, sizeof(err)), -1, "%s loaded",
	             file);
	cr_assert_not_null(strstr(err, want), "\n  want: %s\n  got:  %s", want,
	                   err);
	cr_assert_eq(memcmp(&c, &zero_part, sizeof(c)), 0);
	cfg_free_part(&c);
}

/* ---- valid files -------------------------------------------------------- */

Test(config, coord_full)
{
	struct coord_config c;

	load_coord_ok(DATA "coord-full.yaml", &c);
	cr_assert_str_eq(c.node, "c-7");
	cr_assert_str_eq(c.listen, "tcp://0.0.0.0:9600");
	cr_assert_str_eq(c.log_dir, "/var/lib/xact/c-7");
	cr_assert_eq(c.nparticipants, 3);
	cr_assert_str_eq(c.participants[0].name, "bank1");
	cr_assert_str_eq(c.participants[0].url, "tcp://10.0.0.1:7611");
	cr_assert_str_eq(c.participants[1].name, "Bank-2");
	cr_assert_str_eq(c.participants[1].url, "tls+tcp://db2.example:7612");
	cr_assert_str_eq(c.participants[2].name, "bank3");
	cr_assert_str_eq(c.participants[2].url, "ipc:///run/xact/bank3.ipc");
	cr_assert_eq(c.vote_timeout_ms, 250);
	cr_assert_eq(c.idle_timeout_ms, 120000);
	cr_assert_eq(c.request_timeout_ms, 3600000);
	cr_assert_eq(c.commit_wait_ms, 1500);
	cr_assert_eq(c.retry_max_ms, 10000);
	cr_assert_eq(c.contexts, 4096);
	cr_assert_eq(c.compact_bytes, 1048576);
	cr_assert_eq(c.log_level, XLOG_DEBUG);
	cfg_free_coord(&c);
	cr_assert_eq(memcmp(&c, &zero_coord, sizeof(c)), 0);
}

Test(config, coord_defaults)
{
	struct coord_config c;

	load_coord_ok(DATA "coord-minimal.yaml", &c);
	cr_assert_str_eq(c.node, "c1");
	cr_assert_eq(c.nparticipants, 1);
	cr_assert_str_eq(c.participants[0].url, "inproc://solo");
	cr_assert_eq(c.vote_timeout_ms, 5000);
	cr_assert_eq(c.idle_timeout_ms, 60000);
	cr_assert_eq(c.request_timeout_ms, 30000);
	cr_assert_eq(c.commit_wait_ms, 5000);
	cr_assert_eq(c.retry_max_ms, 5000);
	cr_assert_eq(c.contexts, 256);
	cr_assert_eq(c.compact_bytes, (uint64_t)64 << 20);
	cr_assert_eq(c.log_level, XLOG_INFO);
	cfg_free_coord(&c);
}

Test(config, part_full)
{
	struct part_config c;

	load_part_ok(DATA "part-full.yaml", &c);
	cr_assert_str_eq(c.name, "bank1");
	cr_assert_str_eq(c.listen, "tcp://[::1]:7611");
	cr_assert_str_eq(
	    c.database, "host=/run/postgresql port=5433 dbname=bank user=xact");
	cr_assert_eq(c.ncoordinators, 2);
	cr_assert_str_eq(c.coordinators[1].name, "c2");
	cr_assert_str_eq(c.coordinators[1].url, "tcp://127.0.0.1:7601");
	cr_assert_eq(c.pool_size, 1024);
	cr_assert_eq(c.statement_timeout_ms, 1000);
	cr_assert_eq(c.idle_timeout_ms, 60000);
	cr_assert_eq(c.sweep_interval_ms, 100);
	cr_assert_eq(c.sweep_safety_ms, 45000);
	cr_assert_eq(c.contexts, 1);
	cr_assert_eq(c.log_level, XLOG_ERROR);
	cfg_free_part(&c);
}

Test(config, part_defaults)
{
	struct part_config c;

	/* Also: explicit "---"/"..." markers, quoted and flow styles. */
	load_part_ok(DATA "part-minimal.yaml", &c);
	cr_assert_str_eq(c.name, "bank2");
	cr_assert_str_eq(c.listen, "tcp://127.0.0.1:7612");
	cr_assert_str_eq(c.database,
	                 "host=127.0.0.1 port=5434 dbname=postgres");
	cr_assert_eq(c.ncoordinators, 1);
	cr_assert_str_eq(c.coordinators[0].name, "c1");
	cr_assert_eq(c.pool_size, 16);
	cr_assert_eq(c.statement_timeout_ms, 30000);
	cr_assert_eq(c.idle_timeout_ms, 120000);
	cr_assert_eq(c.sweep_interval_ms, 10000);
	cr_assert_eq(c.sweep_safety_ms, 30000);
	cr_assert_eq(c.contexts, 256);
	cr_assert_eq(c.log_level, XLOG_INFO);
	cfg_free_part(&c);
}

Test(config, example_coordinator)
{
	struct coord_config c;

	load_coord_ok(XACT_SOURCE_DIR "/config/coordinator.yaml", &c);
	cr_assert_str_eq(c.node, "c1");
	cr_assert_str_eq(c.listen, "tcp://127.0.0.1:7600");
	cr_assert_str_eq(c.log_dir, "/tmp/xact-demo/coord");
	cr_assert_eq(c.nparticipants, 3);
	for (size_t i = 0; i < 3; i++) {
		char name[16], url[64];

		snprintf(name, sizeof(name), "bank%zu", i + 1);
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%zu", 7611 + i);
		cr_assert_str_eq(c.participants[i].name, name);
		cr_assert_str_eq(c.participants[i].url, url);
	}
	cr_assert_str_eq(c.api_listen, "http://127.0.0.1:7680");
	cr_assert_eq(c.api_workers, 8);
	cfg_free_coord(&c);
}

Test(config, example_participants)
{
	for (int i = 1; i <= 3; i++) {
		struct part_config c;
		char path[512], name[16], url[64], db[128];

		snprintf(path, sizeof(path),
		         XACT_SOURCE_DIR "/config/participant-bank%d.yaml", i);
		snprintf(name, sizeof(name), "bank%d", i);
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", 7610 + i);
		snprintf(db, sizeof(db),
		         "host=127.0.0.1 port=%d dbname=postgres user=postgres",
		         5432 + i);
		load_part_ok(path, &c);
		cr_assert_str_eq(c.name, name);
		cr_assert_str_eq(c.listen, url);
		cr_assert_str_eq(c.database, db);
		cr_assert_eq(c.ncoordinators, 1);
		cr_assert_str_eq(c.coordinators[0].name, "c1");
		cr_assert_str_eq(c.coordinators[0].url, "tcp://127.0.0.1:7600");
		cfg_free_part(&c);
	}
}

Test(config, example_tls)
{
	struct coord_config c;
	struct part_config p;

	load_coord_ok(XACT_SOURCE_DIR "/config/tls/coordinator.yaml", &c);
	cr_assert_str_eq(c.listen, "tls+tcp://localhost:7600");
	cr_assert_str_eq(c.tls_ca, "/etc/xact/certs/ca.pem");
	cr_assert_str_eq(c.tls_cert, "/etc/xact/certs/node.pem");
	cr_assert_str_eq(c.tls_key, "/etc/xact/certs/node.key");
	cr_assert_str_eq(c.metrics_listen, "http://127.0.0.1:9100");
	load_part_ok(XACT_SOURCE_DIR "/config/tls/participant-bank1.yaml", &p);
	cr_assert_str_eq(p.listen, c.participants[0].url);
	cr_assert_str_eq(p.coordinators[0].url, c.listen);
	cr_assert_str_eq(p.tls_cert, c.tls_cert);
	cfg_free_part(&p);
	cfg_free_coord(&c);
}

/* The docker-compose shape: service names as hosts, the same pairing. */
Test(config, example_compose)
{
	struct coord_config c;
	struct part_config p;

	load_coord_ok(XACT_SOURCE_DIR "/config/compose/coordinator.yaml", &c);
	cr_assert_str_eq(c.listen, "tcp://0.0.0.0:7600");
	cr_assert_eq(c.nparticipants, 3);
	for (size_t i = 0; i < 3; i++) {
		char path[512];

		snprintf(path, sizeof(path),
		         XACT_SOURCE_DIR "/config/compose/participant-%s.yaml",
		         c.participants[i].name);
		load_part_ok(path, &p);
		cr_assert_str_eq(p.name, c.participants[i].name);
		cr_assert_str_eq(p.coordinators[0].url,
		                 "tcp://coordinator:7600");
		cfg_free_part(&p);
	}
	cfg_free_coord(&c);
}

/* Each demo participant is one the demo coordinator lists, and vice versa. */
Test(config, examples_agree)
{
	struct coord_config c;

	load_coord_ok(XACT_SOURCE_DIR "/config/coordinator.yaml", &c);
	for (int i = 1; i <= 3; i++) {
		const struct cfg_endpoint *e;
		struct part_config p;
		char path[512];

		snprintf(path, sizeof(path),
		         XACT_SOURCE_DIR "/config/participant-bank%d.yaml", i);
		load_part_ok(path, &p);
		e = cfg_find(c.participants, c.nparticipants, p.name);
		cr_assert_not_null(e, "%s not in coordinator.yaml", p.name);
		cr_assert_str_eq(e->url, p.listen);
		e = cfg_find(p.coordinators, p.ncoordinators, c.node);
		cr_assert_not_null(e);
		cr_assert_str_eq(e->url, c.listen);
		cfg_free_part(&p);
	}
	cfg_free_coord(&c);
}

Test(config, find)
{
	struct coord_config c;

	load_coord_ok(DATA "coord-full.yaml", &c);
	cr_assert_eq(cfg_find(c.participants, c.nparticipants, "bank3"),
	             &c.participants[2]);
	cr_assert_null(cfg_find(c.participants, c.nparticipants, "bank2"));
	cr_assert_null(cfg_find(c.participants, c.nparticipants, NULL));
	cr_assert_null(cfg_find(NULL, 0, "bank1"));
	cfg_free_coord(&c);
}

Test(config, free_zeroed_and_twice)
{
	struct coord_config c = {0};
	struct part_config p = {0};

	cfg_free_coord(&c);
	cfg_free_part(&p);
	cfg_free_coord(NULL);
	cfg_free_part(NULL);
	load_part_ok(DATA "part-full.yaml", &p);
	cfg_free_part(&p);
	cfg_free_part(&p);
}

Test(config, no_error_buffer)
{
	struct coord_config c;
	char err[16];

	cr_assert_eq(cfg_load_coord(DATA "nope.yaml", &c, NULL, 0), -1);
	cr_assert_eq(cfg_load_coord(DATA "bad-duration.yaml", &c, err, 1), -1);
	cr_assert_str_eq(err, "");
	/* A short buffer gets a truncated but terminated message. */
	cr_assert_eq(
	    cfg_load_coord(DATA "bad-duration.yaml", &c, err, sizeof(err)), -1);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
}

/* ---- files that cannot be read or parsed ------------------------------ */

Test(config, missing_file)
{
	coord_err("nope.yaml",
	          "/nope.yaml: cannot open: No such file or directory");
}

Test(config, directory)
{
	coord_err("", "/config/: cannot open: Is a directory");
}

Test(config, syntax_error)
{
	coord_err("syntax.yaml",
	          "syntax.yaml:5:1: YAML syntax error: found unexpected end of "
	          "stream (while scanning a quoted scalar at line 3, column "
	          "10)");
}

Test(config, syntax_indent)
{
	coord_err("syntax-indent.yaml",
	          "syntax-indent.yaml:3:10: YAML syntax error: mapping values "
	          "are not allowed");
}

Test(config, not_utf8)
{
	coord_err("not-utf8.yaml", "not-utf8.yaml: byte 52: invalid leading "
	                           "UTF-8 octet (#FF); the file must be UTF-8");
	coord_err("utf8-truncated.yaml", "utf8-truncated.yaml: byte 23: "
	                                 "incomplete UTF-8 octet sequence");
}

Test(config, empty_file)
{
	coord_err("empty.yaml", "empty.yaml: the file is empty");
	coord_err("comments-only.yaml",
	          "comments-only.yaml: the file is empty");
}

Test(config, two_documents)
{
	coord_err("two-documents.yaml",
	          "two-documents.yaml:6:1: a second YAML document");
}

Test(config, too_deep)
{
	coord_err("deep.yaml",
	          "deep.yaml:2:20: the file is too large or nested too deeply");
}

/* ---- shape ------------------------------------------------------------ */

Test(config, top_level_list)
{
	coord_err("top-list.yaml", "top-list.yaml:1:1: the top level must be a "
	                           "map of keys (key: value), got a list");
}

Test(config, top_level_scalar)
{
	coord_err("top-scalar.yaml",
	          "top-scalar.yaml:1:1: the top level must be a map");
}

Test(config, unknown_key)
{
	coord_err("unknown-key.yaml", "unknown-key.yaml:6:1: timouts: unknown "
	                              "key (did you mean \"timeouts\"?)");
}

Test(config, unknown_nested_key)
{
	coord_err("unknown-nested.yaml",
	          "unknown-nested.yaml:8:3: timeouts.commitwait: unknown key "
	          "(did you mean \"commit_wait\"?)");
	part_err("part-sweep-typo.yaml",
	         "part-sweep-typo.yaml:7:3: sweep.intervall: unknown key");
}

Test(config, dotted_key)
{
	coord_err("dotted-key.yaml", "dotted-key.yaml:6:1: timeouts.vote: "
	                             "unknown key (nest keys as maps");
}

Test(config, complex_key)
{
	coord_err("complex-key.yaml", "complex-key.yaml:2:3: a key must be a "
	                              "single word, not a list");
}

Test(config, map_where_scalar_expected)
{
	coord_err("scalar-is-map.yaml",
	          "scalar-is-map.yaml:2:3: node: expected a name, got a map");
}

Test(config, scalar_where_map_expected)
{
	coord_err("section-is-scalar.yaml",
	          "section-is-scalar.yaml:6:11: timeouts: expected a map of "
	          "keys, got a single value");
}

Test(config, scalar_where_list_expected)
{
	coord_err("list-is-scalar.yaml",
	          "list-is-scalar.yaml:4:15: participants: expected a list of "
	          "maps with name and url");
}

Test(config, null_value)
{
	coord_err(
	    "null-value.yaml",
	    "null-value.yaml:2:8: listen: no value given; expected a URL");
}

Test(config, duplicate_key)
{
	coord_err("dup-key.yaml",
	          "dup-key.yaml:6:1: node: duplicate key (first at line 1)");
	coord_err("dup-nested-key.yaml", "dup-nested-key.yaml:8:3: "
	                                 "timeouts.vote: duplicate key (first "
	                                 "at line 7)");
}

Test(config, anchor)
{
	coord_err("anchor.yaml", "anchor.yaml:2:9: listen: anchors and aliases "
	                         "(&name, *name) are not supported");
}

Test(config, alias)
{
	coord_err("alias.yaml",
	          "alias.yaml:5:24: participants[0].url: anchors and aliases");
}

Test(config, required_missing)
{
	coord_err("missing-node.yaml",
	          "missing-node.yaml: node: required key missing");
	coord_err("missing-participants.yaml",
	          "missing-participants.yaml: participants: required key "
	          "missing");
	part_err("part-missing-database.yaml",
	         "part-missing-database.yaml: database: required key missing");
}

/* ---- values ----------------------------------------------------------- */

Test(config, bad_duration)
{
	coord_err("bad-duration.yaml",
	          "bad-duration.yaml:7:12: timeouts.vote: \"5x\" is not a "
	          "duration (e.g. 500ms, 5s, 2m)");
}

Test(config, duration_overflow)
{
	coord_err("duration-overflow.yaml",
	          "duration-overflow.yaml:7:9: timeouts.idle: "
	          "\"99999999999999999999h\" is out of range (1ms..1h)");
}

Test(config, duration_out_of_range)
{
	coord_err("duration-range.yaml",
	          "duration-range.yaml:7:12: timeouts.request: \"2h\" is out "
	          "of range (1ms..1h)");
}

Test(config, uint_out_of_range)
{
	coord_err("contexts-range.yaml", "contexts-range.yaml:6:11: contexts: "
	                                 "\"5000\" is out of range (1..4096)");
	coord_err("compact-range.yaml",
	          "compact-range.yaml:6:20: log_compact_bytes: \"4096\" is out "
	          "of range (1048576..68719476736)");
	part_err("part-pool-range.yaml",
	         "part-pool-range.yaml:6:12: pool_size: \"0\" is out of range "
	         "(1..1024)");
}

Test(config, uint_not_a_number)
{
	coord_err("contexts-negative.yaml",
	          "contexts-negative.yaml:6:11: contexts: \"-1\" is not a "
	          "whole number");
}

Test(config, bad_level)
{
	coord_err(
	    "bad-level.yaml",
	    "bad-level.yaml:6:12: log_level: \"verbose\" is not a log level");
}

Test(config, invalid_name)
{
	coord_err("bad-node-name.yaml",
	          "bad-node-name.yaml:1:7: node: \"c_1\" is not a valid name");
	coord_err("long-name.yaml",
	          "long-name.yaml:5:11: participants[0].name: "
	          "\"abcdefghijklmnopqrstuvwxyz0123456\" is not a valid name");
}

Test(config, nul_byte)
{
	coord_err("nul-byte.yaml", "nul-byte.yaml:3:10: log_dir: "
	                           "\"/tmp/c1\\x00/evil\" contains a NUL byte");
}

Test(config, empty_database)
{
	part_err("part-empty-database.yaml",
	         "part-empty-database.yaml:3:11: database: must not be empty");
}

Test(config, url_scheme)
{
	coord_err("bad-url-scheme.yaml",
	          "bad-url-scheme.yaml:2:9: listen: \"http://127.0.0.1:7600\" "
	          "is not a URL this daemon can use");
}

Test(config, url_port)
{
	coord_err("url-no-port.yaml",
	          "url-no-port.yaml:6:10: participants[0].url: "
	          "\"tcp://127.0.0.1\" has no port");
	coord_err("url-bad-port.yaml",
	          "url-bad-port.yaml:2:9: listen: \"tcp://127.0.0.1:76000\" "
	          "has a port that is not a number");
}

Test(config, metrics_url)
{
	coord_err("metrics-bad-url.yaml",
	          "metrics-bad-url.yaml:8:11: metrics.listen: "
	          "\"tcp://127.0.0.1:9100\" is not an HTTP address");
	part_err("metrics-no-port.yaml",
	         "metrics-no-port.yaml:8:11: metrics.listen: "
	         "\"http://127.0.0.1/metrics\" is not http://HOST:PORT");
}

Test(config, api)
{
	coord_err("api-bad-url.yaml",
	          "api-bad-url.yaml:8:11: api.listen: "
	          "\"tls+tcp://127.0.0.1:7680\" is not an HTTP address");
	coord_err("api-workers-zero.yaml",
	          "api-workers-zero.yaml:9:12: api.workers: \"0\" is out of "
	          "range (1..256)");
}

/* ---- endpoint lists --------------------------------------------------- */

Test(config, empty_participants)
{
	coord_err("empty-participants.yaml",
	          "empty-participants.yaml:4:15: participants: the list is "
	          "empty");
}

Test(config, duplicate_participant)
{
	coord_err("dup-participant.yaml",
	          "dup-participant.yaml:9:11: participants[2].name: duplicate "
	          "name \"bank1\" (first at line 5)");
	part_err("part-dup-coordinator.yaml",
	         "part-dup-coordinator.yaml:7:11: coordinators[1].node: "
	         "duplicate node \"c1\" (first at line 5)");
}

Test(config, entry_missing_url)
{
	coord_err("entry-missing-url.yaml", "entry-missing-url.yaml:7:5: "
	                                    "participants[1].url: required key "
	                                    "missing");
}

Test(config, entry_unknown_key)
{
	coord_err("entry-unknown-key.yaml",
	          "entry-unknown-key.yaml:6:5: participants[0].ur1: unknown "
	          "key (did you mean \"url\"?)");
	part_err("part-coordinator-name-key.yaml",
	         "part-coordinator-name-key.yaml:5:5: coordinators[0].name: "
	         "unknown key (did you mean \"node\"?)");
}

Test(config, entry_not_a_map)
{
	coord_err("entry-not-map.yaml", "entry-not-map.yaml:5:5: "
	                                "participants[0]: expected a map with "
	                                "name and url, got a single value");
}

Test(config, participant_file_as_coordinator)
{
	coord_err("../../../../config/participant-bank1.yaml",
	          "participant-bank1.yaml:7:1: name: unknown key (did "
	          "you mean \"node\"?)");
}

/* ---- docs/config.md ---------------------------------------------------- */

#define DOCS       XACT_SOURCE_DIR "/docs/config.md"
#define DOCS_BEGIN "<!-- BEGIN cfg_dump_docs -->\n"
#define DOCS_END   "<!-- END cfg_dump_docs -->"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * The key tables in the docs are cfg_dump_docs() output, so they cannot
 * drift from the code. XACT_UPDATE_DOCS=1 rewrites them in place.
 */
Test(config, docs_up_to_date)
{
	char *doc = slurp(DOCS), *gen = NULL, *begin, *end;
	const char *update;
	size_t genlen = 0;
	bool same;
	FILE *mem = open_memstream(&gen, &genlen);

	cr_assert_not_null(mem);
	cfg_dump_docs(mem);
	fclose(mem);
	begin = strstr(doc, DOCS_BEGIN);
	cr_assert_not_null(begin, DOCS " has no " DOCS_BEGIN);
	begin += strlen(DOCS_BEGIN);
	end = strstr(begin, DOCS_END);
	cr_assert_not_null(end, DOCS " has no " DOCS_END);

	same =
	    (size_t)(end - begin) == genlen && memcmp(begin, gen, genlen) == 0;
	update = getenv("XACT_UPDATE_DOCS");
	if (!same && update != NULL && strcmp(update, "1") == 0) {
		FILE *f = fopen(DOCS, "wb");

		cr_assert_not_null(f);
		fwrite(doc, 1, (size_t)(begin - doc), f);
		fwrite(gen, 1, genlen, f);
		fputs(end, f);
		cr_assert_eq(fclose(f), 0);
		same = true;
	}
	free(gen);
	free(doc);
	cr_assert(same, DOCS " is out of date with lib/config.c; rerun with "
	                     "XACT_UPDATE_DOCS=1");
}
