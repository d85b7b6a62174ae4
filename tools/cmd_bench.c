/* cryptblk bench crypto: AES-XTS throughput of raw OpenSSL and the engines.
 *
 * Every measurement encrypts or decrypts 4096-byte sectors with a 64-byte
 * (AES-256-XTS) key in jobs of VOLUME_CHUNK_MAX bytes, the way the volume
 * pipeline does: encryption out of place into a second buffer, decryption in
 * place. The "ceiling" is the same EVP calls made directly on this thread;
 * each engine runs through the contract (crypto_submit, an attached loop,
 * done callbacks that resubmit) with enough jobs in flight for all workers.
 */
#include "cli.h"

#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>
#include <cryptblk/secmem.h>
#include <cryptblk/volume.h>

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SECTOR	 4096u
#define BENCH_JOB_BYTES	 VOLUME_CHUNK_MAX
#define BENCH_JOB_SECT	 (BENCH_JOB_BYTES / BENCH_SECTOR)
#define BENCH_KEY_LEN	 64u
#define BENCH_MAX_ENGINE 16
#define MIB		 (1024.0 * 1024.0)

struct bench_opts {
	bool json;
	bool progress; /* stderr is a terminal */
	double seconds;
	char *engines; /* comma separated specs, owned */
};

struct bench_result {
	const char *name;
	double mib_s[2]; /* [enum crypto_dir] */
};

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *bench_dir_name(int dir)
{
	return dir == CRYPTO_ENCRYPT ? "encrypt" : "decrypt";
}

static void bench_progress(const struct bench_opts *opts, const char *what, int dir)
{
	if (opts->progress)
		fprintf(stderr, "\rbench: %-24s %s ...   ", what, bench_dir_name(dir));
}

static void bench_progress_clear(const struct bench_opts *opts)
{
	if (opts->progress)
		fprintf(stderr, "\r%60s\r", "");
}

/* The ceiling: one EVP context per direction keyed once, re-IV'ed per
 * sector (plain64: the IV steps by 8 per 4096-byte sector), one thread. */
static int bench_ceiling(const uint8_t *key, int dir, double seconds, uint8_t *src, uint8_t *dst,
			 double *mib_s)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const uint8_t *in = dir == CRYPTO_ENCRYPT ? src : dst;
	uint64_t bytes = 0, iv = 0;
	double start, now;
	int err = 0, outl;

	if (!ctx || EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, key, NULL, dir) != 1) {
		err = -ENOMEM;
		goto out;
	}
	start = bench_now();
	do {
		for (unsigned i = 0; i < BENCH_JOB_SECT; i++, iv += BENCH_SECTOR / 512) {
			uint8_t tweak[16] = {0};
			size_t off = (size_t)i * BENCH_SECTOR;

			for (unsigned b = 0; b < 8; b++)
				tweak[b] = (uint8_t)(iv >> (8 * b));
			if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, tweak, -1) != 1 ||
			    EVP_CipherUpdate(ctx, dst + off, &outl, in + off, BENCH_SECTOR) != 1) {
				err = -EIO;
				goto out;
			}
		}
		bytes += BENCH_JOB_BYTES;
		now = bench_now();
	} while (now - start < seconds);
	*mib_s = (double)bytes / MIB / (now - start);
out:
	EVP_CIPHER_CTX_free(ctx);
	return err;
}

struct bench_run;

struct bench_job {
	struct crypto_job job; /* first: done() gets this pointer */
	struct bench_run *run;
	uint8_t *src, *dst;
};

struct bench_run {
	struct crypto_engine *engine;
	double deadline, end;
	uint64_t bytes, next_iv;
	unsigned active;
	int err;
};

/* A finished job goes straight back in until the time is up. */
static void bench_job_done(struct crypto_job *job)
{
	struct bench_job *bj = (struct bench_job *)job;
	struct bench_run *run = bj->run;
	double now = bench_now();

	if (job->result && !run->err)
		run->err = job->result;
	if (!job->result)
		run->bytes += BENCH_JOB_BYTES;
	if (now < run->deadline && !run->err) {
		job->iv = run->next_iv;
		run->next_iv += BENCH_JOB_BYTES / 512;
		run->err = crypto_submit(run->engine, job);
		if (!run->err)
			return;
	}
	run->active--;
	run->end = now;
}

