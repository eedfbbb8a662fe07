#include "clients.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "hmap.h"

struct client {
	struct hmap_node node;
	char key[12]; /* the pipe id in decimal */
	uint32_t open;
};

struct clients {
	pthread_mutex_t mu;
	struct hmap map;
};

struct clients *
clients_new(void)
{
	struct clients *cl = calloc(1, sizeof(*cl));

	if (cl == NULL || hmap_init(&cl->map, 64) != 0) {
		free(cl);
		return NULL;
	}
	pthread_mutex_init(&cl->mu, NULL);
	return cl;
}

static int
free_one(struct hmap_node *n, void *arg)
{
	(void)arg;
	free(container_of(n, struct client, node));
	return 0;
}

void
clients_free(struct clients *cl)
{
	if (cl == NULL)
		return;
	hmap_foreach(&cl->map, free_one, NULL);
	hmap_destroy(&cl->map);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

/* Called with mu held. */
static struct client *
find(struct clients *cl, uint32_t client)
{
	char key[12];
	struct hmap_node *n;

	snprintf(key, sizeof(key), "%u", client);
	n = hmap_get(&cl->map, key);
	return n != NULL ? container_of(n, struct client, node) : NULL;
}

bool
clients_take(struct clients *cl, uint32_t client, uint32_t n, uint32_t max)
{
	struct client *c;
	bool ok = true;

	if (client == 0)
		return true;
	pthread_mutex_lock(&cl->mu);
	if ((c = find(cl, client)) == NULL) {
		/* Out of memory: not counted, rather than refused. */
		if (n <= max && (c = calloc(1, sizeof(*c))) != NULL) {
			snprintf(c->key, sizeof(c->key), "%u", client);
			hmap_put(&cl->map, &c->node, c->key);
		}
	}
	if (n > max || (c != NULL && c->open > max - n))
		ok = false;
	else if (c != NULL)
		c->open += n;
	pthread_mutex_unlock(&cl->mu);
	return ok;
}

void
clients_release(struct clients *cl, uint32_t client)
{
	struct client *c;

	if (client == 0)
		return;
	pthread_mutex_lock(&cl->mu);
	if ((c = find(cl, client)) != NULL && c->open > 0 && --c->open == 0) {
		hmap_remove(&cl->map, c->key);
		free(c);
	}
	pthread_mutex_unlock(&cl->mu);
}

uint32_t
clients_open(struct clients *cl, uint32_t client)
{
	struct client *c;
	uint32_t n;

	pthread_mutex_lock(&cl->mu);
	n = (c = find(cl, client)) != NULL ? c->open : 0;
	pthread_mutex_unlock(&cl->mu);
	return n;
}
