/*
 * Bad input: garbage on the sockets, a port in use, a database that is
 * down, a broken config. Each gets a clear answer or a NO vote; nothing
 * crashes and no decision is lost.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "wire.h"
#include "xact.h"

static struct hcluster C;

static void
finish(void)
{
	cr_assert(hcluster_finish(&C), "prepared transactions left behind");
}

TestSuite(badinput, .fini = finish, .timeout = 120);

static void
start(struct hcluster_opts *o)
{
	o->accounts = 5;
	o->balance = 100;
	cr_assert_eq(hcluster_start(&C, o), 0, "cluster did not start");
}

/* A transfer of 1 from bank1 to bank2; returns the outcome or -1. */
static int
transfer(void)
{
	static const char *d[] = {"UPDATE accounts SET balance = balance - 1 "
	                          "WHERE id = 1"};
	static const char *k[] = {"UPDATE accounts SET balance = balance + 1 "
	                          "WHERE id = 1"};
	struct xact_branch b[] = {{"bank1", d, 1}, {"bank2", k, 1}};
	xact_outcome o;
	xact_conn *c;
	int rc;

	if (xact_connect(hcluster_url(&C), 10000, &c) != 0) {
		xact_disconnect(c);
		return -1;
	}
	rc = xact_submit(c, b, 2, NULL, &o) == 0 ? (int)o : -1;
	xact_disconnect(c);
	return rc;
}

/* Raw bytes that are not even the NNG handshake. */
static void
send_raw_garbage(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(0x7f000001)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char junk[4096];

	memset(junk, 0xA5, sizeof(junk));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	for (int i = 0; i < 16; i++)
		if (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
			break; /* the peer hung up on us: fine */
	close(fd);
}

/* A valid SP request whose payload is garbage: must get WIRE_ERROR. */
static void
expect_error_reply(const char *url, const void *payload, size_t len)
{
	struct wire_msg m;
	nng_socket s;
	nng_msg *msg;
	char err[200];

	cr_assert_eq(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000);
	cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
	cr_assert_eq(nng_msg_alloc(&msg, 0), 0);
	cr_assert_eq(nng_msg_append(msg, payload, len), 0);
	cr_assert_eq(nng_sendmsg(s, msg, 0), 0);
	cr_assert_eq(nng_recvmsg(s, &msg, 0), 0, "no answer to garbage");
	cr_assert_eq(wire_decode(nng_msg_body(msg), nng_msg_len(msg), &m, err,
	                         sizeof(err)),
	             0, "%s", err);
	cr_assert_eq(m.type, WIRE_ERROR);
	cr_assert_eq(m.code, WIRE_E_BAD_REQUEST, "code %u: %s", m.code, m.text);
	wire_msg_free(&m);
	nng_msg_free(msg);
	nng_close(s);
}

Test(badinput, garbage_on_every_port)
{
	static const uint8_t junk[] = {'X', 'A', 1, 3, 1, 255, 255, 255, 255};
	static const uint8_t truncated[] = {'X', 'A'};
	char url[64];

	start(&(struct hcluster_opts){.n = 2});
	send_raw_garbage(C.coord_port);
	send_raw_garbage(C.part_port[0]);
	expect_error_reply(C.url, junk, sizeof(junk));
	expect_error_reply(C.url, truncated, sizeof(truncated));
	expect_error_reply(C.url, "", 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", C.part_port[0]);
	expect_error_reply(url, junk, sizeof(junk));
	expect_error_reply(url, truncated, sizeof(truncated));
	/* Still serving, and nothing was disturbed. */
	cr_assert(hproc_alive(&C.coord) && hproc_alive(&C.part[0]));
	cr_assert_eq(transfer(), XACT_COMMITTED);
	cr_assert_eq(hbank_total(&C.pg[0]) + hbank_total(&C.pg[1]), 1000);
}

Test(badinput, port_in_use_is_a_clear_error)
{
	struct hproc p = {0};
	char *argv[] = {XACT_BIN_DIR "/xact-coordinator", "--config",
	                C.coord_conf, NULL};
	char log[HPATH_MAX + 16], line[512] = "";
	FILE *f;
	int status;

	start(&(struct hcluster_opts){.n = 1});
	snprintf(log, sizeof(log), "%s/second.log", C.dir);
	/* A second coordinator on the same config: same port, same log. */
	cr_assert_eq(hproc_start(&p, "second", argv, NULL, log), 0);
	cr_assert_eq(hproc_wait(&p, 10000, &status), 0, "it must exit");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	          "exit status %d", status);
	cr_assert_not_null(f = fopen(log, "r"));
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	/* The log lock is taken first; either reason is clear. */
	cr_assert(strstr(line, "locked") != NULL ||
	              strstr(line, "Address in use") != NULL,
	          "message: %s", line);
	cr_assert(hproc_alive(&C.coord), "the first one keeps running");
}

Test(badinput, database_down_mid_run_votes_no_then_recovers)
{
	int o;

	start(&(struct hcluster_opts){.n = 2, .vote_timeout_ms = 5000});
	cr_assert_eq(transfer(), XACT_COMMITTED);
	cr_assert_eq(hpg_kill(&C.pg[1]), 0);
	o = transfer();
	cr_assert_eq(o, XACT_ABORTED, "a down database votes NO (got %d)", o);
	cr_assert(hproc_alive(&C.part[1]), "the participant stays up");
	cr_assert_eq(hpg_restart(&C.pg[1]), 0);
	cr_assert_eq(transfer(), XACT_COMMITTED, "serves again");
	cr_assert_eq(hbank_total(&C.pg[0]) + hbank_total(&C.pg[1]), 1000);
}

Test(badinput, database_down_at_start)
{
	start(&(struct hcluster_opts){.n = 2});
	cr_assert_eq(hpg_kill(&C.pg[0]), 0);
	cr_assert_eq(hcluster_restart_part(&C, 0), 0,
	             "the participant starts without its database");
	cr_assert_eq(transfer(), XACT_ABORTED);
	cr_assert_eq(hpg_restart(&C.pg[0]), 0);
	cr_assert_eq(transfer(), XACT_COMMITTED);
}

Test(badinput, broken_config_exits_2_with_file_line_column)
{
	char dir[] = "/tmp/xact-badcfg-XXXXXX", path[64], log[80];
	char line[512] = "";
	struct hproc p = {0};
	char *argv[] = {XACT_BIN_DIR "/xact-participant", "--config", path,
	                NULL};
	FILE *f;
	int status;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	snprintf(log, sizeof(log), "%s/p.log", dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs("name: bank1\nlisten: tcp://127.0.0.1:1\npool_size: lots\n", f);
	fclose(f);
	cr_assert_eq(hproc_start(&p, "bad", argv, NULL, log), 0);
	cr_assert_eq(hproc_wait(&p, 10000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d",
	          status);
	cr_assert_not_null(f = fopen(log, "r"));
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	cr_assert(strstr(line, "p.yaml:3:12: pool_size") != NULL, "got: %s",
	          line);
	unlink(path);
	unlink(log);
	rmdir(dir);
}
