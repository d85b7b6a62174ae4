/* DMA memory: see dmapool.h. */
#include "crypto/virtio/dmapool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t pool_round(size_t len)
{
	return (len + DMA_POOL_PAGE - 1) / DMA_POOL_PAGE * DMA_POOL_PAGE;
}

int dma_pool_init(struct dma_pool *p, size_t fixed, size_t heap)
{
	size_t words;
	void *map;
	int err = 0;

	memset(p, 0, sizeof(*p));
	fixed = pool_round(fixed);
	heap = pool_round(heap);
	if (fixed + heap == 0 || heap / DMA_POOL_PAGE > UINT32_MAX)
		return -EINVAL;
	words = (heap / DMA_POOL_PAGE + 63) / 64;
	p->bitmap = calloc(words ? words : 1, sizeof(uint64_t));
	if (!p->bitmap)
		return -ENOMEM;
	map = mmap(NULL, fixed + heap, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		free(p->bitmap);
		p->bitmap = NULL;
		return err;
	}
	/* A child must not share pages the device writes into (fork would
	 * make them copy-on-write under the IOMMU's pin), and sector data
	 * and keys pass through here: keep them out of core dumps. */
	madvise(map, fixed + heap, MADV_DONTFORK);
	madvise(map, fixed + heap, MADV_DONTDUMP);
	p->base = map;
	p->size = fixed + heap;
	p->fixed = fixed;
	p->pages = (uint32_t)(heap / DMA_POOL_PAGE);
	return 0;
}

void dma_pool_fini(struct dma_pool *p)
{
	if (p->base)
		munmap(p->base, p->size);
	free(p->bitmap);
	memset(p, 0, sizeof(*p));
}

void *dma_pool_carve(struct dma_pool *p, size_t len, size_t align)
{
	size_t at;

	if (align == 0 || (align & (align - 1)) || align > DMA_POOL_PAGE)
		return NULL;
	at = (p->carved + align - 1) & ~(align - 1);
	if (at > p->fixed || len > p->fixed - at)
		return NULL;
	p->carved = at + len;
	return p->base + at;
}

static bool pool_bit(const struct dma_pool *p, uint32_t i)
{
	return (p->bitmap[i / 64] >> (i % 64)) & 1;
}

static void pool_bits_set(struct dma_pool *p, uint32_t first, uint32_t n, bool on)
{
	for (uint32_t i = first; i < first + n; i++) {
		if (on)
			p->bitmap[i / 64] |= 1ull << (i % 64);
		else
			p->bitmap[i / 64] &= ~(1ull << (i % 64));
	}
}

void *dma_pool_alloc(struct dma_pool *p, size_t len)
{
	uint32_t need, run = 0;

	if (len == 0 || len > (size_t)p->pages * DMA_POOL_PAGE)
		return NULL;
	need = (uint32_t)(pool_round(len) / DMA_POOL_PAGE);
	if (need > p->pages - p->pages_used)
		return NULL;
	for (uint32_t i = 0; i < p->pages; i++) {
		if (p->bitmap[i / 64] == UINT64_MAX && i % 64 == 0) {
			run = 0;
			i += 63;
			continue;
		}
		run = pool_bit(p, i) ? 0 : run + 1;
		if (run == need) {
			uint32_t first = i + 1 - need;

			pool_bits_set(p, first, need, true);
			p->pages_used += need;
			return p->base + p->fixed + (size_t)first * DMA_POOL_PAGE;
		}
	}
	return NULL;
}

void dma_pool_free(struct dma_pool *p, void *buf, size_t len)
{
	size_t off;
	uint32_t n;

	if (!buf || !dma_pool_in_heap(p, buf))
		return;
	off = (size_t)((uint8_t *)buf - p->base - p->fixed);
	n = (uint32_t)(pool_round(len) / DMA_POOL_PAGE);
	pool_bits_set(p, (uint32_t)(off / DMA_POOL_PAGE), n, false);
	p->pages_used -= n;
}

bool dma_pool_contains(const struct dma_pool *p, const void *buf, size_t len)
{
	uintptr_t b = (uintptr_t)p->base, x = (uintptr_t)buf;

	return p->base && x >= b && x - b <= p->size && len <= p->size - (x - b);
}

bool dma_pool_in_heap(const struct dma_pool *p, const void *buf)
{
	uintptr_t h = (uintptr_t)p->base + p->fixed, x = (uintptr_t)buf;

	return p->base && p->pages && x >= h && x - h < (size_t)p->pages * DMA_POOL_PAGE;
}

uint64_t dma_pool_iova(const struct dma_pool *p, const void *ptr)
{
	return p->iova + (uint64_t)((const uint8_t *)ptr - p->base);
}

void *dma_pool_ptr(const struct dma_pool *p, uint64_t iova, size_t len)
{
	uint64_t off;

	if (iova < p->iova)
		return NULL;
	off = iova - p->iova;
	if (off > p->size || len > p->size - off)
		return NULL;
	return p->base + off;
}
