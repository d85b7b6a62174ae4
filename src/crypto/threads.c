/* The "threads[:N]" engine: N worker threads doing AES-XTS.
 *
 * Each worker has its own EVP contexts (one per key slot and direction), a
 * submission ring fed by the submitting thread and a completion ring it
 * feeds back. Both rings are single-producer single-consumer and lock free.
 *
 *   submit():   job -> sq[sq_tail++] (release) -> wake the worker if it sleeps
 *   worker:     sq[head++] -> XTS -> cq[cq_tail++] (release); one write to
 *               the engine's eventfd per THREADS_SIGNAL_BYTES finished and
 *               whenever its ring runs dry
 *   complete(): cq[cq_head++] until cq_tail (acquire), for every worker
 *
 * Bound. The submitting thread counts, per worker, the jobs handed over and
 * not yet reaped from its completion ring (`outstanding`) and never lets it
 * pass THREADS_RING. Both rings hold THREADS_RING entries, and each ring can
 * only hold jobs counted in `outstanding`, so neither can overflow, and
 * neither side needs to read the other's consumer index:
 *  - a submission slot is rewritten only for job j + THREADS_RING, which is
 *    submitted after job j was reaped; the worker read sq[j] before it
 *    published j's completion (release on cq_tail), and complete() acquired
 *    that before the slot is reused;
 *  - a completion slot is rewritten only for completion k + THREADS_RING,
 *    of a job submitted after completion k was reaped; complete() read cq[k]
 *    before that submission's release on sq_tail, which the worker acquired.
 * The same release/acquire pairs carry the job's fields to the worker and
 * its result and output bytes back.
 *
 * Small jobs (up to THREADS_INLINE_MAX bytes) never reach a worker: submit()
 * runs them on the submitting thread with its own contexts and complete()
 * returns them with the workers' jobs, as the openssl engine does.
 *
 * Sleeping. A worker with an empty ring sets `sleeping`, issues a seq_cst
 * fence and looks at sq_tail once more before it waits on the futex; submit
 * publishes sq_tail, issues a seq_cst fence and then reads `sleeping`. With
 * the two fences at least one side sees the other's store (Dekker): either
 * the worker finds the job, or submit sees `sleeping` and wakes it. The
 * waker clears `sleeping` before FUTEX_WAKE, so a worker that is just about
 * to wait finds the word changed and does not sleep, and later submits pay
 * nothing until the worker sleeps again. Workers never spin.
 */
#include "crypto/engines.h"
#include "crypto/xts.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS_MAX  64
#define THREADS_RING 64 /* jobs per worker between submit and reap */
#define CACHE_LINE   64
/* A busy worker wakes the loop once per this many bytes finished. */
#define THREADS_SIGNAL_BYTES (2 * 1024 * 1024)
/* Jobs up to this size run on the submitting thread: handing a 4 KiB job
 * to a worker (ring, futex wake, eventfd back, a cold cache on the other
 * core) cost several times the 1-2 us of AES it moved (perf: 11.98 against
 * 3.52 CPU s/GiB for random 4 KiB reads at QD 1). */
#define THREADS_INLINE_MAX (64 * 1024)
/* The largest ",inline=" accepted: no volume makes a larger job. */
#define THREADS_INLINE_LIMIT (1024 * 1024)

_Static_assert((THREADS_RING & (THREADS_RING - 1)) == 0, "ring size is a power of two");

struct worker {
	/* Written by the submitting thread, read by the worker. */
	alignas(CACHE_LINE) _Atomic uint32_t sq_tail;
	struct crypto_job *sq[THREADS_RING];

	/* The futex word; set by the worker, cleared by whoever wakes it. */
	alignas(CACHE_LINE) _Atomic uint32_t sleeping;
	_Atomic bool stop;

	/* Written by the worker, read by the submitting thread. */
	alignas(CACHE_LINE) _Atomic uint32_t cq_tail;
	struct crypto_job *cq[THREADS_RING];

	/* The submitting thread's own. */
	alignas(CACHE_LINE) uint32_t cq_head;
	uint32_t outstanding;

	/* The worker's own, except set_key (no job in flight on that slot). */
	alignas(CACHE_LINE) struct xts_keys keys;
	uint32_t sq_head;
	size_t unsignaled; /* bytes completed since the last eventfd write */
	int efd;
	unsigned index;
	pthread_t thread;
	bool started;
};

struct threads_engine {
	struct crypto_engine base; /* first: engine.c casts */
	unsigned nr_workers;
	unsigned next; /* round robin */
	int efd;
	struct worker *workers[THREADS_MAX];
	/* The submitting thread's own contexts for small jobs, and the jobs
	 * it finished inside submit() until complete() hands them back. */
	size_t inline_max;
	struct xts_keys inline_keys;
	struct xts_done inline_done;
};

