#!/usr/bin/env bash
# `make run`: format a demo LUKS2 volume once (under build/demo, with a
# generated key file), serve it over NBD on a unix socket, and print how to
# attach. Ctrl-C stops the server cleanly.
set -euo pipefail

cryptblk=${CRYPTBLK:-build/cryptblk}
demo=${DEMO_DIR:-build/demo}
size=${DEMO_SIZE:-1G}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
key="$demo/key"
image="$demo/volume.img"
sock="$demo/nbd.sock"

if [ ! -s "$image" ]; then
	(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key")
	echo "demo: formatting $image ($size, LUKS2, cryptsetup's defaults; the key is in $key)"
	"$cryptblk" format "$image" --size "$size" --key-file "$key" --label cryptblk-demo
fi

uri="nbd+unix:///?socket=$sock"
cat <<MSG
demo: serving $image on $sock
  look at it:      nbdinfo '$uri'
  copy into it:    nbdcopy some.img '$uri'
  attach it:       modprobe nbd && nbd-client -unix $sock /dev/nbd0 -b 4096   (then mkfs/mount /dev/nbd0)
  benchmark it:    fio --name=r --ioengine=nbd --uri='$uri' --rw=randread --bs=4k --iodepth=32 --time_based --runtime=10
  open it elsewhere: cryptsetup open $image demo --key-file $key
Ctrl-C stops the server.
MSG
exec "$cryptblk" serve "$image" --key-file "$key" --nbd "unix:$sock"
