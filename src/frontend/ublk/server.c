/* The ublk server's lifecycle: add the device, start the queue threads, set
 * the parameters, start /dev/ublkbN; wait for a signal, a watched fd or a
 * failed queue; stop, join, delete. All control commands come from the
 * thread that created the server. See docs/architecture.md, "ublk frontend". */
#include "ublk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define UBLK_MAX_WATCHES 8

struct ublk_fd_watch {
	int fd;
	void (*fn)(void *ctx);
	void *ctx;
};

struct ublk_server {
	struct ublk_server_config cfg;
	struct ublk_ctrl ctrl;
	struct ublksrv_ctrl_dev_info info; /* as ADD_DEV wrote it back */
	bool added;
	int char_fd;
	struct ublk_queue *queues;
	unsigned nr_queues;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned nr_reported; /* queues that finished setting up, well or not */
	int setup_error;
	int queue_error; /* first failure of a running queue */

	int stop_fd; /* eventfd: ublk_server_stop() and failed queues */
	int sig_fd;
	struct ublk_fd_watch watches[UBLK_MAX_WATCHES];
	unsigned nr_watches;
};

static void ublk_say(const char *step, int dev_id, int err)
{
	if (dev_id >= 0)
		fprintf(stderr, "cryptblk: ublk: %s %d: %s\n", step, dev_id, strerror(-err));
	else
		fprintf(stderr, "cryptblk: ublk: %s: %s\n", step, strerror(-err));
}

const struct ublk_thread_ops *ublk_server_ops(const struct ublk_server *srv, void **ctx)
{
	*ctx = srv->cfg.ctx;
	return srv->cfg.ops;
}

uint32_t ublk_server_max_io(const struct ublk_server *srv)
{
	return srv->info.max_io_buf_bytes;
}