static struct threads_engine *threads_of(struct crypto_engine *engine)
{
	return (struct threads_engine *)engine;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	/* Returns at once if *word != expected; EINTR and spurious wake-ups
	 * are fine, the caller looks again. */
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Wakes the loop, if there is anything it has not been told about. */
static void worker_signal(struct worker *w)
{
	uint64_t one = 1;

	if (w->unsignaled == 0)
		return;
	w->unsignaled = 0;
	/* Fails only with EAGAIN when the counter is near 2^64 - the loop
	 * reads it long before - so the result is not needed. */
	while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Runs every job visible in the ring; returns how many. Completions are
 * published one by one (a loop that looks early finds them), but the loop
 * is woken only every THREADS_SIGNAL_BYTES while more work is queued, and
 * whenever the ring runs dry: each wake-up of the loop's thread takes a CPU
 * away from a worker, so a busy worker reports in batches, an idle one at
 * once. */
static unsigned worker_run_batch(struct worker *w)
{
	uint32_t tail = atomic_load_explicit(&w->sq_tail, memory_order_acquire);
	uint32_t done = atomic_load_explicit(&w->cq_tail, memory_order_relaxed);
	unsigned n = 0;

	while (w->sq_head != tail) {
		struct crypto_job *job = w->sq[w->sq_head % THREADS_RING];

		w->sq_head++;
		job->result = xts_job_run(&w->keys, job);
		w->unsignaled += (size_t)job->nr_sectors * job->sector_size;
		w->cq[done % THREADS_RING] = job;
		done++;
		atomic_store_explicit(&w->cq_tail, done, memory_order_release);
		n++;
		if (w->unsignaled >= THREADS_SIGNAL_BYTES)
			worker_signal(w);
	}
	if (atomic_load_explicit(&w->sq_tail, memory_order_relaxed) == w->sq_head)
		worker_signal(w);
	return n;
}

/* Sleeps unless a job or the stop request arrived; see the file comment. */
static void worker_sleep(struct worker *w)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sq_tail, memory_order_relaxed) == w->sq_head &&
	    !atomic_load_explicit(&w->stop, memory_order_seq_cst))
		futex_wait(&w->sleeping, 1);
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "cryptblk-xts%u", w->index);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		if (worker_run_batch(w) > 0)
			continue;
		if (atomic_load_explicit(&w->stop, memory_order_seq_cst))
			break;
		worker_sleep(w);
	}
	return NULL;
}

static void worker_wake(struct worker *w)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&w->sleeping, 0, memory_order_seq_cst))
		futex_wake(&w->sleeping);
}

static void worker_stop(struct worker *w)
{
	atomic_store_explicit(&w->stop, true, memory_order_seq_cst);
	atomic_store_explicit(&w->sleeping, 0, memory_order_seq_cst);
	futex_wake(&w->sleeping);
	pthread_join(w->thread, NULL);
	w->started = false;
}

static void threads_destroy(struct crypto_engine *engine)
{
	struct threads_engine *te = threads_of(engine);

	for (unsigned i = 0; i < te->nr_workers; i++) {
		struct worker *w = te->workers[i];

		if (!w)
			continue;
		if (w->started)
			worker_stop(w);
		xts_keys_clear_all(&w->keys);
		free(w);
	}
	xts_keys_clear_all(&te->inline_keys);
	if (te->efd >= 0)
		close(te->efd);
	free(te);
}

static int threads_parse_count(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(text, &end, 10);
	if (errno || *end != '\0' || *out > max)
		return -EINVAL;
	return 0;
}

/* "threads" means one worker per online CPU; "threads:N" N of them;
 * ",inline=BYTES" after N sets the largest job run on the submitting
 * thread (0: every job goes to a worker). */
static int threads_parse(const char *args, unsigned *workers, size_t *inline_max)
{
	char count[16];
	const char *comma;
	unsigned long n, bytes = THREADS_INLINE_MAX;
	int err;

	*inline_max = THREADS_INLINE_MAX;
	if (!args) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		*workers = cpus < 1 ? 1 : cpus > THREADS_MAX ? THREADS_MAX : (unsigned)cpus;
		return 0;
	}
	comma = strchr(args, ',');
	if (comma) {
		if (strncmp(comma, ",inline=", 8) != 0)
			return -EINVAL;
		err = threads_parse_count(comma + 8, THREADS_INLINE_LIMIT, &bytes);
		if (err)
			return err;
	}
	if ((comma ? (size_t)(comma - args) : strlen(args)) >= sizeof(count))
		return -EINVAL;
	snprintf(count, sizeof(count), "%.*s", comma ? (int)(comma - args) : (int)strlen(args),
		 args);
	err = threads_parse_count(count, THREADS_MAX, &n);
	if (err || n < 1)
		return -EINVAL;
	*workers = (unsigned)n;
	*inline_max = bytes;
	return 0;
}

