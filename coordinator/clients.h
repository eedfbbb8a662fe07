/*
 * clients: the undecided transactions of each client connection (an NNG
 * pipe), for limits.open_per_client: one client cannot fill the table.
 * Thread-safe; take it after a tx's lock if at all, never before.
 */
#ifndef XACT_CLIENTS_H
#define XACT_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>

struct clients;

struct clients *clients_new(void); /* NULL when out of memory */
void clients_free(struct clients *cl);

/*
 * Count n more transactions for client (0: one not counted, always true)
 * if it then holds at most max. False, counting nothing, otherwise.
 */
bool clients_take(struct clients *cl, uint32_t client, uint32_t n,
                  uint32_t max);

/* One of client's transactions is decided. */
void clients_release(struct clients *cl, uint32_t client);

/* How many client holds now (for tests and LIST). */
uint32_t clients_open(struct clients *cl, uint32_t client);

#endif
