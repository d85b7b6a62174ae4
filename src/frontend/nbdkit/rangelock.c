/* Range locks for the filter's write-type requests, shared by every nbdkit
 * thread: the same rule as the NBD server's (src/frontend/nbd/rangelock.c),
 * but a waiter here is a thread that may sleep, so a grant is a condition
 * variable signalled instead of a hand-off to a worker's loop. A request
 * waits while its sector range overlaps a held range or an earlier waiter
 * (FIFO, so nobody starves); ranges that do not overlap never wait. */
#include "cbf.h"

void cbf_rangelock_init(struct cbf_rangelock *rl)
{
	pthread_mutex_init(&rl->mutex, NULL);
	rl->held = NULL;
	rl->wait_head = rl->wait_tail = NULL;
}

static bool cbf_range_overlaps(const struct cbf_range *a, const struct cbf_range *b)
{
	return a->start < b->end && b->start < a->end;
}

/* Does `r` overlap a range of `list` before `stop`? */
static bool cbf_range_overlaps_list(const struct cbf_range *r, const struct cbf_range *list,
				    const struct cbf_range *stop)
{
	for (const struct cbf_range *x = list; x && x != stop; x = x->next)
		if (cbf_range_overlaps(r, x))
			return true;
	return false;
}

void cbf_range_lock(struct cbf_rangelock *rl, struct cbf_range *r, uint64_t start, uint64_t end)
{
	pthread_cond_t wake;

	r->start = start;
	r->end = end;
	r->next = NULL;
	r->granted = false;
	pthread_mutex_lock(&rl->mutex);
	if (!cbf_range_overlaps_list(r, rl->held, NULL) &&
	    !cbf_range_overlaps_list(r, rl->wait_head, NULL)) {
		r->next = rl->held;
		rl->held = r;
		pthread_mutex_unlock(&rl->mutex);
		return;
	}
	pthread_cond_init(&wake, NULL);
	r->wake = &wake;
	if (rl->wait_tail)
		rl->wait_tail->next = r;
	else
		rl->wait_head = r;
	rl->wait_tail = r;
	while (!r->granted)
		pthread_cond_wait(&wake, &rl->mutex);
	r->wake = NULL;
	pthread_mutex_unlock(&rl->mutex);
	pthread_cond_destroy(&wake);
}

/* Under the mutex: waiters that overlap neither a held range nor an earlier
 * waiter become held, in order, and are woken. */
static void cbf_rangelock_grant(struct cbf_rangelock *rl)
{
	struct cbf_range **pp = &rl->wait_head, *prev = NULL;

	while (*pp) {
		struct cbf_range *r = *pp;

		if (cbf_range_overlaps_list(r, rl->held, NULL) ||
		    cbf_range_overlaps_list(r, rl->wait_head, r)) {
			prev = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (rl->wait_tail == r)
			rl->wait_tail = prev;
		r->next = rl->held;
		rl->held = r;
		r->granted = true;
		pthread_cond_signal(r->wake);
	}
}

void cbf_range_unlock(struct cbf_rangelock *rl, struct cbf_range *r)
{
	pthread_mutex_lock(&rl->mutex);
	for (struct cbf_range **pp = &rl->held; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	r->next = NULL;
	cbf_rangelock_grant(rl);
	pthread_mutex_unlock(&rl->mutex);
}
