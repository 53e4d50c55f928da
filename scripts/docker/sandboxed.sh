#!/bin/sh
# Entrypoint of the validator container: `sandboxed selfharness validator ...`.
#
# bubblewrap mounts a fresh /proc in every sandbox, and the kernel refuses that mount while the
# container's own /proc has Docker's masks over it (/proc/acpi, /proc/sys read-only, ...): a new
# procfs may not reveal what a mount hides. `docker run --security-opt systempaths=unconfined`
# removes the masks, but docker-compose v1 rejects that option. So this script, started with
# CAP_SYS_ADMIN, mounts an unmasked procfs over /proc once, then runs the command as the
# unprivileged `selfharness` user: the capability ends here, and sandboxed commands run as that
# user (mapped to itself in bwrap's user namespace), never as root.
set -eu
if [ "$(id -u)" = 0 ]; then
  mount -t proc proc /proc 2>/dev/null || {
    echo "sandboxed: cannot mount /proc (start the container with cap_add SYS_ADMIN and" \
      "security_opt seccomp=unconfined, as docker-compose.yml does)" >&2
    exit 1
  }
  exec setpriv --reuid=selfharness --regid=selfharness --init-groups --bounding-set=-all \
    --no-new-privs -- "$@"
fi
exec "$@"
