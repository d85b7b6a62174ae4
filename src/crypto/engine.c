/* Engine selection, the in-order backlog, and driving an engine from a loop.
 *
 * crypto_submit() gives a job to the engine unless the engine is full or a
 * backlog already exists; then the job waits at the end of the backlog, so
 * jobs reach the engine in the order they were submitted. The progress
 * function that crypto_engine_attach() registers collects finished jobs,
 * calls their done() on the loop's thread, and then moves what it can from
 * the backlog into the engine.
 */
#include "crypto/engines.h"
#include "crypto/xts.h"

#include <cryptblk/loop.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct crypto_engine_ops *const engine_table[] = {
    &crypto_openssl_ops, &crypto_threads_ops, &crypto_virtio_ops, /* "virtio:PCI_ADDR" */
    &crypto_delay_ops, /* benchmark only: a fixed latency around another engine */
};

int crypto_engine_open(const char *spec, struct crypto_engine **out)
{
	const char *colon, *args = NULL;
	size_t name_len;
	int err = -EINVAL;

	*out = NULL;
	if (!spec)
		goto out;
	colon = strchr(spec, ':');
	name_len = colon ? (size_t)(colon - spec) : strlen(spec);
	if (colon)
		args = colon + 1;
	for (size_t i = 0; i < sizeof(engine_table) / sizeof(engine_table[0]); i++) {
		const struct crypto_engine_ops *ops = engine_table[i];

		if (strlen(ops->name) != name_len || strncmp(ops->name, spec, name_len) != 0)
			continue;
		err = ops->create(args, out);
		if (err == 0) {
			(*out)->ops = ops;
			(*out)->backlog_head = (*out)->backlog_tail = NULL;
			(*out)->inflight = 0;
			(*out)->loop = NULL;
			(*out)->watch = NULL;
		}
		break;
	}
out:
	return err;
}

void crypto_engine_close(struct crypto_engine *engine)
{
	if (!engine)
		return;
	crypto_engine_detach(engine);
	engine->ops->destroy(engine);
}

int crypto_engine_set_key(struct crypto_engine *engine, unsigned slot, const uint8_t *key,
			  size_t key_len)
{
	if (slot >= CRYPTO_KEY_SLOTS || !key || (key_len != 32 && key_len != 64))
		return -EINVAL;
	return engine->ops->set_key(engine, slot, key, key_len);
}

void crypto_engine_clear_key(struct crypto_engine *engine, unsigned slot)
{
	if (slot < CRYPTO_KEY_SLOTS)
		engine->ops->clear_key(engine, slot);
}

const char *crypto_engine_name(const struct crypto_engine *engine)
{
	return engine->ops->name;
}

static void engine_backlog_push(struct crypto_engine *engine, struct crypto_job *job)
{
	job->next = NULL;
	if (engine->backlog_tail)
		engine->backlog_tail->next = job;
	else
		engine->backlog_head = job;
	engine->backlog_tail = job;
}

int crypto_submit(struct crypto_engine *engine, struct crypto_job *job)
{
	int err = crypto_job_check(job);

	if (err)
		return err;
	if (!job->done)
		return -EINVAL;
	if (!engine->backlog_head) {
		err = engine->ops->submit(engine, job);
		if (err == 0)
			engine->inflight++;
		if (err != -EBUSY)
			return err;
	}
	engine_backlog_push(engine, job);
	return 0;
}

/* Moves jobs from the head of the backlog into the engine until it is full.
 * A job the engine refuses for good (a key cleared since it was queued)
 * completes with that error: crypto_submit() already promised a done(). */
static unsigned engine_backlog_retry(struct crypto_engine *engine)
{
	struct crypto_job *job;
	unsigned moved = 0;

	while ((job = engine->backlog_head) != NULL) {
		struct crypto_job *next = job->next;
		int err = engine->ops->submit(engine, job);

		if (err == -EBUSY) {
			job->next = next;
			break;
		}
		engine->backlog_head = next;
		if (!next)
			engine->backlog_tail = NULL;
		moved++;
		if (err == 0) {
			engine->inflight++;
			continue;
		}
		job->result = err;
		job->next = NULL;
		job->done(job);
	}
	return moved;
}

