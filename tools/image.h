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

/* Advisory locks between cryptblk processes on one image (flock(2) on the
 * file or device node, so every path and hard link to it counts). A
 * command that writes the image (serve, format, add-key, remove-key) holds
 * an exclusive lock; `serve --readonly --shared-readonly` a shared one, so
 * such serves may coexist while anything that writes is refused. A remote
 * image is not locked here: its server decides who may open it. */
enum image_lock_mode {
	IMAGE_LOCK_EXCLUSIVE,
	IMAGE_LOCK_SHARED,
};

/* Lock IMAGE for `what` (the command, for the message). *fd receives the
 * descriptor that holds the lock (-1 for a remote image); closing it (or
 * exiting) releases the lock. -EBUSY, after one line on stderr, when
 * another process holds a conflicting lock. */
int image_lock(const char *name, enum image_lock_mode mode, const char *what, int *fd);

/* The same on a descriptor the caller already has open on the image. */
int image_lock_fd(int fd, const char *name, enum image_lock_mode mode, const char *what);

/* How many threads (connections) may serve the image: `requested`, or one
 * per CPU when 0; a remote that does not allow multi-conn gets one, and an
 * explicit larger request is refused with a line on stderr. */
int image_serve_threads(const char *name, const struct backend *be, unsigned requested,
			unsigned *out);

#endif
