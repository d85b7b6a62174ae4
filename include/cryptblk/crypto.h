/* The asynchronous crypto engine contract.
 *
 * An engine encrypts or decrypts jobs: runs of whole sectors with AES-XTS.
 * The contract is a pair: submit(job) hands a job over (and may refuse with
 * -EBUSY when full); complete() returns the jobs that have finished and never
 * blocks. An engine that finishes work on its own (worker threads, a device)
 * makes signal_fd() readable (eventfd semantics); an engine that finishes
 * inside submit returns -1 there and hands the jobs back from complete().
 *
 * Callers normally go through crypto_submit() and crypto_engine_attach():
 * those keep refused jobs in a backlog, drive complete() from the loop's
 * progress functions and call each job's done callback on the loop's thread.
 */
#ifndef CRYPTBLK_CRYPTO_H
#define CRYPTBLK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_SLOTS   2
#define CRYPTO_MAX_KEY_LEN 64 /* AES-256-XTS: two 256-bit keys */

enum crypto_dir {
	CRYPTO_ENCRYPT = 1,
	CRYPTO_DECRYPT = 0,
};

enum crypto_job_flags {
	/* IV counts in sector-size units (dm-crypt's iv_large_sectors), not in
	 * 512-byte units. LUKS volumes never set this. */
	CRYPTO_JOB_IV_LARGE_SECTORS = 1u << 0,
};

struct crypto_job;
typedef void (*crypto_done_fn)(struct crypto_job *job);

struct crypto_job {
	/* Filled by the submitter, not changed by the engine. */
	const uint8_t *src;
	uint8_t *dst;	      /* may equal src (in place) */
	uint64_t iv;	      /* plain64 IV of the first sector */
	uint32_t sector_size; /* 512, 1024, 2048 or 4096 */
	uint32_t nr_sectors;
	uint8_t key_slot;    /* 0 or 1 */
	uint8_t dir;	     /* enum crypto_dir */
	uint16_t flags;	     /* enum crypto_job_flags */
	crypto_done_fn done; /* called by crypto_engine_attach's progress */
	void *priv;	     /* the submitter's */

	/* Set by the engine before the job comes back from complete(). */
	int result; /* 0 or a negative errno */

	/* Owned by the engine (or the backlog) from submit to complete. */
	struct crypto_job *next;
};

/* The IV of sector `i` of the job: plain64 counts 512-byte units, so it steps
 * by sector_size / 512 per sector unless the job asks for large sectors. */
static inline uint64_t crypto_job_sector_iv(const struct crypto_job *job, uint32_t i)
{
	uint64_t step = (job->flags & CRYPTO_JOB_IV_LARGE_SECTORS) ? 1 : job->sector_size / 512;
	return job->iv + (uint64_t)i * step;
}

struct crypto_engine;
struct loop;

struct crypto_engine_ops {
	const char *name; /* "openssl", "threads", "virtio" */
	/* required: `args` is what followed "name:" in the spec, or NULL */
	int (*create)(const char *args, struct crypto_engine **out);
	/* required: no jobs may be in flight */
	void (*destroy)(struct crypto_engine *engine);
	/* required: key is the full XTS key (32 or 64 bytes); no job may be in
	 * flight on that slot. The engine copies what it needs. */
	int (*set_key)(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
		       size_t key_len);
	/* required: wipes the slot's key material */
	void (*clear_key)(struct crypto_engine *engine, unsigned slot);
	/* required: 0 accepted, -EBUSY full (try after the next complete()),
	 * other negative errno for a job that can never run (bad slot, size) */
	int (*submit)(struct crypto_engine *engine, struct crypto_job *job);
	/* required: finished jobs linked through ->next, or NULL; never blocks */
	struct crypto_job *(*complete)(struct crypto_engine *engine);
	/* optional: readable when complete() has something; NULL means -1 */
	int (*signal_fd)(struct crypto_engine *engine);
	/* optional: buffers the engine can work on in place (a DMA pool);
	 * NULL means ordinary aligned memory is as good */
	void *(*buf_alloc)(struct crypto_engine *engine, size_t len);
	void (*buf_free)(struct crypto_engine *engine, void *buf, size_t len);
};

/* Common head of every engine; engines embed it as their first member. */
struct crypto_engine {
	const struct crypto_engine_ops *ops;
	/* owned by crypto.c: jobs refused with -EBUSY, retried in order */
	struct crypto_job *backlog_head, *backlog_tail;
	unsigned inflight; /* submitted to ops->submit and not yet completed */
	struct loop *loop;
	struct loop_watch *watch;
};

/* Open an engine by spec: "openssl", "threads", "threads:N" (with
 * ",inline=BYTES": the largest job run on the submitting thread),
 * "virtio:PCI_ADDR" (docs/vfio.md). */
int crypto_engine_open(const char *spec, struct crypto_engine **out);
void crypto_engine_close(struct crypto_engine *engine);
int crypto_engine_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			  size_t key_len);
void crypto_engine_clear_key(struct crypto_engine *engine, unsigned slot);
const char *crypto_engine_name(const struct crypto_engine *engine);

/* Drive the engine from `loop`: watch its signal fd, run complete() after
 * every CQE batch, call each finished job's done(), retry the backlog. */
int crypto_engine_attach(struct crypto_engine *engine, struct loop *loop);
void crypto_engine_detach(struct crypto_engine *engine);

/* Submit through the backlog: never refuses for lack of room. Returns 0, or
 * a negative errno for a job that can never run (done() is not called then). */
int crypto_submit(struct crypto_engine *engine, struct crypto_job *job);

/* Engines without a signal fd (openssl) finish every job inside submit():
 * they can be driven without a loop, on the caller's thread. */
bool crypto_engine_is_inline(struct crypto_engine *engine);
/* On such an engine: runs `n` jobs (their done() is not called) and returns
 * 0 or the first job's error. No job stays in the engine afterwards. */
int crypto_engine_run_inline(struct crypto_engine *engine, struct crypto_job *jobs, unsigned n);

/* Jobs submitted (including the backlog) whose done() has not yet run. */
unsigned crypto_engine_pending(const struct crypto_engine *engine);

/* Buffers for job data: from the engine's pool when it has one, otherwise
 * 4096-aligned heap memory. */
void *crypto_buf_alloc(struct crypto_engine *engine, size_t len);
void crypto_buf_free(struct crypto_engine *engine, void *buf, size_t len);

#endif
