/* Range locks for the filter's write-type requests, shared by every nbdkit
 * thread: the FIFO rule of include/cryptblk/rangeq.h, as in the NBD server,
 * but a waiter here is a thread that may sleep, so a grant signals its
 * condition variable. Ranges that do not overlap never wait. */
#include "cbf.h"

#include <stddef.h>

void cbf_rangelock_init(struct cbf_rangelock *rl)
{
	pthread_mutex_init(&rl->mutex, NULL);
	rangeq_init(&rl->q);
}

void cbf_range_lock(struct cbf_rangelock *rl, struct cbf_range *r, uint64_t start, uint64_t end)
{
	pthread_cond_t wake;

	r->q.start = start;
	r->q.end = end;
	r->granted = false;
	pthread_mutex_lock(&rl->mutex);
	if (rangeq_enter(&rl->q, &r->q)) {
		pthread_mutex_unlock(&rl->mutex);
		return;
	}
	pthread_cond_init(&wake, NULL);
	r->wake = &wake;
	while (!r->granted)
		pthread_cond_wait(&wake, &rl->mutex);
	r->wake = NULL;
	pthread_mutex_unlock(&rl->mutex);
	pthread_cond_destroy(&wake);
}

/* Under the mutex: the waiter holds its range now. */
static void cbf_range_granted(struct rangeq_entry *e, void *ctx)
{
	struct cbf_range *r = (struct cbf_range *)((char *)e - offsetof(struct cbf_range, q));

	(void)ctx;
	r->granted = true;
	pthread_cond_signal(r->wake);
}

void cbf_range_unlock(struct cbf_rangelock *rl, struct cbf_range *r)
{
	pthread_mutex_lock(&rl->mutex);
	rangeq_leave(&rl->q, &r->q, cbf_range_granted, NULL);
	pthread_mutex_unlock(&rl->mutex);
}
