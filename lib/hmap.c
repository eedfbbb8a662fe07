#include "hmap.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: gids are short and this is plenty for a table we size ourselves. */
static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

int
hmap_init(struct hmap *m, size_t expected)
{
	size_t n = 16;

	while (n < expected)
		n <<= 1;
	m->buckets = calloc(n, sizeof(*m->buckets));
	m->nbuckets = n;
	m->count = 0;
	return m->buckets == NULL ? -1 : 0;
}

void
hmap_destroy(struct hmap *m)
{
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->count = 0;
}

struct hmap_node *
hmap_get(const struct hmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	struct hmap_node *n = m->buckets[h & (m->nbuckets - 1)];

	for (; n != NULL; n = n->next)
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

/* Double the buckets when the load passes 1; a failed grow is harmless. */
static void
grow(struct hmap *m)
{
	size_t n = m->nbuckets * 2;
	struct hmap_node **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *node = m->buckets[i], *next;

		for (; node != NULL; node = next) {
			next = node->next;
			node->next = b[node->hash & (n - 1)];
			b[node->hash & (n - 1)] = node;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int
hmap_put(struct hmap *m, struct hmap_node *node, const char *key)
{
	struct hmap_node **slot;

	if (m->count >= m->nbuckets)
		grow(m);
	node->key = key;
	node->hash = hash_str(key);
	slot = &m->buckets[node->hash & (m->nbuckets - 1)];
	node->next = *slot;
	*slot = node;
	m->count++;
	return 0;
}

struct hmap_node *
hmap_remove(struct hmap *m, const char *key)
{
	uint64_t h = hash_str(key);
	struct hmap_node **p = &m->buckets[h & (m->nbuckets - 1)];

	for (; *p != NULL; p = &(*p)->next) {
		struct hmap_node *n = *p;

		if (n->hash == h && strcmp(n->key, key) == 0) {
			*p = n->next;
			m->count--;
			return n;
		}
	}
	return NULL;
}

void
hmap_foreach(struct hmap *m, int (*fn)(struct hmap_node *, void *), void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *n = m->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next; /* fn may unlink n */
			if (fn(n, arg) != 0)
				return;
		}
	}
}
