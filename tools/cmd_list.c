/* cryptblk list: the block devices this host serves from user space (ublk),
 * and which of them a cryptblk process serves. */
#include "cli.h"

#include <cryptblk/ublk.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static bool list_is_cryptblk(const struct ublk_dev_entry *e)
{
	return strcmp(e->comm, "cryptblk") == 0;
}

static void list_json(const struct ublk_dev_entry *d, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++) {
		const struct ublk_dev_entry *e = &d[i];

		printf("%s{\"device\":\"/dev/ublkb%d\",\"id\":%d,\"state\":\"%s\",\"size\":%llu,"
		       "\"block_size\":%u,\"queues\":%u,\"queue_depth\":%u,\"flags\":%llu,"
		       "\"pid\":%d,\"server\":\"%s\",\"cryptblk\":%s}",
		       i ? "," : "", e->dev_id, e->dev_id, ublk_state_name(e->state),
		       (unsigned long long)e->size, e->block_size, e->queues, e->depth,
		       (unsigned long long)e->flags, e->pid, e->comm,
		       list_is_cryptblk(e) ? "true" : "false");
	}
	printf("]\n");
}

static void list_text(const struct ublk_dev_entry *d, size_t n)
{
	printf("%-14s %-8s %10s %6s %7s %7s  %s\n", "DEVICE", "STATE", "SIZE", "SECTOR", "QUEUES",
	       "PID", "SERVER");
	for (size_t i = 0; i < n; i++) {
		const struct ublk_dev_entry *e = &d[i];
		char dev[24], size[24] = "-", queues[24] = "-", pid[16] = "-", server[32] = "-";

		snprintf(dev, sizeof(dev), "/dev/ublkb%d", e->dev_id);
		if (e->size)
			list_size(e->size, size, sizeof(size));
		if (e->queues)
			snprintf(queues, sizeof(queues), "%ux%u", e->queues, e->depth);
		if (e->pid > 0)
			snprintf(pid, sizeof(pid), "%d", e->pid);
		/* Which server: cryptblk, another program (by its name), or
		 * none left (a device whose server died). */
		if (list_is_cryptblk(e))
			snprintf(server, sizeof(server), "cryptblk");
		else if (e->comm[0])
			snprintf(server, sizeof(server), "other (%s)", e->comm);
		printf("%-14s %-8s %10s %6u %7s %7s  %s\n", dev, ublk_state_name(e->state), size,
		       e->block_size, queues, pid, server);
	}
}

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {0}};
	struct ublk_dev_entry *devs;
	size_t n;
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j') {
			cli_error("usage: cryptblk list [--json]");
			return CLI_EXIT_USAGE;
		}
		json = true;
	}
	if (optind != argc) {
		cli_error("usage: cryptblk list [--json]");
		return CLI_EXIT_USAGE;
	}
	rc = ublk_list_devices(&devs, &n);
	if (rc) {
		cli_error("ublk devices: %s", strerror(-rc));
		return cli_exit_code(rc);
	}
	if (json)
		list_json(devs, n);
	else
		list_text(devs, n);
	free(devs);
	return CLI_EXIT_OK;
}
