/* The memory a device may read and write: one anonymous mapping at a known
 * I/O virtual address (IOVA).
 *
 * The front `fixed` bytes are carved once, in order, for things that live as
 * long as the pool (rings, request headers, bounce sectors). Behind them,
 * `heap` bytes are handed out and taken back in 4096-byte pages (first fit
 * over a bitmap) for buffers the engine's users allocate. Entering the
 * mapping into an IOMMU is the caller's job (vfio.c); the pool only knows
 * the IOVA it was given. Not thread safe: one engine, one thread.
 */
#ifndef CRYPTBLK_CRYPTO_VIRTIO_DMAPOOL_H
#define CRYPTBLK_CRYPTO_VIRTIO_DMAPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMA_POOL_PAGE 4096u

struct dma_pool {
	uint8_t *base;
	size_t size;	/* fixed + heap, page rounded */
	uint64_t iova;	/* IOVA of base */
	size_t fixed;	/* bytes reserved for dma_pool_carve */
	size_t carved;	/* of those, handed out */
	uint32_t pages; /* heap pages */
	uint32_t pages_used;
	uint64_t *bitmap; /* one bit per heap page, set = in use */
};

/* Maps fixed + heap bytes (each rounded up to pages), zeroed, populated,
 * kept out of core dumps and children. Returns 0 or a negative errno. */
int dma_pool_init(struct dma_pool *p, size_t fixed, size_t heap);
void dma_pool_fini(struct dma_pool *p);

/* The next `len` bytes of the fixed part, aligned to `align` (a power of
 * two, at most a page); NULL when the fixed part is used up. */
void *dma_pool_carve(struct dma_pool *p, size_t len, size_t align);

/* Heap pages for `len` bytes (rounded up), or NULL when none are free. */
void *dma_pool_alloc(struct dma_pool *p, size_t len);
/* `buf` and `len` as allocated. */
void dma_pool_free(struct dma_pool *p, void *buf, size_t len);

/* Whether [buf, buf + len) lies inside the pool (fixed or heap). */
bool dma_pool_contains(const struct dma_pool *p, const void *buf, size_t len);
/* Whether buf lies in the heap part (so dma_pool_alloc may have returned
 * it), as opposed to the fixed part or outside the pool. */
bool dma_pool_in_heap(const struct dma_pool *p, const void *buf);

/* Address of a byte of the pool as the device sees it. */
uint64_t dma_pool_iova(const struct dma_pool *p, const void *ptr);
/* The other way (for a device model): NULL unless [iova, iova + len) lies
 * inside the pool. */
void *dma_pool_ptr(const struct dma_pool *p, uint64_t iova, size_t len);

#endif
