/*
 * hmap: an intrusive hash table keyed by C strings (gids).
 *
 * Embed a struct hmap_node in your object and get the object back with
 * container_of. The table never owns or copies keys: the key must live as
 * long as the node is in the table. Not thread-safe: the owner locks.
 */
#ifndef XACT_HMAP_H
#define XACT_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct hmap_node {
	struct hmap_node *next;
	uint64_t hash;
	const char *key;
};

struct hmap {
	struct hmap_node **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

/* Returns 0, or -1 when out of memory. */
int hmap_init(struct hmap *m, size_t expected);
void hmap_destroy(struct hmap *m); /* frees the buckets, not the nodes */

struct hmap_node *hmap_get(const struct hmap *m, const char *key);

/* Insert node under key (not already present). Always returns 0: a
 * failed grow only makes the table slower. */
int hmap_put(struct hmap *m, struct hmap_node *node, const char *key);

/* Unlink and return the node with this key, or NULL. */
struct hmap_node *hmap_remove(struct hmap *m, const char *key);

/*
 * Visit every node; fn may remove the visited node (and only it) from the
 * table. A non-zero return stops the walk.
 */
void hmap_foreach(struct hmap *m, int (*fn)(struct hmap_node *, void *),
                  void *arg);

#endif
