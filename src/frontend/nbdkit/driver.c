/* The engine's driver: one thread of the filter runs a cryptblk loop that
 * owns the crypto engine, exactly as a serving thread of `cryptblk serve`
 * does (crypto_engine_attach: the engine's eventfd is watched, complete()
 * runs after every CQE batch, refused jobs wait in the backlog).
 *
 * nbdkit's threads never touch the engine. cbf_crypt() cuts the request
 * into jobs, appends them to the hand-off queue under the driver's mutex,
 * writes the driver's eventfd when the queue was empty (a non-empty queue
 * already has a wake-up pending, since the driver takes the whole queue
 * each time it is woken), and sleeps on a condition variable of its own.
 * Each job's done() runs on the driver thread; the last one of a batch
 * signals that condition variable. Nobody spins: the driver sleeps in
 * io_uring, the requesters in pthread_cond_wait.
 *
 * With threads:N the crypto runs on the engine's N workers, which serve
 * every nbdkit thread at once.
 *
 * An engine that finishes every job inside submit() (openssl: no signal
 * fd) would do all the crypto on the driver thread, one core for every
 * connection, and each request would pay two thread wake-ups for nothing.
 * Such engines are driven inline instead: the driver keeps a pool of
 * engine instances with the key set, a request takes one (opening a new one
 * when all are busy, so there are at most as many as requests at once),
 * submits its jobs, collects them with complete() on its own thread and
 * puts the engine back. No thread, no loop, no waiting. */
#include "cbf.h"

#include <cryptblk/loop.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* A job's size: large enough that the hand-off costs little against the
 * crypto, small enough that a 1 MiB request keeps several workers busy. */
#define CBF_JOB_BYTES  (64u * 1024)
#define CBF_BATCH_JOBS 64u /* jobs per wait: 4 MiB of 64 KiB jobs */

struct cbf_driver {
	pthread_mutex_t mutex;		/* the queue and every batch's count */
	struct crypto_job *head, *tail; /* handed over, not yet submitted */
	int wake_fd;			/* eventfd: the queue became non-empty */
	atomic_bool stopping;
	struct crypto_engine *engine;
	pthread_t thread;

	/* startup hand-shake: the loop is created on the driver thread
	 * (its io_uring is single-issuer) */
	pthread_cond_t started_cond;
	bool started;
	int start_err;

	/* inline engines (no signal fd): a pool of instances, no thread */
	bool inline_engines;
	char *spec;
	struct luks_key *key;  /* secmem copy, to key new instances */
	struct cbf_idle *idle; /* under mutex */
};

/* An inline engine instance waiting in the pool. */
struct cbf_idle {
	struct crypto_engine *engine;
	struct cbf_idle *next;
};

/* One wait: the jobs of one cbf_crypt() slice. */
struct cbf_batch {
	struct cbf_driver *drv;
	pthread_cond_t done_cond;
	unsigned left; /* under drv->mutex */
	int error;     /* first job error, under drv->mutex */
};

static void cbf_job_done(struct crypto_job *job)
{
	struct cbf_batch *b = job->priv;
	struct cbf_driver *drv = b->drv;

	pthread_mutex_lock(&drv->mutex);
	if (job->result && !b->error)
		b->error = job->result;
	/* Signalled under the mutex: the waiter cannot return (and free the
	 * batch on its stack) before we let go of it. */
	if (--b->left == 0)
		pthread_cond_signal(&b->done_cond);
	pthread_mutex_unlock(&drv->mutex);
}

/* On the driver thread: the queue has jobs (or we are asked to stop). */
static void cbf_driver_wake(void *ctx)
{
	struct cbf_driver *drv = ctx;
	struct crypto_job *job;

	pthread_mutex_lock(&drv->mutex);
	job = drv->head;
	drv->head = drv->tail = NULL;
	pthread_mutex_unlock(&drv->mutex);
	while (job) {
		struct crypto_job *next = job->next;
		int err;

		job->next = NULL;
		err = crypto_submit(drv->engine, job);
		if (err) {
			/* A job that can never run: done() is ours to call. */
			job->result = err;
			cbf_job_done(job);
		}
		job = next;
	}
}

static void cbf_driver_started(struct cbf_driver *drv, int err)
{
	pthread_mutex_lock(&drv->mutex);
	drv->start_err = err;
	drv->started = true;
	pthread_cond_signal(&drv->started_cond);
	pthread_mutex_unlock(&drv->mutex);
}

