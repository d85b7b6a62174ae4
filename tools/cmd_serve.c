/* cryptblk serve: unlock a LUKS image and serve its plaintext over NBD or,
 * with --ublk, as a block device /dev/ublkbN (cmd_serve_ublk.c).
 *
 * The volume key is unlocked once, copied into one crypto engine per worker
 * thread (each opens its own volume over the shared file backend), and
 * wiped. SIGINT/SIGTERM stop the server cleanly: stop accepting, finish
 * requests in flight, flush, exit 0. With --run the server lives as long as
 * the command does (nbdkit's captive mode) and exits with its status. */
#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"
#include "serve.h"
#include "testfaults.h"

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/luks.h>
#include <cryptblk/nbd.h>
#include <cryptblk/osslmem.h>
#include <cryptblk/volume.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char serve_usage[] =
    "usage: cryptblk serve IMAGE [--key-file FILE] [--readonly [--shared-readonly]]\n"
    "       [--no-image-lock] [--pid-file FILE] [--run COMMAND]\n"
    "       [--crypto openssl|threads[:N]|virtio:PCI_ADDR] [--reconnect-timeout SECONDS]\n"
    "       [--poll-us MICROSECONDS]\n"
    "       (IMAGE: a file, a block device, or nbd://HOST[:PORT]/EXPORT,\n"
    "        nbds://..., nbd+unix:///EXPORT?socket=PATH)\n"
    "       --nbd unix:PATH|tcp:HOST:PORT [--export-name NAME] [--description TEXT]\n"
    "             [--threads N] [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]\n"
    "             [--insecure-plaintext] [--handshake-timeout SECONDS] [--max-connections N]\n"
    "     | --ublk[=ID] [--queues N] [--queue-depth N] [--ublk-copy auto|user|buffer]\n"
    "       (--crypto delay:TIME[,SPEC], e.g. delay:100us,openssl, is for benchmarks\n"
    "       only: it holds every job TIME before SPEC runs it)";

static atomic_bool serve_spill_warned;

int serve_volume_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
{
	struct serve_ctx *sc = ctx;
	struct crypto_engine *engine = NULL;
	int ret;

	ret = crypto_engine_open(sc->crypto_spec, &engine);
	if (ret < 0) {
		cli_error("serve: crypto engine '%s': %s", sc->crypto_spec, strerror(-ret));
		return ret;
	}
	ret = crypto_engine_set_key(engine, sc->layout.key_slot, sc->key->bytes, sc->key->len);
	if (ret == 0 && osslmem_spills() > 0 && !atomic_exchange(&serve_spill_warned, true))
		cli_error("warning: OpenSSL secure heap full: some key schedules are in ordinary "
			  "memory (raise CRYPTBLK_SECURE_HEAP_KIB)");
	if (ret == 0) {
		ret = crypto_engine_attach(engine, loop);
		if (ret == 0) {
			ret = volume_open(sc->be, engine, loop, &sc->layout, out);
			if (ret < 0)
				crypto_engine_detach(engine);
		}
	}
	if (ret < 0) {
		cli_error("serve: thread %u: volume: %s", index, strerror(-ret));
		crypto_engine_close(engine);
		return ret;
	}
	sc->engines[index] = engine;
	sc->loops[index] = loop;
	loop_set_poll(loop, sc->poll_us * 1000u);
	return 0;
}

void serve_volume_close(void *ctx, unsigned index, struct volume *vol)
{
	struct serve_ctx *sc = ctx;

	volume_close(vol);
	/* A remote backend keeps polls on this loop until told to let go. */
	backend_detach(sc->be, sc->loops[index]);
	crypto_engine_detach(sc->engines[index]);
	crypto_engine_close(sc->engines[index]); /* wipes its keys */
	sc->engines[index] = NULL;
}

static const struct nbd_thread_ops serve_thread_ops = {
    .open = serve_volume_open,
    .close = serve_volume_close,
};

