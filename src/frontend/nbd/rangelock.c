/* Range locks ordering overlapping write-type requests across all threads of
 * a server: the FIFO rule of include/cryptblk/rangeq.h under one mutex.
 * Grants are handed to the owning worker's thread, which moves the waiting
 * request on. */
#include "nbd_int.h"

#include <errno.h>
#include <stddef.h>

int nbd_rangelock_init(struct nbd_rangelock *rl)
{
	rangeq_init(&rl->q);
	return -pthread_mutex_init(&rl->mutex, NULL);
}

void nbd_rangelock_destroy(struct nbd_rangelock *rl)
{
	pthread_mutex_destroy(&rl->mutex);
}

bool nbd_range_acquire(struct nbd_rangelock *rl, struct nbd_range *r)
{
	bool held;

	pthread_mutex_lock(&rl->mutex);
	held = rangeq_enter(&rl->q, &r->q);
	pthread_mutex_unlock(&rl->mutex);
	return held;
}

/* The workers whose grant lists a release filled, to wake after it. */
struct nbd_range_woken {
	struct nbd_worker *w[8];
	unsigned nr;
	bool overflow;
};

/* Under the mutex: put a granted range on its owner's grant list. */
static void nbd_range_granted(struct rangeq_entry *e, void *ctx)
{
	struct nbd_range *r = (struct nbd_range *)((char *)e - offsetof(struct nbd_range, q));
	struct nbd_range_woken *woken = ctx;
	struct nbd_worker *w = r->owner;
	bool seen = false;

	r->grant_next = NULL;
	if (w->grants_tail)
		w->grants_tail->grant_next = r;
	else
		w->grants = r;
	w->grants_tail = r;
	atomic_store(&w->has_grants, true);
	for (unsigned i = 0; i < woken->nr; i++)
		seen |= woken->w[i] == w;
	if (seen)
		return;
	if (woken->nr == sizeof(woken->w) / sizeof(woken->w[0]))
		woken->overflow = true;
	else
		woken->w[woken->nr++] = w;
}

void nbd_range_release(struct nbd_rangelock *rl, struct nbd_range *r)
{
	struct nbd_range_woken woken = {.nr = 0};

	pthread_mutex_lock(&rl->mutex);
	rangeq_leave(&rl->q, &r->q, nbd_range_granted, &woken);
	pthread_mutex_unlock(&rl->mutex);
	for (unsigned i = 0; i < woken.nr; i++)
		nbd_worker_wake(woken.w[i]);
	if (woken.overflow) {
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
