/* Data buffers of a worker, kept for reuse. A fresh 1 MiB allocation per
 * request costs a page fault per page (glibc hands large blocks out by
 * mmap, and zeroed pages come from the kernel), which capped sequential
 * reads at a fraction of the socket's speed. Freed buffers wait in a small
 * per-worker cache, bounded in count and bytes, where a larger buffer
 * evicts smaller ones; only the worker's thread touches it, so no lock. */
#include "nbd_int.h"

#include <stdlib.h>

static size_t nbd_pool_round(size_t len)
{
	size_t unit = len >= 65536 ? 65536 : 4096;

	return (len + unit - 1) / unit * unit;
}

void *nbd_pool_get(struct nbd_worker *w, size_t len, size_t *cap)
{
	struct nbd_pool *p = &w->pool;
	unsigned best = p->nr;
	void *buf = NULL;

	/* The smallest cached buffer that fits without wasting more than a
	 * quarter of itself. */
	for (unsigned i = 0; i < p->nr; i++) {
		size_t c = p->cap[i];

		if (c >= len && c - len <= c / 4 + 4096 && (best == p->nr || c < p->cap[best]))
			best = i;
	}
	if (best < p->nr) {
		buf = p->buf[best];
		*cap = p->cap[best];
		p->bytes -= *cap;
		p->nr--;
		p->buf[best] = p->buf[p->nr];
		p->cap[best] = p->cap[p->nr];
		return buf;
	}
	*cap = nbd_pool_round(len ? len : 1);
	if (posix_memalign(&buf, 4096, *cap))
		return NULL;
	return buf;
}

static unsigned nbd_pool_smallest(const struct nbd_pool *p)
{
	unsigned min = 0;

	for (unsigned i = 1; i < p->nr; i++)
		if (p->cap[i] < p->cap[min])
			min = i;
	return min;
}

static void nbd_pool_evict(struct nbd_pool *p, unsigned i)
{
	free(p->buf[i]);
	p->bytes -= p->cap[i];
	p->nr--;
	p->buf[i] = p->buf[p->nr];
	p->cap[i] = p->cap[p->nr];
}

void nbd_pool_put(struct nbd_worker *w, void *buf, size_t cap)
{
	struct nbd_pool *p = &w->pool;

	if (!buf)
		return;
	/* A full cache gives up its smallest buffers for a larger one: after
	 * small-block work it would otherwise hold only small buffers, and
	 * every large request would map fresh memory again. */
	while (p->nr && (p->nr >= NBD_POOL_MAX_BUFS || p->bytes + cap > NBD_POOL_MAX_BYTES)) {
		unsigned min = nbd_pool_smallest(p);

		if (p->cap[min] >= cap)
			break;
		nbd_pool_evict(p, min);
	}
	if (p->nr < NBD_POOL_MAX_BUFS && p->bytes + cap <= NBD_POOL_MAX_BYTES) {
		p->buf[p->nr] = buf;
		p->cap[p->nr] = cap;
		p->nr++;
		p->bytes += cap;
		return;
	}
	free(buf);
}

void nbd_pool_destroy(struct nbd_worker *w)
{
	struct nbd_pool *p = &w->pool;

	for (unsigned i = 0; i < p->nr; i++)
		free(p->buf[i]);
	p->nr = 0;
	p->bytes = 0;
}
