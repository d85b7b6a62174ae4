/* Range locks ordering overlapping write-type requests across all threads of
 * a server: a request waits while its sector range overlaps a held range or
 * an earlier waiter (FIFO, so nobody starves). Grants are handed to the
 * owning worker's thread, which moves the waiting request on. */
#include "nbd_int.h"

#include <errno.h>

int nbd_rangelock_init(struct nbd_rangelock *rl)
{
	rl->held = NULL;
	rl->wait_head = rl->wait_tail = NULL;
	return -pthread_mutex_init(&rl->mutex, NULL);
}

void nbd_rangelock_destroy(struct nbd_rangelock *rl)
{
	pthread_mutex_destroy(&rl->mutex);
}

static bool nbd_range_overlaps(const struct nbd_range *a, const struct nbd_range *b)
{
	return a->start < b->end && b->start < a->end;
}

/* Does `r` overlap any range of `list` before `stop`? */
static bool nbd_range_overlaps_list(const struct nbd_range *r, const struct nbd_range *list,
				    const struct nbd_range *stop)
{
	for (const struct nbd_range *x = list; x && x != stop; x = x->next)
		if (nbd_range_overlaps(r, x))
			return true;
	return false;
}

bool nbd_range_acquire(struct nbd_rangelock *rl, struct nbd_range *r)
{
	bool held;

	pthread_mutex_lock(&rl->mutex);
	held = !nbd_range_overlaps_list(r, rl->held, NULL) &&
	       !nbd_range_overlaps_list(r, rl->wait_head, NULL);
	r->next = NULL;
	r->grant_next = NULL;
	if (held) {
		r->next = rl->held;
		rl->held = r;
	} else {
		if (rl->wait_tail)
			rl->wait_tail->next = r;
		else
			rl->wait_head = r;
		rl->wait_tail = r;
	}
	pthread_mutex_unlock(&rl->mutex);
	return held;
}

static void nbd_range_unlink_held(struct nbd_rangelock *rl, struct nbd_range *r)
{
	for (struct nbd_range **pp = &rl->held; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			r->next = NULL;
			return;
		}
	}
}

/* Under the mutex: move waiters that overlap neither a held range nor an
 * earlier waiter to the held list and onto their owner's grant list. */
static void nbd_rangelock_grant(struct nbd_rangelock *rl)
{
	struct nbd_range **pp = &rl->wait_head, *prev = NULL;

	while (*pp) {
		struct nbd_range *r = *pp;
		struct nbd_worker *w = r->owner;

		if (nbd_range_overlaps_list(r, rl->held, NULL) ||
		    nbd_range_overlaps_list(r, rl->wait_head, r)) {
			prev = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		if (rl->wait_tail == r)
			rl->wait_tail = prev;
		r->next = rl->held;
		rl->held = r;
		r->grant_next = NULL;
		if (w->grants_tail)
			w->grants_tail->grant_next = r;
		else
			w->grants = r;
		w->grants_tail = r;
		atomic_store(&w->has_grants, true);
	}
}

void nbd_range_release(struct nbd_rangelock *rl, struct nbd_range *r)
{
	struct nbd_worker *woken[8];
	unsigned nr_woken = 0;
	bool overflow = false;

	pthread_mutex_lock(&rl->mutex);
	nbd_range_unlink_held(rl, r);
	nbd_rangelock_grant(rl);
	/* Collect the workers to wake while their grant lists are stable. */
	for (struct nbd_range *x = rl->held; x; x = x->next) {
		struct nbd_worker *w = x->owner;
		bool seen = false;

		if (!atomic_load(&w->has_grants))
			continue;
		for (unsigned i = 0; i < nr_woken; i++)
			seen |= woken[i] == w;
		if (seen)
			continue;
		if (nr_woken == sizeof(woken) / sizeof(woken[0]))
			overflow = true;
		else
			woken[nr_woken++] = w;
	}
	pthread_mutex_unlock(&rl->mutex);
	for (unsigned i = 0; i < nr_woken; i++)
		nbd_worker_wake(woken[i]);
	if (overflow) {
		/* More distinct owners than the array holds: wake everyone. */
		struct nbd_server *srv = r->owner->srv;

		for (unsigned i = 0; i < srv->nworkers; i++)
			nbd_worker_wake(&srv->workers[i]);
	}
}

unsigned nbd_worker_run_grants(struct nbd_worker *w)
{
	struct nbd_rangelock *rl = &w->srv->locks;
	struct nbd_range *list;
	unsigned n = 0;

	if (!atomic_load(&w->has_grants))
		return 0;
	pthread_mutex_lock(&rl->mutex);
	list = w->grants;
	w->grants = w->grants_tail = NULL;
	atomic_store(&w->has_grants, false);
	pthread_mutex_unlock(&rl->mutex);
	while (list) {
		struct nbd_range *r = list;

		list = r->grant_next;
		r->grant_next = NULL;
		r->granted(r);
		n++;
	}
	return n;
}