static unsigned engine_progress(void *ctx)
{
	struct crypto_engine *engine = ctx;
	struct crypto_job *job = engine->ops->complete(engine);
	unsigned moved = 0;

	while (job) {
		struct crypto_job *next = job->next;

		/* done() may free the job or submit new ones: nothing of it is
		 * touched afterwards. */
		job->next = NULL;
		engine->inflight--;
		job->done(job);
		moved++;
		job = next;
	}
	return moved + engine_backlog_retry(engine);
}

/* The loop has drained the eventfd and runs the progress functions after
 * this CQE batch; that is where complete() is called. */
static void engine_signal_noop(void *ctx)
{
	(void)ctx;
}

static int engine_signal_fd(struct crypto_engine *engine)
{
	return engine->ops->signal_fd ? engine->ops->signal_fd(engine) : -1;
}

bool crypto_engine_is_inline(struct crypto_engine *engine)
{
	return engine_signal_fd(engine) < 0;
}

/* Collects finished jobs; returns how many came back, keeps the first
 * error. */
static unsigned engine_inline_reap(struct crypto_engine *engine, int *error)
{
	unsigned n = 0;

	for (struct crypto_job *job = engine->ops->complete(engine); job; job = job->next, n++)
		if (job->result && !*error)
			*error = job->result;
	return n;
}

int crypto_engine_run_inline(struct crypto_engine *engine, struct crypto_job *jobs, unsigned n)
{
	unsigned pending = 0;
	int err, error = 0;

	for (unsigned i = 0; i < n; i++) {
		jobs[i].next = NULL;
		while ((err = engine->ops->submit(engine, &jobs[i])) == -EBUSY)
			pending -= engine_inline_reap(engine, &error);
		if (err && !error)
			error = err;
		if (!err)
			pending++;
	}
	/* Nothing may stay behind in the engine: the jobs are the caller's. */
	while (pending)
		pending -= engine_inline_reap(engine, &error);
	return error;
}

int crypto_engine_attach(struct crypto_engine *engine, struct loop *loop)
{
	int fd = engine_signal_fd(engine);
	int err;

	if (engine->loop)
		return -EBUSY;
	err = loop_progress_add(loop, engine_progress, engine);
	if (err)
		return err;
	if (fd >= 0) {
		err = loop_watch_eventfd(loop, fd, engine_signal_noop, engine, &engine->watch);
		if (err) {
			loop_progress_remove(loop, engine_progress, engine);
			engine->watch = NULL;
			return err;
		}
	}
	engine->loop = loop;
	return 0;
}

void crypto_engine_detach(struct crypto_engine *engine)
{
	if (!engine->loop)
		return;
	if (engine->watch)
		loop_watch_remove(engine->watch);
	loop_progress_remove(engine->loop, engine_progress, engine);
	engine->watch = NULL;
	engine->loop = NULL;
}

unsigned crypto_engine_pending(const struct crypto_engine *engine)
{
	unsigned n = engine->inflight;

	for (const struct crypto_job *job = engine->backlog_head; job; job = job->next)
		n++;
	return n;
}

static size_t engine_buf_round(size_t len)
{
	return (len + 4095) / 4096 * 4096;
}

void *crypto_buf_alloc(struct crypto_engine *engine, size_t len)
{
	void *buf = NULL;

	if (engine && engine->ops->buf_alloc)
		return engine->ops->buf_alloc(engine, len);
	if (len == 0 || posix_memalign(&buf, 4096, engine_buf_round(len)) != 0)
		return NULL;
	return buf;
}

void crypto_buf_free(struct crypto_engine *engine, void *buf, size_t len)
{
	if (!buf)
		return;
	if (engine && engine->ops->buf_free)
		engine->ops->buf_free(engine, buf, len);
	else
		free(buf);
}