static int bench_engine_dir(struct bench_run *run, struct loop *loop, struct bench_job *jobs,
			    unsigned depth, int dir, double seconds, double *mib_s)
{
	double start = bench_now();
	int err = 0;

	run->deadline = start + seconds;
	run->bytes = 0;
	run->err = 0;
	run->active = 0;
	for (unsigned i = 0; i < depth; i++) {
		struct crypto_job *job = &jobs[i].job;

		job->src = dir == CRYPTO_ENCRYPT ? jobs[i].src : jobs[i].dst;
		job->dst = jobs[i].dst;
		job->dir = (uint8_t)dir;
		job->iv = run->next_iv;
		run->next_iv += BENCH_JOB_BYTES / 512;
		err = crypto_submit(run->engine, job);
		if (err)
			break;
		run->active++;
	}
	while (run->active > 0) {
		int ret = loop_run_once(loop, true);

		if (ret < 0 && !err)
			err = ret;
		if (ret < 0)
			break;
	}
	if (!err)
		err = run->err;
	if (!err)
		*mib_s = (double)run->bytes / MIB / (run->end - start);
	return err;
}

/* Jobs in flight: enough that a worker still has work queued when it wakes
 * the loop (it does so every 2 MiB finished, 16 jobs) and the loop has
 * refilled its ring before it runs dry; few enough that the buffers stay in
 * the last-level cache. The openssl engine finishes jobs inside submit. */