static int threads_start(struct threads_engine *te)
{
	sigset_t all, old;
	int err = 0;

	/* Workers inherit a mask that blocks every signal: signals belong to
	 * the thread that runs the loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < te->nr_workers; i++) {
		struct worker *w = te->workers[i];

		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err)
			break;
		w->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

static int threads_create(const char *args, struct crypto_engine **out)
{
	struct threads_engine *te = NULL;
	unsigned n;
	size_t inline_max;
	int err = threads_parse(args, &n, &inline_max);

	if (err)
		goto out;
	te = calloc(1, sizeof(*te));
	if (!te) {
		err = -ENOMEM;
		goto out;
	}
	te->nr_workers = n;
	te->inline_max = inline_max;
	te->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (te->efd < 0) {
		err = -errno;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = aligned_alloc(CACHE_LINE, sizeof(*w));

		if (!w) {
			err = -ENOMEM;
			goto out;
		}
		memset(w, 0, sizeof(*w));
		w->efd = te->efd;
		w->index = i;
		te->workers[i] = w;
	}
	err = threads_start(te);
out:
	if (err && te)
		threads_destroy(&te->base);
	else if (!err)
		*out = &te->base;
	return err;
}

static int threads_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			   size_t key_len)
{
	struct threads_engine *te = threads_of(engine);
	int err = 0;

	if (slot >= CRYPTO_KEY_SLOTS)
		return -EINVAL;
	/* No job is in flight on this slot (contract), so no worker touches
	 * these contexts; the next submit's release on sq_tail publishes them. */
	err = xts_keys_set(&te->inline_keys, slot, key, key_len);
	for (unsigned i = 0; i < te->nr_workers && !err; i++)
		err = xts_keys_set(&te->workers[i]->keys, slot, key, key_len);
	if (err) {
		xts_keys_clear(&te->inline_keys, slot);
		for (unsigned i = 0; i < te->nr_workers; i++)
			xts_keys_clear(&te->workers[i]->keys, slot);
	}
	return err;
}

static void threads_clear_key(struct crypto_engine *engine, unsigned slot)
{
	struct threads_engine *te = threads_of(engine);

	if (slot >= CRYPTO_KEY_SLOTS)
		return;
	xts_keys_clear(&te->inline_keys, slot);
	for (unsigned i = 0; i < te->nr_workers; i++)
		xts_keys_clear(&te->workers[i]->keys, slot);
}

static void worker_push(struct worker *w, struct crypto_job *job)
{
	uint32_t tail = atomic_load_explicit(&w->sq_tail, memory_order_relaxed);

	w->sq[tail % THREADS_RING] = job;
	atomic_store_explicit(&w->sq_tail, tail + 1, memory_order_release);
	w->outstanding++;
	worker_wake(w);
}

static int threads_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	struct threads_engine *te = threads_of(engine);
	int err = crypto_job_check(job);

	if (err)
		return err;
	/* inline_keys is keyed and cleared with the workers' keys. */
	if (!xts_keys_ready(&te->inline_keys, job->key_slot))
		return -ENOKEY;
	if ((size_t)job->nr_sectors * job->sector_size <= te->inline_max) {
		xts_job_run_to(&te->inline_keys, job, &te->inline_done);
		return 0;
	}
	for (unsigned k = 0; k < te->nr_workers; k++) {
		unsigned i = (te->next + k) % te->nr_workers;
		struct worker *w = te->workers[i];

		if (w->outstanding < THREADS_RING) {
			te->next = (i + 1) % te->nr_workers;
			worker_push(w, job);
			return 0;
		}
	}
	return -EBUSY;
}

static struct crypto_job *threads_complete(struct crypto_engine *engine)
{
	struct threads_engine *te = threads_of(engine);
	struct crypto_job *inline_tail = te->inline_done.tail;
	struct crypto_job *head = xts_done_take(&te->inline_done), **tailp = &head;

	if (inline_tail)
		tailp = &inline_tail->next;
	for (unsigned i = 0; i < te->nr_workers; i++) {
		struct worker *w = te->workers[i];
		uint32_t tail = atomic_load_explicit(&w->cq_tail, memory_order_acquire);

		while (w->cq_head != tail) {
			struct crypto_job *job = w->cq[w->cq_head % THREADS_RING];

			w->cq_head++;
			w->outstanding--;
			*tailp = job;
			tailp = &job->next;
		}
	}
	*tailp = NULL;
	return head;
}

static int threads_signal_fd(struct crypto_engine *engine)
{
	return threads_of(engine)->efd;
}

const struct crypto_engine_ops crypto_threads_ops = {
    .name = "threads",
    .create = threads_create,
    .destroy = threads_destroy,
    .set_key = threads_set_key,
    .clear_key = threads_clear_key,
    .submit = threads_submit,
    .complete = threads_complete,
    .signal_fd = threads_signal_fd,
};