static void *cbf_driver_main(void *arg)
{
	struct cbf_driver *drv = arg;
	struct loop_watch *watch = NULL;
	struct loop *loop = NULL;
	int err = loop_create(256, &loop);

	if (!err)
		err = crypto_engine_attach(drv->engine, loop);
	if (!err)
		err = loop_watch_eventfd(loop, drv->wake_fd, cbf_driver_wake, drv, &watch);
	cbf_driver_started(drv, err);
	if (err)
		goto out;
	while (!atomic_load(&drv->stopping)) {
		int ret = loop_run_once(loop, true);

		/* Jobs in flight cannot be abandoned (their buffers are lent
		 * to the engine and nbdkit threads wait for them): report and
		 * try again, without spinning. */
		if (ret < 0 && ret != -EINTR) {
			nbdkit_error("cryptblk: engine thread: io_uring: %s", strerror(-ret));
			nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
		}
	}
out:
	/* Let the cancelled polls finish before the ring goes. */
	if (loop) {
		crypto_engine_detach(drv->engine);
		if (watch)
			loop_watch_remove(watch);
		while (loop_inflight(loop) && loop_run_once(loop, true) == 0)
			;
		loop_destroy(loop);
	}
	return NULL;
}

/* Keep the first engine as the pool's first instance, and what it takes to
 * open more. */
static int cbf_inline_start(struct cbf_driver *drv, const char *spec, const struct luks_key *key)
{
	struct cbf_idle *idle = malloc(sizeof(*idle));

	drv->spec = strdup(spec);
	drv->key = luks_key_new(key->len);
	if (!idle || !drv->spec || !drv->key) {
		free(idle);
		return -ENOMEM;
	}
	memcpy(drv->key->bytes, key->bytes, key->len);
	idle->engine = drv->engine;
	idle->next = NULL;
	drv->idle = idle;
	drv->engine = NULL;
	drv->inline_engines = true;
	return 0;
}

static void cbf_driver_free(struct cbf_driver *drv)
{
	while (drv->idle) {
		struct cbf_idle *idle = drv->idle;

		drv->idle = idle->next;
		crypto_engine_close(idle->engine);
		free(idle);
	}
	crypto_engine_close(drv->engine);
	luks_key_free(drv->key);
	free(drv->spec);
	if (drv->wake_fd >= 0)
		close(drv->wake_fd);
	pthread_cond_destroy(&drv->started_cond);
	pthread_mutex_destroy(&drv->mutex);
	free(drv);
}

int cbf_driver_start(const char *spec, const struct luks_key *key, struct cbf_driver **out)
{
	struct cbf_driver *drv = calloc(1, sizeof(*drv));
	int err = -ENOMEM;

	*out = NULL;
	if (!drv)
		return err;
	pthread_mutex_init(&drv->mutex, NULL);
	pthread_cond_init(&drv->started_cond, NULL);
	drv->wake_fd = -1;
	err = crypto_engine_open(spec, &drv->engine);
	if (!err)
		err = crypto_engine_set_key(drv->engine, 0, key->bytes, key->len);
	if (!err && crypto_engine_is_inline(drv->engine)) {
		err = cbf_inline_start(drv, spec, key);
		goto out;
	}
	if (!err) {
		drv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (drv->wake_fd < 0)
			err = -errno;
	}
	if (!err)
		err = -pthread_create(&drv->thread, NULL, cbf_driver_main, drv);
	if (err)
		goto out;
	pthread_mutex_lock(&drv->mutex);
	while (!drv->started)
		pthread_cond_wait(&drv->started_cond, &drv->mutex);
	err = drv->start_err;
	pthread_mutex_unlock(&drv->mutex);
	if (err)
		pthread_join(drv->thread, NULL);
out:
	if (err)
		cbf_driver_free(drv);
	else
		*out = drv;
	return err;
}

