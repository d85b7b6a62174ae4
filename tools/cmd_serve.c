/* cryptblk serve: unlock a LUKS image and serve its plaintext over NBD.
 *
 * The volume key is unlocked once, copied into one crypto engine per worker
 * thread (each opens its own volume over the shared file backend), and
 * wiped. SIGINT/SIGTERM stop the server cleanly: stop accepting, finish
 * requests in flight, flush, exit 0. With --run the server lives as long as
 * the command does (nbdkit's captive mode) and exits with its status. */
#include "cli.h"
#include "cmd_luks.h"
#include "passphrase.h"

#include <cryptblk/backend.h>
#include <cryptblk/crypto.h>
#include <cryptblk/luks.h>
#include <cryptblk/nbd.h>
#include <cryptblk/volume.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char serve_usage[] =
    "usage: cryptblk serve IMAGE [--key-file FILE] --nbd unix:PATH|tcp:HOST:PORT\n"
    "       [--crypto openssl|threads[:N]] [--readonly] [--export-name NAME]\n"
    "       [--description TEXT] [--threads N] [--pid-file FILE] [--run COMMAND]\n"
    "       [--insecure-plaintext]\n"
    "       (--crypto delay:TIME[,SPEC], e.g. delay:100us,openssl, is for benchmarks\n"
    "       only: it holds every job TIME before SPEC runs it)";

struct serve_opts {
	const char *image, *key_file, *nbd, *crypto, *export_name, *description;
	const char *pid_file, *run;
	bool read_only, insecure;
	unsigned threads;
};

/* What every worker thread needs to open its volume. */
struct serve_ctx {
	const char *crypto_spec;
	struct backend *be;
	struct volume_layout layout;
	struct luks_key *key; /* until every worker has copied it */
	struct crypto_engine **engines;
	unsigned nr_engines;
};

static int serve_volume_open(void *ctx, unsigned index, struct loop *loop, struct volume **out)
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
	return 0;
}

static void serve_volume_close(void *ctx, unsigned index, struct volume *vol)
{
	struct serve_ctx *sc = ctx;

	volume_close(vol);
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

	ret = luks_image_open(o->image, !o->read_only, &img);
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
	char host[256];
	const char *port;
	size_t hlen;

	*unix_path = NULL;
	if (!strncmp(o->nbd, "unix:", 5) && o->nbd[5]) {
		*unix_path = o->nbd + 5;
		snprintf(uri, uri_len, "nbd+unix:///%s?socket=%s", name, *unix_path);
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
	snprintf(uri, uri_len, strchr(host, ':') ? "nbd://[%s]:%s/%s" : "nbd://%s:%s/%s",
		 host[0] ? host : "localhost", port + 1, name);
	return nbd_server_listen_tcp(srv, host, port + 1, o->insecure);
}

static int serve_write_pid_file(const char *path)
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

struct serve_child {
	pid_t pid;
	int pidfd;
	struct nbd_server *srv;
};

static void serve_child_exited(void *ctx)
{
	struct serve_child *ch = ctx;

	nbd_server_stop(ch->srv);
}

/* Run `cmd` through /bin/sh with $uri and $unixsocket set, signals back at
 * their defaults; the server stops when it exits. */
static int serve_run_start(struct serve_child *ch, const char *cmd, const char *uri,
			   const char *unix_path)
{
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	char **envp = NULL, *uri_env = NULL, *sock_env = NULL;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	size_t n = 0, k = 0;
	int ret;

	while (environ[n])
		n++;
	envp = calloc(n + 3, sizeof(*envp));
	if (!envp || asprintf(&uri_env, "uri=%s", uri) < 0 ||
	    asprintf(&sock_env, "unixsocket=%s", unix_path ? unix_path : "") < 0) {
		ret = -ENOMEM;
		uri_env = sock_env = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "uri=", 4) && strncmp(environ[i], "unixsocket=", 11))
			envp[k++] = environ[i];
	envp[k++] = uri_env;
	if (unix_path)
		envp[k++] = sock_env;
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
	ret = nbd_server_watch_fd(ch->srv, ch->pidfd, serve_child_exited, ch);
out:
	free(uri_env);
	free(sock_env);
	free(envp);
	return ret;
}

