/* Data buffers of a worker, kept for reuse. A fresh 1 MiB allocation per
 * request costs a page fault per page (glibc hands large blocks out by
 * mmap, and zeroed pages come from the kernel), which capped sequential
 * reads at a fraction of the socket's speed. Freed buffers wait in a small
 * per-worker cache, bounded in count and bytes; only the worker's thread
 * touches it, so no lock. */
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

void nbd_pool_put(struct nbd_worker *w, void *buf, size_t cap)
{
	struct nbd_pool *p = &w->pool;

	if (!buf)
		return;
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
