/*
 * hnet.c: network namespaces and veth pairs for partition tests, made and
 * cut with ip(8) and tc(8). See harness.h.
 *
 * The cut is a blackhole qdisc rather than a link down: a link going down
 * takes its addresses' local routes with it, so our own end would become
 * unreachable even from loopback, and a dead link answers "network
 * unreachable" at once, which a real partition does not.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_internal.h"

#define SUBNETS 16384 /* /30s in 10.250.0.0/16 */

static int
ip(const char *const argv[])
{
	return hrun(argv, false, NULL);
}

bool
hnet_supported(char *why, size_t len)
{
	const char *const argv[] = {"ip", "netns", "list", NULL};

	if (geteuid() != 0) {
		snprintf(why, len, "network namespaces need root");
		return false;
	}
	if (hrun(argv, false, "/dev/null") != 0) {
		snprintf(why, len, "ip netns does not work here (iproute2?)");
		return false;
	}
	return true;
}

int
hnet_create(struct hnet *n)
{
	static int made; /* namespaces this process made: names differ */
	unsigned idx = ((unsigned)getpid() * 4u + (unsigned)made) % SUBNETS;
	unsigned b = idx >> 6, c = (idx & 63u) << 2;

	memset(n, 0, sizeof *n);
	snprintf(n->name, sizeof n->name, "xact-%d-%d", (int)getpid(), made);
	snprintf(n->host_if, sizeof n->host_if, "xh%d-%d", (int)getpid(), made);
	snprintf(n->ns_if, sizeof n->ns_if, "xn%d-%d", (int)getpid(), made);
	snprintf(n->host_addr, sizeof n->host_addr, "10.250.%u.%u", b, c + 1);
	snprintf(n->ns_addr, sizeof n->ns_addr, "10.250.%u.%u", b, c + 2);
	made++;

	char host_cidr[24], ns_cidr[24];
	snprintf(host_cidr, sizeof host_cidr, "%s/30", n->host_addr);
	snprintf(ns_cidr, sizeof ns_cidr, "%s/30", n->ns_addr);
	const char *const add[] = {"ip", "netns", "add", n->name, NULL};
	const char *const veth[] = {"ip",     "link",  "add",   n->host_if,
	                            "type",   "veth",  "peer",  "name",
	                            n->ns_if, "netns", n->name, NULL};
	const char *const host_ip[] = {"ip",  "addr",     "add", host_cidr,
	                               "dev", n->host_if, NULL};
	const char *const host_up[] = {"ip",       "link", "set",
	                               n->host_if, "up",   NULL};
	const char *const ns_ip[] = {"ip",    "-n",  n->name,  "addr", "add",
	                             ns_cidr, "dev", n->ns_if, NULL};
	const char *const ns_up[] = {"ip",  "-n",     n->name, "link",
	                             "set", n->ns_if, "up",    NULL};
	const char *const lo_up[] = {"ip",  "-n", n->name, "link",
	                             "set", "lo", "up",    NULL};

	if (ip(add) != 0) {
		herr("cannot create network namespace %s", n->name);
		n->name[0] = '\0';
		return -1;
	}
	hreap_note(REAP_NETNS, true, 0, n->name);
	if (ip(veth) != 0 || ip(host_ip) != 0 || ip(host_up) != 0 ||
	    ip(ns_ip) != 0 || ip(ns_up) != 0 || ip(lo_up) != 0) {
		herr("cannot set up the veth pair of %s", n->name);
		hnet_destroy(n);
		return -1;
	}
	return 0;
}

/* "add" or "del" the blackhole qdisc at both ends. */
static int
qdisc(struct hnet *n, const char *op)
{
	const char *const host[] = {"tc",       "qdisc", op,          "dev",
	                            n->host_if, "root",  "blackhole", NULL};
	const char *const ns[] = {"tc",  "-n",     n->name, "qdisc",     op,
	                          "dev", n->ns_if, "root",  "blackhole", NULL};

	return ip(host) == 0 && ip(ns) == 0 ? 0 : -1;
}

int
hnet_cut(struct hnet *n)
{
	if (n->cut)
		return 0;
	if (qdisc(n, "add") != 0) {
		herr("cannot cut %s", n->name);
		qdisc(n, "del");
		return -1;
	}
	n->cut = true;
	return 0;
}

int
hnet_heal(struct hnet *n)
{
	if (!n->cut)
		return 0;
	if (qdisc(n, "del") != 0) {
		herr("cannot heal %s", n->name);
		return -1;
	}
	n->cut = false;
	return 0;
}

int
hnet_remove(const char *name)
{
	const char *const del[] = {"ip", "netns", "del", name, NULL};

	return ip(del);
}

void
hnet_destroy(struct hnet *n)
{
	if (n->name[0] == '\0')
		return;
	if (hnet_remove(n->name) != 0)
		herr("cannot delete network namespace %s", n->name);
	hreap_note(REAP_NETNS, false, 0, n->name);
	n->name[0] = '\0';
}