/* Wait for the command (ending it if the server stopped first) and turn
 * its fate into our exit code. */
static int serve_run_finish(struct serve_child *ch)
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

/* What can be refused before asking for a passphrase. */
static int serve_check_early(const struct serve_opts *o)
{
	struct crypto_engine *engine = NULL;
	const char *colon;
	int ret;

	if (strncmp(o->nbd, "unix:", 5) && strncmp(o->nbd, "tcp:", 4)) {
		cli_error("serve: --nbd %s: not unix:PATH or tcp:HOST:PORT", o->nbd);
		return -EINVAL;
	}
	colon = strrchr(o->nbd, ':');
	if (!strncmp(o->nbd, "tcp:", 4) && (colon == o->nbd + 3 || !colon[1])) {
		cli_error("serve: --nbd %s: no port", o->nbd);
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

static int serve_parse(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {{"key-file", required_argument, NULL, 'd'},
					     {"nbd", required_argument, NULL, 'n'},
					     {"crypto", required_argument, NULL, 'c'},
					     {"readonly", no_argument, NULL, 'r'},
					     {"export-name", required_argument, NULL, 'e'},
					     {"description", required_argument, NULL, 'D'},
					     {"threads", required_argument, NULL, 't'},
					     {"pid-file", required_argument, NULL, 'p'},
					     {"run", required_argument, NULL, 'R'},
					     {"insecure-plaintext", no_argument, NULL, 'I'},
					     {0}};
	uint32_t v;
	int opt;

	memset(o, 0, sizeof(*o));
	o->crypto = "openssl";
	while ((opt = getopt_long(argc, argv, "d:r", opts, NULL)) != -1) {
		switch (opt) {
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
	if (optind + 1 != argc || !o->nbd) {
		cli_error("%s", serve_usage);
		return -EINVAL;
	}
	o->image = argv[optind];
	return serve_check_early(o);
}

/* Everything after the key is known: server, listener, pid file, command. */
static int serve_main(const struct serve_opts *o, struct serve_ctx *sc, const sigset_t *sigs)
{
	struct nbd_server_config cfg = {
	    .export_name = o->export_name,
	    .description = o->description,
	    .read_only = o->read_only,
	    .threads = o->threads,
	    .ops = &serve_thread_ops,
	    .ctx = sc,
	};
	struct serve_child child = {.pid = -1, .pidfd = -1};
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
		child.srv = srv;
		rc = serve_run_start(&child, o->run, uri, unix_path);
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
	sigset_t sigs;
	long cpus;
	int rc, ret;

	if (serve_parse(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	ret = serve_unlock(&o, &sc);
	if (ret)
		return ret;
	sc.crypto_spec = o.crypto;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sc.nr_engines = o.threads ? o.threads : (cpus > 0 ? (unsigned)cpus : 1);
	o.threads = sc.nr_engines;
	sc.engines = calloc(sc.nr_engines, sizeof(*sc.engines));
	if (!sc.engines) {
		ret = cli_exit_code(-ENOMEM);
		goto out;
	}
	rc = backend_file_open(o.image, o.read_only ? BACKEND_FILE_READONLY : 0, &sc.be);
	if (rc < 0) {
		cli_error("serve: %s: %s", o.image, strerror(-rc));
		ret = cli_exit_code(rc);
		goto out;
	}
	/* Block the stop signals before any thread exists, so every worker
	 * inherits the mask and only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ret = serve_main(&o, &sc, &sigs);
out:
	luks_key_free(sc.key);
	backend_close(sc.be);
	free(sc.engines);
	return ret;
}
