/* A volume rig for tests: a temporary file, a loop, an engine (optionally
 * behind the refusing wrapper), a file backend (optionally behind the fault
 * decorator) and the volume pipeline over them. */
#ifndef CRYPTBLK_HELPER_VOLUME_H
#define CRYPTBLK_HELPER_VOLUME_H

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>
#include <cryptblk/volume.h>

#include "helper_tmpfile.h"

#define HELPER_VOLUME_KEY_LEN 64

struct helper_volume_opts {
	const char *engine; /* "openssl", "threads:2" */
	bool refusing;	    /* put the refusing wrapper around the engine */
	bool fault;	    /* put the fault decorator on the backend */
	unsigned backend_flags;
	uint64_t file_size;
	uint32_t file_seed; /* pattern of the fresh file; 0 for zeros */
	struct volume_layout layout;
};

struct helper_volume {
	struct helper_volume_opts opts;
	char path[HELPER_TMPFILE_PATH_MAX];
	uint8_t key[HELPER_VOLUME_KEY_LEN];
	struct loop *loop;
	struct crypto_engine *inner;  /* the real engine */
	struct crypto_engine *engine; /* what the volume uses */
	struct backend *be;	      /* what the volume uses */
	struct volume *vol;
};

/* Everything opened and attached; check-asserts on failure. */
void helper_volume_open(struct helper_volume *h, const struct helper_volume_opts *opts);
/* Close volume and backend and open both again on the same file. */
void helper_volume_reopen(struct helper_volume *h);
/* Run the loop until the volume and the loop are idle, then close all and
 * remove the file. */
void helper_volume_close(struct helper_volume *h);

/* One request, waited for; returns its result. Asserts that done() ran
 * exactly once and not inside volume_submit(). */
int helper_volume_run(struct helper_volume *h, uint8_t op, uint32_t flags, uint64_t offset,
		      uint64_t len, void *buf);

/* Turn the loop until *flag is true. */
void helper_loop_wait(struct loop *loop, const bool *flag);

#endif