void ublk_server_queue_ready(struct ublk_server *srv, struct ublk_queue *q, int err)
{
	if (err)
		fprintf(stderr, "cryptblk: ublk: queue %u: setup: %s\n", q->qid, strerror(-err));
	pthread_mutex_lock(&srv->lock);
	srv->nr_reported++;
	if (err && !srv->setup_error)
		srv->setup_error = err;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

void ublk_server_queue_failed(struct ublk_server *srv, struct ublk_queue *q, int err)
{
	(void)q;
	pthread_mutex_lock(&srv->lock);
	if (!srv->queue_error)
		srv->queue_error = err;
	pthread_mutex_unlock(&srv->lock);
	ublk_server_stop(srv);
}

void ublk_server_stop(struct ublk_server *srv)
{
	uint64_t one = 1;
	/* write(2) is async-signal-safe; a full counter still wakes poll(). */
	ssize_t n = write(srv->stop_fd, &one, sizeof(one));
	(void)n;
}

/* A device id held by a device nobody serves (state DEAD and /dev/ublkcN
 * not open: its server was killed) is deleted so the id can be added again.
 * Returns 0 when it was deleted, -EEXIST otherwise. */
static int ublk_server_reclaim(struct ublk_server *srv, uint32_t dev_id)
{
	struct ublksrv_ctrl_dev_info info;
	char path[32];
	int fd, ret;

	ret = ublk_ctrl_get_dev_info(&srv->ctrl, dev_id, &info);
	if (ret < 0 || info.state != UBLK_S_DEV_DEAD)
		return -EEXIST;
	/* The driver lets one process open the char device: if we can, no
	 * server holds it. */
	snprintf(path, sizeof(path), "/dev/ublkc%u", dev_id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -EEXIST;
	close(fd);
	ret = ublk_ctrl_del_dev(&srv->ctrl, dev_id);
	if (ret < 0)
		return -EEXIST;
	fprintf(stderr, "cryptblk: ublk: deleted device %u left behind by a server that died\n",
		dev_id);
	return 0;
}

/* ADD_DEV with the flags the kernel offers: USER_COPY unless the caller
 * wants the buffer copy mode, or the kernel refuses it. */
static int ublk_server_add(struct ublk_server *srv)
{
	const struct ublk_server_config *cfg = &srv->cfg;
	uint64_t features = 0, flags = UBLK_F_CMD_IOCTL_ENCODE;
	struct ublksrv_ctrl_dev_info info;
	bool reclaimed = false;
	int ret;

	/* Kernels before 6.5 know neither GET_FEATURES nor USER_COPY. */
	if (ublk_ctrl_get_features(&srv->ctrl, &features) < 0)
		features = 0;
	if (cfg->copy == UBLK_COPY_USER && !(features & UBLK_F_USER_COPY)) {
		fprintf(stderr, "cryptblk: ublk: this kernel has no UBLK_F_USER_COPY\n");
		return -EOPNOTSUPP;
	}
	if (cfg->copy != UBLK_COPY_BUFFER && (features & UBLK_F_USER_COPY))
		flags |= UBLK_F_USER_COPY;
	for (;;) {
		memset(&info, 0, sizeof(info));
		info.nr_hw_queues = (uint16_t)srv->nr_queues;
		info.queue_depth =
		    (uint16_t)(cfg->queue_depth ? cfg->queue_depth : UBLK_DEFAULT_QUEUE_DEPTH);
		info.max_io_buf_bytes = cfg->max_io_bytes ? cfg->max_io_bytes : UBLK_DEFAULT_MAX_IO;
		info.dev_id = cfg->dev_id < 0 ? UINT32_MAX : (uint32_t)cfg->dev_id;
		info.flags = flags;
		ret = ublk_ctrl_add_dev(&srv->ctrl, &info);
		if (ret == -EEXIST && cfg->dev_id >= 0 && !reclaimed) {
			reclaimed = true;
			if (ublk_server_reclaim(srv, (uint32_t)cfg->dev_id) == 0)
				continue;
		}
		if (ret == -EINVAL && (flags & UBLK_F_USER_COPY) && cfg->copy == UBLK_COPY_AUTO) {
			flags &= ~UBLK_F_USER_COPY;
			continue;
		}
		break;
	}
	if (ret < 0) {
		ublk_say("ADD_DEV", cfg->dev_id, ret);
		return ret;
	}
	srv->info = info;
	srv->added = true;
	if (cfg->copy == UBLK_COPY_USER && !(info.flags & UBLK_F_USER_COPY)) {
		fprintf(stderr, "cryptblk: ublk: device %u: the kernel dropped UBLK_F_USER_COPY\n",
			info.dev_id);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* devtmpfs creates /dev/ublkcN before ADD_DEV returns; udev may take a
 * moment. The driver lets one opener in at a time. */
static int ublk_server_open_char(struct ublk_server *srv)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	char path[32];
	int ret = 0;

	snprintf(path, sizeof(path), "/dev/ublkc%u", srv->info.dev_id);
	for (unsigned i = 0; i < 300; i++) {
		srv->char_fd = open(path, O_RDWR | O_CLOEXEC);
		if (srv->char_fd >= 0)
			return 0;
		ret = -errno;
		if (ret != -ENOENT)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "cryptblk: ublk: %s: %s\n", path, strerror(-ret));
	return ret;
}

static int ublk_server_start_queues(struct ublk_server *srv)
{
	int ret = 0;
	unsigned started = 0;

	srv->queues = calloc(srv->nr_queues, sizeof(*srv->queues));
	if (!srv->queues)
		return -ENOMEM;
	for (unsigned i = 0; i < srv->nr_queues; i++) {
		struct ublk_queue *q = &srv->queues[i];

		q->srv = srv;
		q->qid = (uint16_t)i;
		q->depth = srv->info.queue_depth;
		q->char_fd = srv->char_fd;
		q->user_copy = srv->info.flags & UBLK_F_USER_COPY;
		ret = ublk_queue_start(q);
		if (ret) {
			fprintf(stderr, "cryptblk: ublk: queue %u: start: %s\n", i, strerror(-ret));
			break;
		}
		started++;
	}
	/* Wait for every started queue: each has its volume open (or failed)
	 * and its FETCHes queued before START_DEV may be sent. */
	pthread_mutex_lock(&srv->lock);
	while (srv->nr_reported < started)
		pthread_cond_wait(&srv->cond, &srv->lock);
	if (!ret)
		ret = srv->setup_error;
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

/* Every queue opened a volume over the same backend: they must agree. */
static int ublk_server_geometry(struct ublk_server *srv, struct ublk_params_in *in)
{
	const struct ublk_queue *q0 = &srv->queues[0];

	memset(in, 0, sizeof(*in));
	in->size = q0->geo.size;
	in->sector_size = q0->geo.sector_size;
	in->max_io = srv->info.max_io_buf_bytes;
	in->discard = srv->cfg.discard;
	in->read_only = srv->cfg.read_only;
	for (unsigned i = 0; i < srv->nr_queues; i++) {
		const struct ublk_queue *q = &srv->queues[i];

		if (q->geo.size != in->size || q->geo.sector_size != in->sector_size) {
			fprintf(stderr, "cryptblk: ublk: queue %u: volume geometry differs\n", i);
			return -EINVAL;
		}
		if (volume_read_only(q->vol))
			in->read_only = true;
	}
	return 0;
}

static int ublk_server_start_dev(struct ublk_server *srv)
{
	struct ublk_params_in in;
	struct ublk_params params;
	int ret;

	ret = ublk_server_geometry(srv, &in);
	if (ret)
		return ret;
	ret = ublk_params_build(&in, &params);
	if (ret) {
		fprintf(stderr,
			"cryptblk: ublk: volume of %llu bytes in %u-byte sectors does not fit "
			"ublk (max I/O %u bytes)\n",
			(unsigned long long)in.size, in.sector_size, in.max_io);
		return ret;
	}
	ret = ublk_ctrl_set_params(&srv->ctrl, srv->info.dev_id, &params);
	if (ret < 0) {
		ublk_say("SET_PARAMS", (int)srv->info.dev_id, ret);
		return ret;
	}
	/* Waits until every tag has a FETCH, then adds the disk (and scans
	 * partitions, served by the queue threads). */
	ret = ublk_ctrl_start_dev(&srv->ctrl, srv->info.dev_id, (int)getpid());
	if (ret < 0)
		ublk_say("START_DEV", (int)srv->info.dev_id, ret);
	return ret;
}

static int ublk_server_check_config(const struct ublk_server_config *cfg)
{
	if (!cfg->ops || !cfg->ops->open || !cfg->ops->close)
		return -EINVAL;
	if (cfg->queue_depth > UBLK_MAX_QUEUE_DEPTH || cfg->queues > UBLK_MAX_NR_QUEUES ||
	    cfg->dev_id < -1)
		return -EINVAL;
	/* The USER_COPY window of one request is 32 MiB. */
	if (cfg->max_io_bytes && (cfg->max_io_bytes < 4096 || cfg->max_io_bytes > (1u << 25)))
		return -EINVAL;
	return 0;
}

static int ublk_server_alloc(const struct ublk_server_config *cfg, struct ublk_server **out)
{
	struct ublk_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->char_fd = -1;
	srv->sig_fd = -1;
	srv->ctrl.fd = -1;
	srv->nr_queues = cfg->queues ? cfg->queues : 1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_fd < 0) {
		int ret = -errno;
		pthread_cond_destroy(&srv->cond);
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

int ublk_server_create(const struct ublk_server_config *cfg, struct ublk_server **out)
{
	struct ublk_server *srv = NULL;
	int ret;

	ret = ublk_server_check_config(cfg);
	if (ret) {
		fprintf(stderr, "cryptblk: ublk: bad configuration\n");
		return ret;
	}
	ret = ublk_server_alloc(cfg, &srv);
	if (ret)
		goto out;
	ret = ublk_ctrl_open(&srv->ctrl);
	if (ret == -ENOENT) {
		fprintf(stderr, "cryptblk: ublk: /dev/ublk-control: no such device "
				"(is the ublk_drv module loaded?)\n");
		goto out;
	}
	if (ret) {
		ublk_say("/dev/ublk-control", -1, ret);
		goto out;
	}
	ret = ublk_server_add(srv);
	if (ret)
		goto out;
	/* The kernel grants at most one queue per CPU. */
	srv->nr_queues = srv->info.nr_hw_queues;
	ret = ublk_server_open_char(srv);
	if (ret)
		goto out;
	ret = ublk_server_start_queues(srv);
	if (ret)
		goto out;
	ret = ublk_server_start_dev(srv);
out:
	if (ret && srv) {
		ublk_server_destroy(srv);
		srv = NULL;
	}
	*out = srv;
	return ret;
}

int ublk_server_dev_id(const struct ublk_server *srv)
{
	return (int)srv->info.dev_id;
}

unsigned ublk_server_queues(const struct ublk_server *srv)
{
	return srv->nr_queues;
}

unsigned ublk_server_queue_depth(const struct ublk_server *srv)
{
	return srv->info.queue_depth;
}

uint64_t ublk_server_flags(const struct ublk_server *srv)
{
	return srv->info.flags;
}

bool ublk_server_user_copy(const struct ublk_server *srv)
{
	return srv->info.flags & UBLK_F_USER_COPY;
}

int ublk_server_watch_signals(struct ublk_server *srv, const sigset_t *set)
{
	int fd = signalfd(srv->sig_fd, set, SFD_CLOEXEC | SFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	srv->sig_fd = fd;
	return 0;
}

int ublk_server_watch_fd(struct ublk_server *srv, int fd, void (*fn)(void *ctx), void *ctx)
{
	if (srv->nr_watches == UBLK_MAX_WATCHES)
		return -ENOSPC;
	srv->watches[srv->nr_watches++] = (struct ublk_fd_watch){fd, fn, ctx};
	return 0;
}

/* A watched signal arrived: say which, and stop. */
static bool ublk_server_read_signal(struct ublk_server *srv)
{
	struct signalfd_siginfo si;

	if (read(srv->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return false;
	fprintf(stderr, "cryptblk: ublk: %s: stopping /dev/ublkb%u\n", strsignal((int)si.ssi_signo),
		srv->info.dev_id);
	return true;
}

int ublk_server_run(struct ublk_server *srv)
{
	struct pollfd pfd[UBLK_MAX_WATCHES + 2];
	bool stop = false;
	int ret;

	while (!stop) {
		unsigned n = 0;

		pfd[n++] = (struct pollfd){.fd = srv->stop_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = srv->sig_fd, .events = POLLIN};
		for (unsigned i = 0; i < srv->nr_watches; i++)
			pfd[n++] = (struct pollfd){.fd = srv->watches[i].fd, .events = POLLIN};
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents)
			stop = true;
		if (pfd[1].revents && ublk_server_read_signal(srv))
			stop = true;
		for (unsigned i = 0; i < srv->nr_watches; i++)
			if (pfd[2 + i].revents)
				srv->watches[i].fn(srv->watches[i].ctx);
	}
	pthread_mutex_lock(&srv->lock);
	ret = srv->queue_error;
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

/* Stop the device (the queues see -ENODEV on every tag and end), join the
 * queues, close what they shared, delete the device. */
static int ublk_server_teardown(struct ublk_server *srv)
{
	int ret = 0, r;

	if (srv->added) {
		r = ublk_ctrl_stop_dev(&srv->ctrl, srv->info.dev_id);
		if (r < 0) {
			ublk_say("STOP_DEV", (int)srv->info.dev_id, r);
			ret = r;
		}
	}
	for (unsigned i = 0; srv->queues && i < srv->nr_queues; i++) {
		ublk_queue_join(&srv->queues[i]);
		if (srv->queues[i].error && !ret)
			ret = srv->queues[i].error;
	}
	if (srv->char_fd >= 0)
		close(srv->char_fd);
	srv->char_fd = -1;
	if (srv->added) {
		/* Waits until /dev/ublkcN is closed and unmapped. */
		r = ublk_ctrl_del_dev(&srv->ctrl, srv->info.dev_id);
		if (r < 0) {
			ublk_say("DEL_DEV", (int)srv->info.dev_id, r);
			if (!ret)
				ret = r;
		}
		srv->added = false;
	}
	return ret;
}

int ublk_server_destroy(struct ublk_server *srv)
{
	int ret;

	if (!srv)
		return 0;
	ret = ublk_server_teardown(srv);
	ublk_ctrl_close(&srv->ctrl);
	if (srv->sig_fd >= 0)
		close(srv->sig_fd);
	close(srv->stop_fd);
	free(srv->queues);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return ret;
}
