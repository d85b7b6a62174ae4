/* The IMAGE argument of every subcommand: a file or block device, or a
 * remote NBD export named by a URI (nbd://, nbds://, nbd+unix://...). */
#ifndef CRYPTBLK_TOOLS_IMAGE_H
#define CRYPTBLK_TOOLS_IMAGE_H

#include <cryptblk/backend.h>
#include <cryptblk/loop.h>
#include <cryptblk/luks.h>
#include <stdbool.h>

struct image {
	const char *name;
	int fd;		    /* a file: the descriptor behind io; -1 for a remote */
	struct backend *be; /* the storage as a backend (a remote: also behind io) */
	bool be_taken;	    /* handed to the caller, who closes it */
	struct loop *loop;  /* a remote: runs io's requests */
	bool broken;	    /* the loop failed: nothing may run on it again */
	struct luks_io io;
};

/* Does `name` name a remote export rather than a file? */
bool image_is_uri(const char *name);

/* Open IMAGE: `io` for the LUKS metadata (synchronous: a file through its
 * descriptor, a remote through the backend on a private loop) and `be` for
 * serving. `reconnect_timeout_s` is the remote's (0: the default). Prints
 * one line and returns a negative errno on failure. */
int image_open(const char *name, bool writable, unsigned reconnect_timeout_s, struct image *img);

/* The backend, to outlive the image: the caller closes it after
 * image_close(). */
struct backend *image_take_backend(struct image *img);

void image_close(struct image *img);

/* How many threads (connections) may serve the image: `requested`, or one
 * per CPU when 0; a remote that does not allow multi-conn gets one, and an
 * explicit larger request is refused with a line on stderr. */
int image_serve_threads(const char *name, const struct backend *be, unsigned requested,
			unsigned *out);

#endif