static void cbf_driver_kick(struct cbf_driver *drv)
{
	uint64_t one = 1;

	/* Cannot fail short of a counter at 2^64-2 (EAGAIN), which still
	 * leaves the fd readable. */
	if (write(drv->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		nbdkit_error("cryptblk: waking the engine thread: %s", strerror(errno));
}

void cbf_driver_stop(struct cbf_driver *drv)
{
	if (!drv)
		return;
	if (!drv->inline_engines) {
		atomic_store(&drv->stopping, true);
		cbf_driver_kick(drv);
		pthread_join(drv->thread, NULL);
	}
	cbf_driver_free(drv);
}

static int cbf_inline_get(struct cbf_driver *drv, struct cbf_idle **out)
{
	struct cbf_idle *idle;
	int err;

	pthread_mutex_lock(&drv->mutex);
	idle = drv->idle;
	if (idle)
		drv->idle = idle->next;
	pthread_mutex_unlock(&drv->mutex);
	if (idle) {
		*out = idle;
		return 0;
	}
	idle = calloc(1, sizeof(*idle));
	if (!idle)
		return -ENOMEM;
	err = crypto_engine_open(drv->spec, &idle->engine);
	if (!err)
		err = crypto_engine_set_key(idle->engine, 0, drv->key->bytes, drv->key->len);
	if (err) {
		crypto_engine_close(idle->engine);
		free(idle);
		return err;
	}
	*out = idle;
	return 0;
}

static void cbf_inline_put(struct cbf_driver *drv, struct cbf_idle *idle)
{
	pthread_mutex_lock(&drv->mutex);
	idle->next = drv->idle;
	drv->idle = idle;
	pthread_mutex_unlock(&drv->mutex);
}

/* The jobs on this thread, on an engine of the pool. */
static int cbf_inline_run(struct cbf_driver *drv, struct crypto_job *jobs, unsigned n)
{
	struct cbf_idle *idle;
	int err = cbf_inline_get(drv, &idle);

	if (err)
		return err;
	err = crypto_engine_run_inline(idle->engine, jobs, n);
	cbf_inline_put(drv, idle);
	return err;
}

/* Hand `n` filled jobs over and sleep until all are done. */
static int cbf_batch_run(struct cbf_driver *drv, struct crypto_job *jobs, unsigned n)
{
	struct cbf_batch b = {.drv = drv, .left = n};
	bool was_empty;
	int err;

	pthread_cond_init(&b.done_cond, NULL);
	for (unsigned i = 0; i < n; i++) {
		jobs[i].priv = &b;
		jobs[i].done = cbf_job_done;
		jobs[i].next = i + 1 < n ? &jobs[i + 1] : NULL;
	}
	pthread_mutex_lock(&drv->mutex);
	was_empty = !drv->head;
	if (drv->tail)
		drv->tail->next = &jobs[0];
	else
		drv->head = &jobs[0];
	drv->tail = &jobs[n - 1];
	pthread_mutex_unlock(&drv->mutex);
	if (was_empty)
		cbf_driver_kick(drv);
	pthread_mutex_lock(&drv->mutex);
	while (b.left)
		pthread_cond_wait(&b.done_cond, &drv->mutex);
	err = b.error;
	pthread_mutex_unlock(&drv->mutex);
	pthread_cond_destroy(&b.done_cond);
	return err;
}

int cbf_crypt(struct cbf_driver *drv, const struct volume_layout *layout, enum crypto_dir dir,
	      const uint8_t *src, uint8_t *dst, uint64_t len, uint64_t offset)
{
	struct crypto_job jobs[CBF_BATCH_JOBS];
	uint32_t ss = layout->sector_size;
	uint64_t done = 0;
	int err = 0;

	while (done < len && !err) {
		unsigned n = 0;

		while (n < CBF_BATCH_JOBS && done < len) {
			uint64_t bytes = len - done < CBF_JOB_BYTES ? len - done : CBF_JOB_BYTES;

			memset(&jobs[n], 0, sizeof(jobs[n]));
			jobs[n].src = src + done;
			jobs[n].dst = dst + done;
			jobs[n].iv = volume_layout_iv(layout, offset + done);
			jobs[n].sector_size = ss;
			jobs[n].nr_sectors = (uint32_t)(bytes / ss);
			jobs[n].key_slot = 0;
			jobs[n].dir = (uint8_t)dir;
			jobs[n].flags = layout->iv_large_sectors ? CRYPTO_JOB_IV_LARGE_SECTORS : 0;
			done += bytes;
			n++;
		}
		err = drv->inline_engines ? cbf_inline_run(drv, jobs, n)
					  : cbf_batch_run(drv, jobs, n);
	}
	return err;
}
