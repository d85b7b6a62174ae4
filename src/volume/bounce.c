/* Bounce buffers of write and zero chunks, kept for reuse per volume.
 *
 * A chunk's ciphertext buffer used to be allocated and freed per chunk. At
 * 128 KiB chunks (glibc's mmap threshold) every allocation was a
 * fresh mmap whose pages the AES stores faulted in and zeroed, and every
 * free an munmap: on sequential writes that was half of the server's CPU.
 * Buffers now come from power-of-two size classes (4 KiB to
 * VOLUME_CHUNK_MAX) and go back to a free list of their class, bounded in
 * bytes; only the volume's loop thread touches it, so no lock. */
#include "volume_priv.h"

#include <stdint.h>

struct volume_bounce_free {
	struct volume_bounce_free *next;
};

_Static_assert(VOLUME_CHUNK_MAX == VOLUME_BOUNCE_MIN << (VOLUME_BOUNCE_CLASSES - 1),
	       "the largest class holds a whole chunk");

static unsigned volume_bounce_class(uint32_t len)
{
	unsigned cls = 0;

	while ((VOLUME_BOUNCE_MIN << cls) < len)
		cls++;
	return cls;
}

static void volume_bounce_drop(struct volume *vol)
{
	for (unsigned cls = 0; cls < VOLUME_BOUNCE_CLASSES; cls++) {
		size_t size = (size_t)VOLUME_BOUNCE_MIN << cls;

		while (vol->bounce_free[cls]) {
			struct volume_bounce_free *f = vol->bounce_free[cls];

			vol->bounce_free[cls] = f->next;
			crypto_buf_free(vol->engine, f, size);
		}
	}
	vol->bounce_cached = 0;
}

uint8_t *volume_bounce_get(struct volume *vol, uint32_t len)
{
	unsigned cls = volume_bounce_class(len);
	size_t size = (size_t)VOLUME_BOUNCE_MIN << cls;
	struct volume_bounce_free *f = vol->bounce_free[cls];
	uint8_t *buf;

	if (f) {
		vol->bounce_free[cls] = f->next;
		vol->bounce_cached -= size;
		return (uint8_t *)f;
	}
	buf = crypto_buf_alloc(vol->engine, size);
	if (!buf && vol->bounce_cached) {
		/* An engine with a fixed DMA pool may be short because other
		 * classes hold its memory: give it all back and try again. */
		volume_bounce_drop(vol);
		buf = crypto_buf_alloc(vol->engine, size);
	}
	return buf;
}

void volume_bounce_put(struct volume *vol, uint8_t *buf, uint32_t len)
{
	unsigned cls = volume_bounce_class(len);
	size_t size = (size_t)VOLUME_BOUNCE_MIN << cls;
	struct volume_bounce_free *f = (struct volume_bounce_free *)(void *)buf;

	if (vol->bounce_cached + size > VOLUME_BOUNCE_CACHE_BYTES) {
		crypto_buf_free(vol->engine, buf, size);
		return;
	}
	f->next = vol->bounce_free[cls];
	vol->bounce_free[cls] = f;
	vol->bounce_cached += size;
}

void volume_bounce_fini(struct volume *vol)
{
	volume_bounce_drop(vol);
}
