/* Internals of the nbdkit filter (nbdkit-cryptblk-filter.so), shared by its
 * files. The filter is built apart from libcryptblk (it needs nbdkit's
 * headers) and links it statically. See docs/nbdkit-filter.md.
 *
 *   filter.c     nbdkit's callbacks: options, per-connection handles, I/O
 *   unlock.c     the LUKS header through the plugin below (next->pread),
 *                format-if-empty, unlock once, the one volume of the filter
 *   driver.c     the thread that owns the crypto engine and its loop;
 *                nbdkit's threads hand it jobs and sleep until they are done
 *   rangelock.c  blocking range locks ordering overlapping writes
 */
#ifndef CRYPTBLK_NBDKIT_CBF_H
#define CRYPTBLK_NBDKIT_CBF_H

#include <cryptblk/crypto.h>
#include <cryptblk/luks.h>
#include <cryptblk/rangeq.h>
#include <cryptblk/volume.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nbdkit-filter.h>

/* ---- the engine's driver thread (driver.c) ---- */

struct cbf_driver;

/* Open the engine named by `spec`, give it the key in slot 0 and start the
 * thread that drives it. Returns 0 or a negative errno. */
int cbf_driver_start(const char *spec, const struct luks_key *key, struct cbf_driver **out);
/* Stop the thread (no job may be in flight), close the engine (which wipes
 * its copy of the key). */
void cbf_driver_stop(struct cbf_driver *drv);

/* Encrypt or decrypt `len` bytes (whole sectors) from src into dst (may be
 * the same buffer) whose first sector sits at plaintext byte `offset` of the
 * volume. Cut into jobs that run in parallel on the engine; the calling
 * thread sleeps until the last is done. Returns 0 or the first job's error. */
int cbf_crypt(struct cbf_driver *drv, const struct volume_layout *layout, enum crypto_dir dir,
	      const uint8_t *src, uint8_t *dst, uint64_t len, uint64_t offset);

/* ---- range locks (rangelock.c) ---- */

struct cbf_range {
	struct rangeq_entry q; /* [start, end) in bytes */
	bool granted;
	pthread_cond_t *wake; /* the waiter's, while it waits */
};

struct cbf_rangelock {
	pthread_mutex_t mutex;
	struct rangeq q;
};

void cbf_rangelock_init(struct cbf_rangelock *rl);
/* Sleep until no held range and no earlier waiter overlaps [start, end)
 * (FIFO: a waiter is never overtaken by a later overlapping request). */
void cbf_range_lock(struct cbf_rangelock *rl, struct cbf_range *r, uint64_t start, uint64_t end);
void cbf_range_unlock(struct cbf_rangelock *rl, struct cbf_range *r);

/* ---- the volume under the filter (unlock.c) ---- */

struct cbf_config {
	char *key_file; /* absolute: nbdkit may chdir */
	uint8_t *pass;	/* secmem, pass_cap bytes */
	size_t pass_len, pass_cap;
	const char *crypto; /* engine spec; "openssl" by default */
	int format_version; /* 0: never format; 1 or 2 */
	struct luks_format_params format;
};

extern struct cbf_config cbf_cfg;

/* Read the header through `next`, format the export first when asked and it
 * holds no LUKS header at all, unlock (once per filter: later connections
 * that see the same header reuse the key) and start the engine. On success
 * *layout describes the data segment and *drv is the filter's driver.
 * Errors go to nbdkit_error() and return -1. */
int cbf_volume_prepare(nbdkit_next *next, bool readonly, struct volume_layout *layout,
		       struct cbf_driver **drv);
/* Stop the engine, wipe the key and the passphrase (filter unload). */
void cbf_volume_unload(void);

#endif