static unsigned bench_depth(const char *spec)
{
	long workers;

	if (strncmp(spec, "threads", 7) != 0)
		return 2;
	workers = spec[7] == ':' ? strtol(spec + 8, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	if (workers < 1)
		workers = 1;
	return (unsigned)(workers > 64 ? 64 : workers) * 32;
}

static int bench_engine(const struct bench_opts *opts, const char *spec, const uint8_t *key,
			struct bench_result *res)
{
	struct crypto_engine *engine = NULL;
	struct loop *loop = NULL;
	struct bench_run run = {0};
	unsigned depth = bench_depth(spec);
	struct bench_job *jobs = calloc(depth, sizeof(*jobs));
	int err = jobs ? 0 : -ENOMEM;

	if (!err)
		err = crypto_engine_open(spec, &engine);
	if (err) {
		cli_error("bench: engine '%s': %s", spec, strerror(-err));
		goto out;
	}
	err = crypto_engine_set_key(engine, 0, key, BENCH_KEY_LEN);
	if (!err)
		err = loop_create(64, &loop);
	if (!err)
		err = crypto_engine_attach(engine, loop);
	for (unsigned i = 0; i < depth && !err; i++) {
		struct bench_job *bj = &jobs[i];

		bj->src = crypto_buf_alloc(engine, BENCH_JOB_BYTES);
		bj->dst = crypto_buf_alloc(engine, BENCH_JOB_BYTES);
		if (!bj->src || !bj->dst || RAND_bytes(bj->src, BENCH_JOB_BYTES) != 1) {
			err = -ENOMEM;
			break;
		}
		bj->run = &run;
		bj->job = (struct crypto_job){.sector_size = BENCH_SECTOR,
					      .nr_sectors = BENCH_JOB_SECT,
					      .key_slot = 0,
					      .done = bench_job_done};
	}
	run.engine = engine;
	for (int dir = CRYPTO_ENCRYPT; dir >= CRYPTO_DECRYPT && !err; dir--) {
		bench_progress(opts, spec, dir);
		err =
		    bench_engine_dir(&run, loop, jobs, depth, dir, opts->seconds, &res->mib_s[dir]);
	}
	if (err)
		cli_error("bench: engine '%s': %s", spec, strerror(-err));
out:
	if (engine && loop) {
		crypto_engine_detach(engine);
		/* The eventfd watch's cancel finishes through the loop. */
		while (loop_inflight(loop) > 0 && loop_run_once(loop, true) == 0)
			;
	}
	for (unsigned i = 0; jobs && i < depth; i++) {
		crypto_buf_free(engine, jobs[i].src, BENCH_JOB_BYTES);
		crypto_buf_free(engine, jobs[i].dst, BENCH_JOB_BYTES);
	}
	free(jobs);
	loop_destroy(loop);
	crypto_engine_close(engine);
	res->name = spec;
	return err;
}

static int bench_ceiling_both(const struct bench_opts *opts, const uint8_t *key,
			      struct bench_result *res)
{
	uint8_t *src = crypto_buf_alloc(NULL, BENCH_JOB_BYTES);
	uint8_t *dst = crypto_buf_alloc(NULL, BENCH_JOB_BYTES);
	int err = (src && dst && RAND_bytes(src, BENCH_JOB_BYTES) == 1) ? 0 : -ENOMEM;

	for (int dir = CRYPTO_ENCRYPT; dir >= CRYPTO_DECRYPT && !err; dir--) {
		bench_progress(opts, "ceiling (EVP, 1 thread)", dir);
		err = bench_ceiling(key, dir, opts->seconds, src, dst, &res->mib_s[dir]);
	}
	if (err)
		cli_error("bench: ceiling: %s", strerror(-err));
	crypto_buf_free(NULL, src, BENCH_JOB_BYTES);
	crypto_buf_free(NULL, dst, BENCH_JOB_BYTES);
	res->name = "ceiling";
	return err;
}

static void bench_print_json(const struct bench_result *ceiling, const struct bench_result *res,
			     unsigned n)
{
	printf("{\"ceiling\": {\"encrypt_mib_s\": %.1f, \"decrypt_mib_s\": %.1f}, \"engines\": [",
	       ceiling->mib_s[CRYPTO_ENCRYPT], ceiling->mib_s[CRYPTO_DECRYPT]);
	for (unsigned i = 0; i < n; i++) {
		/* Names are specs that opened: letters, digits and ':' only. */
		printf("%s{\"name\": \"%s\", \"encrypt_mib_s\": %.1f, \"decrypt_mib_s\": %.1f}",
		       i ? ", " : "", res[i].name, res[i].mib_s[CRYPTO_ENCRYPT],
		       res[i].mib_s[CRYPTO_DECRYPT]);
	}
	printf("]}\n");
}

static void bench_print_table(const struct bench_opts *opts, const struct bench_result *ceiling,
			      const struct bench_result *res, unsigned n)
{
	const double *c = ceiling->mib_s;

	printf("AES-256-XTS, %u-byte sectors, %u KiB jobs, %.2g s per measurement\n\n",
	       BENCH_SECTOR, BENCH_JOB_BYTES / 1024, opts->seconds);
	printf("%-24s %14s %8s %14s %8s\n", "", "encrypt MiB/s", "", "decrypt MiB/s", "");
	printf("%-24s %14.1f %8s %14.1f %8s\n", "ceiling (EVP, 1 thread)", c[CRYPTO_ENCRYPT],
	       "1.00x", c[CRYPTO_DECRYPT], "1.00x");
	for (unsigned i = 0; i < n; i++) {
		const double *m = res[i].mib_s;

		printf("%-24s %14.1f %7.2fx %14.1f %7.2fx\n", res[i].name, m[CRYPTO_ENCRYPT],
		       m[CRYPTO_ENCRYPT] / c[CRYPTO_ENCRYPT], m[CRYPTO_DECRYPT],
		       m[CRYPTO_DECRYPT] / c[CRYPTO_DECRYPT]);
	}
}

static void bench_usage(void)
{
	cli_error("usage: cryptblk bench crypto [--json] [--seconds S] [--engines LIST]");
}

static int bench_parse(int argc, char **argv, struct bench_opts *opts)
{
	char *end;

	if (argc < 2 || strcmp(argv[1], "crypto") != 0) {
		bench_usage();
		return -EINVAL;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			opts->json = true;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			opts->seconds = strtod(argv[++i], &end);
			if (*end || !isfinite(opts->seconds) || opts->seconds <= 0 ||
			    opts->seconds > 3600) {
				cli_error("bench: --seconds '%s': not a duration in (0, 3600]",
					  argv[i]);
				return -EINVAL;
			}
		} else if (!strcmp(argv[i], "--engines") && i + 1 < argc) {
			free(opts->engines);
			opts->engines = strdup(argv[++i]);
			if (!opts->engines)
				return -ENOMEM;
		} else {
			cli_error("bench: unknown or incomplete option '%s'", argv[i]);
			bench_usage();
			return -EINVAL;
		}
	}
	if (!opts->engines) {
		char spec[32];

		snprintf(spec, sizeof(spec), "openssl,threads:%ld", sysconf(_SC_NPROCESSORS_ONLN));
		opts->engines = strdup(spec);
		if (!opts->engines)
			return -ENOMEM;
	}
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_opts opts = {.seconds = 1.0, .progress = isatty(STDERR_FILENO) == 1};
	struct bench_result ceiling = {0}, res[BENCH_MAX_ENGINE];
	uint8_t *key = NULL;
	unsigned n = 0;
	char *save = NULL;
	int err = bench_parse(argc, argv, &opts);

	if (err)
		goto out;
	key = secmem_alloc(BENCH_KEY_LEN);
	if (!key || RAND_bytes(key, BENCH_KEY_LEN) != 1) {
		err = key ? -EIO : -errno;
		cli_error("bench: key: %s", strerror(-err));
		goto out;
	}
	err = bench_ceiling_both(&opts, key, &ceiling);
	for (char *spec = strtok_r(opts.engines, ",", &save); spec && !err;
	     spec = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_ENGINE) {
			cli_error("bench: more than %d engines", BENCH_MAX_ENGINE);
			err = -EINVAL;
			break;
		}
		memset(&res[n], 0, sizeof(res[n]));
		err = bench_engine(&opts, spec, key, &res[n]);
		n++;
	}
	bench_progress_clear(&opts);
	if (!err && n == 0) {
		cli_error("bench: --engines: no engine given");
		err = -EINVAL;
	}
	if (err)
		goto out;
	if (opts.json)
		bench_print_json(&ceiling, res, n);
	else
		bench_print_table(&opts, &ceiling, res, n);
out:
	secmem_free(key, BENCH_KEY_LEN);
	free(opts.engines);
	return cli_exit_code(err);
}
