/* A FIFO queue of byte ranges: the bookkeeping of a range lock, without its
 * locking or its waking. A range is held when it overlaps no held range and
 * no earlier waiter, so overlapping requests are granted in arrival order
 * and none starves; ranges that overlap nothing never wait. Callers
 * serialise every call with their own mutex and wake a granted waiter their
 * own way: the NBD server hands it to its worker's loop, the nbdkit filter
 * signals the sleeping thread. */
#ifndef CRYPTBLK_RANGEQ_H
#define CRYPTBLK_RANGEQ_H

#include <stdbool.h>
#include <stdint.h>

struct rangeq_entry {
	uint64_t start, end;	   /* [start, end) */
	struct rangeq_entry *next; /* held list or waiter list */
};

struct rangeq {
	struct rangeq_entry *held;
	struct rangeq_entry *wait_head, *wait_tail;
};

void rangeq_init(struct rangeq *q);
/* Hold e (true) or queue it behind what it overlaps (false). */
bool rangeq_enter(struct rangeq *q, struct rangeq_entry *e);
/* Give up the held e; every waiter that may now hold is moved to the held
 * list, in order, and passed to grant(). */
void rangeq_leave(struct rangeq *q, struct rangeq_entry *e,
		  void (*grant)(struct rangeq_entry *e, void *ctx), void *ctx);

#endif