/* Unlock the image: the volume key and where the data segment lies. */
static int serve_unlock(const struct serve_opts *o, struct serve_ctx *sc)
{
	struct luks_image img;
	struct luks_err err = {{0}};
	struct passphrase pass = {0};
	int rc, ret, slot;

	ret = luks_image_open(o->image, !o->read_only, o->reconnect_timeout, &img);
	if (ret)
		return ret;
	rc = passphrase_read(o->key_file, "Enter passphrase: ", false, &pass);
	if (rc) {
		ret = cli_exit_code(rc);
		goto out;
	}
	rc = luks_unlock(&img.io, img.hdr, pass.buf, pass.len, &sc->key, &slot, &err);
	if (rc == 0)
		rc = luks_layout(img.hdr, img.io.size, &sc->layout, &err);
	if (rc)
		ret = luks_cli_fail(rc, &err, o->image);
	else
		sc->be = image_take_backend(&img.image); /* to serve from */
out:
	passphrase_free(&pass);
	luks_image_close(&img);
	return ret;
}

/* "unix:PATH" or "tcp:HOST:PORT" ("[v6addr]:PORT" too) */
static int serve_listen(struct nbd_server *srv, const struct serve_opts *o, char *uri,
			size_t uri_len, const char **unix_path)
{
	const char *name = o->export_name ? o->export_name : "";
	const char *s = o->tls.cert_file ? "s" : ""; /* nbds:// means TLS */
	char host[256];
	const char *port;
	size_t hlen;

	*unix_path = NULL;
	if (!strncmp(o->nbd, "unix:", 5) && o->nbd[5]) {
		*unix_path = o->nbd + 5;
		snprintf(uri, uri_len, "nbd%s+unix:///%s?socket=%s", s, name, *unix_path);
		return nbd_server_listen_unix(srv, *unix_path);
	}
	if (strncmp(o->nbd, "tcp:", 4) || !(port = strrchr(o->nbd + 4, ':')) || !port[1]) {
		cli_error("serve: --nbd %s: not unix:PATH or tcp:HOST:PORT", o->nbd);
		return -EINVAL;
	}
	hlen = (size_t)(port - (o->nbd + 4));
	if (hlen >= sizeof(host)) {
		cli_error("serve: --nbd %s: host name too long", o->nbd);
		return -EINVAL;
	}
	memcpy(host, o->nbd + 4, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	snprintf(uri, uri_len, strchr(host, ':') ? "nbd%s://[%s]:%s/%s" : "nbd%s://%s:%s/%s", s,
		 host[0] ? host : "localhost", port + 1, name);
	return nbd_server_listen_tcp(srv, host, port + 1, o->insecure);
}

int serve_write_pid_file(const char *path)
{
	char tmp[4096];
	FILE *f;
	int ret = 0;

	/* Written under a temporary name and renamed, so a reader that sees
	 * the file sees the whole pid. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", (int)getpid()) < 0)
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

static void serve_child_exited(void *ctx)
{
	struct serve_child *ch = ctx;

	ch->stop(ch->srv);
}

/* Is `entry` ("NAME=VALUE") one of the variables in `env`? */
static bool serve_env_replaced(const char *entry, const char *const *env)
{
	for (; *env; env++) {
		size_t n = strcspn(*env, "=");

		if (!strncmp(entry, *env, n) && entry[n] == '=')
			return true;
	}
	return false;
}

/* Run `cmd` through /bin/sh with the variables of `env` ("NAME=VALUE",
 * NULL-terminated) set and those named bare ("NAME") removed, signals back
 * at their defaults; the server stops when it exits. */
int serve_run_start(struct serve_child *ch, const char *cmd, const char *const *env,
		    int (*watch)(void *srv, int fd, void (*fn)(void *ctx), void *ctx))
{
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	char **envp = NULL;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	size_t n = 0, extra = 0, k = 0;
	int ret;

	while (environ[n])
		n++;
	while (env[extra])
		extra++;
	envp = calloc(n + extra + 1, sizeof(*envp));
	if (!envp) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!serve_env_replaced(environ[i], env))
			envp[k++] = environ[i];
	for (size_t i = 0; i < extra; i++)
		if (strchr(env[i], '='))
			envp[k++] = (char *)env[i];
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	ret = -posix_spawn(&ch->pid, "/bin/sh", NULL, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	if (ret < 0) {
		cli_error("serve: --run: /bin/sh: %s", strerror(-ret));
		goto out;
	}
	ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (ch->pidfd < 0) {
		ret = -errno;
		cli_error("serve: --run: pidfd_open: %s", strerror(-ret));
		goto out;
	}
	ret = watch(ch->srv, ch->pidfd, serve_child_exited, ch);
out:
	free(envp);
	return ret;
}

static void serve_nbd_stop(void *srv)
{
	nbd_server_stop(srv);
}

static int serve_nbd_watch(void *srv, int fd, void (*fn)(void *ctx), void *ctx)
{
	return nbd_server_watch_fd(srv, fd, fn, ctx);
}

/* Wait for the command (ending it if the server stopped first) and turn
 * its fate into our exit code. */
int serve_run_finish(struct serve_child *ch)
{
	int status = 0;

	if (ch->pid <= 0)
		return CLI_EXIT_USAGE;
	if (waitpid(ch->pid, &status, WNOHANG) == 0) {
		kill(ch->pid, SIGTERM);
		waitpid(ch->pid, &status, 0);
	}
	if (ch->pidfd >= 0)
		close(ch->pidfd);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CLI_EXIT_USAGE;
}

static bool serve_engine_is_device(const char *spec)
{
	return spec && !strncmp(spec, "virtio:", 7);
}

/* What can be refused before asking for a passphrase. */
static int serve_check_early(const struct serve_opts *o)
{
	struct crypto_engine *engine = NULL;
	const char *colon;
	int ret;

	if (!o->nbd == !o->ublk) {
		cli_error("serve: give one of --nbd and --ublk");
		return -EINVAL;
	}
	if (o->ublk &&
	    (o->export_name || o->description || o->insecure || o->tls.cert_file ||
	     o->tls.key_file || o->tls.ca_file || o->handshake_timeout || o->max_connections)) {
		cli_error("serve: --export-name, --description, --insecure-plaintext, "
			  "--handshake-timeout, --max-connections and --tls-* are for --nbd");
		return -EINVAL;
	}
	if (o->nbd && (o->queue_depth || o->ublk_copy != UBLK_COPY_AUTO)) {
		cli_error("serve: --queue-depth and --ublk-copy are for --ublk");
		return -EINVAL;
	}
	if (o->shared_readonly && !o->read_only) {
		cli_error("serve: --shared-readonly needs --readonly");
		return -EINVAL;
	}
	if (o->shared_readonly && o->no_image_lock) {
		cli_error("serve: --shared-readonly and --no-image-lock exclude each other");
		return -EINVAL;
	}
	if (o->reconnect_timeout && !image_is_uri(o->image)) {
		cli_error("serve: --reconnect-timeout is for a remote IMAGE (an NBD URI)");
		return -EINVAL;
	}
	if (o->ublk)
		goto engine;
	if (strncmp(o->nbd, "unix:", 5) && strncmp(o->nbd, "tcp:", 4)) {
		cli_error("serve: --nbd %s: not unix:PATH or tcp:HOST:PORT", o->nbd);
		return -EINVAL;
	}
	colon = strrchr(o->nbd, ':');
	if (!strncmp(o->nbd, "tcp:", 4) && (colon == o->nbd + 3 || !colon[1])) {
		cli_error("serve: --nbd %s: no port", o->nbd);
		return -EINVAL;
	}
engine:
	if (!o->tls.cert_file != !o->tls.key_file || (o->tls.ca_file && !o->tls.cert_file)) {
		cli_error("serve: --tls-cert and --tls-key go together; --tls-ca needs both");
		return -EINVAL;
	}
	if (serve_engine_is_device(o->crypto) && o->threads > 1) {
		cli_error("serve: --crypto %s drives one device from one thread: use --threads 1 "
			  "(--queues 1 with --ublk)",
			  o->crypto);
		return -EINVAL;
	}
	ret = crypto_engine_open(o->crypto, &engine);
	if (ret < 0) {
		cli_error("serve: --crypto %s: %s", o->crypto, strerror(-ret));
		return ret;
	}
	crypto_engine_close(engine);
	return 0;
}

/* The options of --ublk. --queues is --threads by another name: one
 * thread per queue. */
static int serve_parse_ublk(int opt, const char *arg, struct serve_opts *o)
{
	uint32_t v;

	switch (opt) {
	case 'u':
		o->ublk = true;
		if (arg && (luks_cli_parse_u32(arg, &v) || v > (1u << 20))) {
			cli_error("serve: --ublk=%s: not a device number", arg);
			return -EINVAL;
		}
		o->ublk_id = arg ? (int)v : -1;
		return 0;
	case 'q':
		if (luks_cli_parse_u32(arg, &v) || v == 0 || v > 1024) {
			cli_error("serve: --queues %s: not a number from 1 to 1024", arg);
			return -EINVAL;
		}
		o->threads = v;
		return 0;
	case 'Q':
		if (luks_cli_parse_u32(arg, &v) || v == 0 || v > 4096) {
			cli_error("serve: --queue-depth %s: not a number from 1 to 4096", arg);
			return -EINVAL;
		}
		o->queue_depth = v;
		return 0;
	default:
		if (!strcmp(arg, "auto"))
			o->ublk_copy = UBLK_COPY_AUTO;
		else if (!strcmp(arg, "user"))
			o->ublk_copy = UBLK_COPY_USER;
		else if (!strcmp(arg, "buffer"))
			o->ublk_copy = UBLK_COPY_BUFFER;
		else {
			cli_error("serve: --ublk-copy %s: not auto, user or buffer", arg);
			return -EINVAL;
		}
		return 0;
	}
}

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'},
					     {"nbd", required_argument, NULL, 'n'},
					     {"crypto", required_argument, NULL, 'c'},
					     {"readonly", no_argument, NULL, 'r'},
					     {"shared-readonly", no_argument, NULL, 'S'},
					     {"no-image-lock", no_argument, NULL, 'L'},
					     {"export-name", required_argument, NULL, 'e'},
					     {"description", required_argument, NULL, 'D'},
					     {"threads", required_argument, NULL, 't'},
					     {"pid-file", required_argument, NULL, 'p'},
					     {"run", required_argument, NULL, 'R'},
					     {"insecure-plaintext", no_argument, NULL, 'I'},
					     {"ublk", optional_argument, NULL, 'u'},
					     {"queues", required_argument, NULL, 'q'},
					     {"queue-depth", required_argument, NULL, 'Q'},
					     {"ublk-copy", required_argument, NULL, 'C'},
					     {"tls-cert", required_argument, NULL, 'T'},
					     {"tls-key", required_argument, NULL, 'K'},
					     {"tls-ca", required_argument, NULL, 'A'},
					     {"handshake-timeout", required_argument, NULL, 'H'},
					     {"max-connections", required_argument, NULL, 'M'},
					     {"reconnect-timeout", required_argument, NULL, 'W'},
					     {"poll-us", required_argument, NULL, 'P'},
					     {0}};
	uint32_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->crypto = "openssl";
	o->ublk_id = -1;
	o->poll_us = SERVE_POLL_US_DEFAULT;
	while ((opt = getopt_long(argc, argv, "d:r", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
		case 'q':
		case 'Q':
		case 'C':
			if (serve_parse_ublk(opt, optarg, o) < 0)
				return -EINVAL;
			break;
		case 'd':
			o->key_file = optarg;
			break;
		case 'n':
			o->nbd = optarg;
			break;
		case 'c':
			o->crypto = optarg;
			break;
		case 'r':
			o->read_only = true;
			break;
		case 'S':
			o->shared_readonly = true;
			break;
		case 'L':
			o->no_image_lock = true;
			break;
		case 'e':
			o->export_name = optarg;
			break;
		case 'D':
			o->description = optarg;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'R':
			o->run = optarg;
			break;
		case 'I':
			o->insecure = true;
			break;
		case 'T':
			o->tls.cert_file = optarg;
			break;
		case 'K':
			o->tls.key_file = optarg;
			break;
		case 'A':
			o->tls.ca_file = optarg;
			break;
		case 'H':
			if (luks_cli_parse_u32(optarg, &v) || v == 0 || v > 3600) {
				cli_error("serve: --handshake-timeout %s: not a number of seconds "
					  "from 1 to 3600",
					  optarg);
				return -EINVAL;
			}
			o->handshake_timeout = v;
			break;
		case 'M':
			if (luks_cli_parse_u32(optarg, &v) || v == 0 || v > 65536) {
				cli_error(
				    "serve: --max-connections %s: not a number from 1 to 65536",
				    optarg);
				return -EINVAL;
			}
			o->max_connections = v;
			break;
		case 'W':
			if (luks_cli_parse_u32(optarg, &v) || v == 0 || v > 86400) {
				cli_error("serve: --reconnect-timeout %s: not a number of seconds "
					  "from 1 to 86400",
					  optarg);
				return -EINVAL;
			}
			o->reconnect_timeout = v;
			break;
		case 'P':
			if (luks_cli_parse_u32(optarg, &v) || v > SERVE_POLL_US_MAX) {
				cli_error("serve: --poll-us %s: not a number from 0 to %u", optarg,
					  SERVE_POLL_US_MAX);
				return -EINVAL;
			}
			o->poll_us = v;
			break;
		case 't':
			if (luks_cli_parse_u32(optarg, &v) || v == 0 || v > 1024) {
				cli_error("serve: --threads %s: not a number from 1 to 1024",
					  optarg);
				return -EINVAL;
			}
			o->threads = v;
			break;
		default:
			cli_error("%s", serve_usage);
			return -EINVAL;
		}
	}
	if (optind + 1 != argc || (!o->nbd && !o->ublk)) {
		cli_error("%s", serve_usage);
		return -EINVAL;
	}
	o->image = argv[optind];
	return serve_check_early(o);
}

/* Everything after the key is known: server, listener, pid file, command. */
static int serve_main(const struct serve_opts *o, struct serve_ctx *sc, struct nbd_tls *tls,
		      const sigset_t *sigs)
{
	struct nbd_server_config cfg = {
	    .export_name = o->export_name,
	    .description = o->description,
	    .read_only = o->read_only,
	    .threads = o->threads,
	    .handshake_timeout = o->handshake_timeout,
	    .max_connections = o->max_connections,
	    .tls = tls,
	    .ops = &serve_thread_ops,
	    .ctx = sc,
	};
	struct serve_child child = {.pid = -1, .pidfd = -1, .stop = serve_nbd_stop};
	struct nbd_server *srv = NULL;
	const char *unix_path;
	char uri[4400];
	bool wrote_pid = false;
	int rc, ret = CLI_EXIT_OK;

	rc = nbd_server_create(&cfg, &srv);
	/* Every engine holds its own copy now (or none does): wipe ours. */
	luks_key_free(sc->key);
	sc->key = NULL;
	if (rc == 0)
		rc = nbd_server_watch_signals(srv, sigs);
	if (rc == 0)
		rc = serve_listen(srv, o, uri, sizeof(uri), &unix_path);
	if (rc == 0 && o->pid_file) {
		rc = serve_write_pid_file(o->pid_file);
		if (rc < 0)
			cli_error("serve: pid file %s: %s", o->pid_file, strerror(-rc));
		else
			wrote_pid = true;
	}
	if (rc == 0 && o->run) {
		char uri_env[4500], sock_env[4200];
		const char *env[] = {uri_env, unix_path ? sock_env : "unixsocket", NULL};

		snprintf(uri_env, sizeof(uri_env), "uri=%s", uri);
		snprintf(sock_env, sizeof(sock_env), "unixsocket=%s", unix_path ? unix_path : "");
		child.srv = srv;
		rc = serve_run_start(&child, o->run, env, serve_nbd_watch);
	}
	if (rc == 0)
		rc = nbd_server_run(srv);
	if (rc < 0) {
		ret = cli_exit_code(rc);
		if (srv)
			nbd_server_stop(srv);
	}
	if (child.pid > 0) {
		int status = serve_run_finish(&child);

		if (rc == 0)
			ret = status;
	}
	rc = nbd_server_destroy(srv);
	if (rc < 0 && ret == CLI_EXIT_OK) {
		cli_error("serve: %s", strerror(-rc));
		ret = cli_exit_code(rc);
	}
	if (wrote_pid) /* never another instance's */
		unlink(o->pid_file);
	return ret;
}

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o;
	struct serve_ctx sc = {0};
	struct nbd_tls *tls = NULL;
	sigset_t sigs;
	int lock_fd = -1, rc, ret;

	if (serve_parse(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	/* A VFIO device is driven by one engine, and an engine by one loop. */
	if (serve_engine_is_device(o.crypto))
		o.threads = 1;
	/* Unusable certificates are refused before the passphrase is asked. */
	if (o.tls.cert_file) {
		rc = nbd_tls_create(&o.tls, &tls);
		if (rc < 0)
			return rc == -ENOMEM ? CLI_EXIT_NO_MEM : CLI_EXIT_USAGE;
	}
	/* Held until we exit: a second serve of the image is refused before
	 * it asks for a passphrase. */
	rc = o.no_image_lock
		 ? 0
		 : image_lock(o.image, o.shared_readonly ? IMAGE_LOCK_SHARED : IMAGE_LOCK_EXCLUSIVE,
			      "serve", &lock_fd);
	if (rc < 0) {
		ret = cli_exit_code(rc);
		goto out;
	}
	ret = serve_unlock(&o, &sc);
	if (ret)
		goto out;
	rc = testfaults_backend_wrap(&sc.be); /* test only: CRYPTBLK_TEST_FAULTS */
	if (rc < 0) {
		ret = cli_exit_code(rc);
		goto out;
	}
	sc.crypto_spec = o.crypto;
	sc.poll_us = o.poll_us;
	rc = image_serve_threads(o.image, sc.be, o.threads, &sc.nr_engines);
	if (rc < 0) {
		ret = cli_exit_code(rc);
		goto out;
	}
	o.threads = sc.nr_engines;
	sc.engines = calloc(sc.nr_engines, sizeof(*sc.engines));
	sc.loops = calloc(sc.nr_engines, sizeof(*sc.loops));
	if (!sc.engines || !sc.loops) {
		ret = cli_exit_code(-ENOMEM);
		goto out;
	}
	/* Block the stop signals before any thread exists, so every worker
	 * inherits the mask and only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ret = o.ublk ? serve_main_ublk(&o, &sc, &sigs) : serve_main(&o, &sc, tls, &sigs);
out:
	luks_key_free(sc.key);
	backend_close(sc.be);
	free(sc.engines);
	free(sc.loops);
	nbd_tls_free(tls);
	if (lock_fd >= 0)
		close(lock_fd);
	return ret;
}
