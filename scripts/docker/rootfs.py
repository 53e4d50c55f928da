#!/usr/bin/env python3
"""Make the root filesystem of the selfharness image from this machine's Debian packages.

No registry is reachable, so the image has no base to pull: this copies the installed files of
the packages in packages.txt and of their dependency closure (Depends and Pre-Depends; the
installed alternative of `a | b`; the installed provider of a virtual package), leaves out
documentation, and adds what maintainer scripts would have made (passwd/group, alternatives
symlinks, ld.so.cache). The image is therefore as Debian as this machine.

    rootfs.py OUT_DIR      writes OUT_DIR/rootfs.tar, OUT_DIR/rootfs.stamp, OUT_DIR/packages.lock
    rootfs.py --missing    prints the listed packages that are not installed here

The stamp hashes the closure's names and versions and this script with its package list; when it
matches, nothing is rebuilt.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# The merged-/usr symlinks (bin -> usr/bin, ...) are made here, like the host's.
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# The image's unprivileged user (validator, nats-server; /data is its store).
USER_ID = 1000


def read(path):
    with open(path) as f:
        return f.read()


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def package_list():
    """packages.txt as (roots, pruned packages, pruned path prefixes)."""
    roots, pruned, paths = [], set(), []
    with open(os.path.join(HERE, "packages.txt")) as f:
        for line in f:
            item = line.split("#")[0].strip()
            if item.startswith("-"):
                pruned.add(item[1:])
            elif item.startswith("!"):
                paths.append(item[1:])
            elif item:
                roots.append(item)
    return roots, pruned, tuple(paths)


def installed():
    """name -> (binary:Package, version, arch, [dependency clauses]); and virtual -> providers."""
    native = sh("dpkg", "--print-architecture").strip()
    fields = ("db:Status-Status", "binary:Package", "Package", "Version", "Architecture",
              "Provides", "Pre-Depends", "Depends")
    fmt = "\t".join("${%s}" % f for f in fields) + "\n"
    pkgs, provides = {}, {}
    for line in sh("dpkg-query", "-W", "-f", fmt).splitlines():
        status, bin_name, name, version, arch, prov, pre, dep = line.split("\t")
        if status != "installed" or arch not in (native, "all"):
            continue
        clauses = [c for c in (pre + "," + dep).split(",") if c.strip()]
        pkgs[name] = (bin_name, version, arch, clauses)
        for p in prov.split(","):
            if p.strip():
                provides.setdefault(bare(p), []).append(name)
    return pkgs, provides


def bare(spec):
    """`libfoo:any (>= 1) [amd64] <!nocheck>` -> `libfoo`."""
    return re.split(r"[\s(:\[<]", spec.strip(), maxsplit=1)[0]


def closure(pkgs, provides, wanted, pruned):
    seen, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name in seen or name in pruned:
            continue
        seen.add(name)
        for clause in pkgs[name][3]:
            choice = None
            for alt in clause.split("|"):
                n = bare(alt)
                if n in pkgs:
                    choice = n
                elif provides.get(n):
                    choice = sorted(provides[n])[0]
                if choice:
                    break
            if choice is None:
                sys.exit(f"rootfs: {name} needs `{clause.strip()}`, which is not installed")
            todo.append(choice)
    return sorted(seen)


def excluded_path(path, excluded):
    return any(path == e or (e.endswith("/") and path.startswith(e)) or path + "/" == e
               for e in excluded)


def canonical(path):
    """The path with its directory resolved on this machine (/bin/bash -> /usr/bin/bash)."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def files_of(pkgs, names, excluded):
    out = set()
    listing = sh("dpkg-query", "-L", *[pkgs[n][0] for n in names])
    for line in listing.splitlines():
        if line.startswith("diverted by ") and " to: " in line:
            line = line.split(" to: ", 1)[1]
        if not line.startswith("/") or line == "/.":
            continue
        p = canonical(line)
        if p.strip("/") in TOP_LINKS or excluded_path(p, excluded):
            continue
        if not os.path.lexists(p):
            continue
        if os.path.isdir(p) and not os.path.islink(p) and not os.access(p, os.R_OK | os.X_OK):
            continue  # /root, /var/cache/ldconfig for a non-root user: their parents suffice
        if not os.path.islink(p) and not os.access(p, os.R_OK):
            sys.exit(f"rootfs: cannot read {p} (run as root)")
        out.add(p)
    # Python's compiled stdlib is made by a maintainer script; without it every python3 in a
    # read-only sandbox would compile what it imports again.
    for p in list(out):
        if p.endswith(".py") and p.startswith("/usr/lib/python3"):
            d, stem = os.path.dirname(p), os.path.basename(p)[:-3]
            cache = os.path.join(d, "__pycache__")
            if os.path.isdir(cache):
                for f in os.listdir(cache):
                    if f.startswith(stem + ".cpython-") and f.endswith(".pyc") and ".opt-" not in f:
                        out.add(os.path.join(cache, f))
    return sorted(out)


def alternatives(stage, excluded):
    """The /etc/alternatives links (and the links to them) whose chosen target is in the image."""
    admin = "/var/lib/dpkg/alternatives"
    links = {}
    for name in os.listdir(admin):
        with open(os.path.join(admin, name)) as f:
            lines = f.read().split("\n")
        links[name] = lines[1]
        i = 2
        while i + 1 < len(lines) and lines[i]:
            links[lines[i]] = lines[i + 1]
            i += 2
    for name, link in sorted(links.items()):
        alt = os.path.join("/etc/alternatives", name)
        if not os.path.islink(alt) or excluded_path(canonical(link), excluded):
            continue
        target = os.readlink(alt)
        if not os.path.lexists(stage + target):
            continue
        for path, to in ((alt, target), (canonical(link), alt)):
            dst = stage + path
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.lexists(dst):
                os.remove(dst)
            os.symlink(to, dst)


def finish(stage, excluded):
    for top in TOP_LINKS:
        if os.path.islink("/" + top):
            os.symlink(os.readlink("/" + top), os.path.join(stage, top))
    for d, mode in (("tmp", 0o1777), ("var/tmp", 0o1777), ("root", 0o700), ("home", 0o755),
                    ("run", 0o755), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755),
                    ("opt/selfharness", 0o755), ("usr/local/bin", 0o755), ("data", 0o755)):
        os.makedirs(os.path.join(stage, d), exist_ok=True)
        os.chmod(os.path.join(stage, d), mode)
    # Debian's default users, and the unprivileged user the validator and nats-server run as.
    for f, entry in (("passwd", f"selfharness:x:{USER_ID}:{USER_ID}::/tmp:/usr/sbin/nologin\n"),
                     ("group", f"selfharness:x:{USER_ID}:\n")):
        with open(f"/usr/share/base-passwd/{f}.master") as src:
            text = src.read()
        with open(os.path.join(stage, "etc", f), "w") as dst:
            dst.write(text + entry)
    with open(os.path.join(stage, "etc/nsswitch.conf"), "w") as f:
        f.write("passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n")
    alternatives(stage, excluded)
    sh("ldconfig", "-r", stage)


def smoke(stage):
    """Every tool the image exists for starts in it (a missing library shows here, not later)."""
    checks = " && ".join([
        "bwrap --version", "setpriv --version", "mount --version", "nats-server --version",
        "python3 -c 'import json, csv, sqlite3'",
        "echo 'int main(void){return 0;}' | cc -x c -o /tmp/t - && /tmp/t", "make --version",
        "git --version", "jq --version", "awk 'BEGIN{}'", "tar --version", "gzip --version",
        "diff --version",
    ])
    r = subprocess.run(["bwrap", "--bind", stage, "/", "--dev", "/dev", "--proc", "/proc",
                        "--tmpfs", "/tmp", "--clearenv", "--setenv", "PATH", "/usr/bin:/usr/sbin",
                        "/bin/bash", "-c", checks + " >/dev/null"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"rootfs: smoke test failed in {stage}:\n{r.stderr}")


def main():
    pkgs, provides = installed()
    roots, pruned, excluded = package_list()
    missing = [r for r in roots if r not in pkgs]
    if sys.argv[1:] == ["--missing"]:
        print(" ".join(missing))
        return
    if missing:
        sys.exit(f"rootfs: not installed here: {' '.join(missing)}")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    names = closure(pkgs, provides, roots, pruned)
    lock = "".join(f"{n} {pkgs[n][1]} {pkgs[n][2]}\n" for n in names)
    h = hashlib.sha256(lock.encode())
    for f in ("rootfs.py", "packages.txt"):
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    stamp = h.hexdigest()
    tar, stamp_file = os.path.join(out, "rootfs.tar"), os.path.join(out, "rootfs.stamp")
    if os.path.exists(tar) and os.path.exists(stamp_file) and read(stamp_file).strip() == stamp:
        print(f"rootfs: up to date ({len(names)} packages, stamp {stamp[:12]})", file=sys.stderr)
        return
    files = files_of(pkgs, names, excluded)
    stage = tempfile.mkdtemp(prefix="rootfs.", dir=out)
    os.chmod(stage, 0o755)
    try:
        with tempfile.NamedTemporaryFile("w", dir=out, suffix=".list") as lst:
            lst.write("".join(p.lstrip("/") + "\0" for p in files))
            lst.flush()
            subprocess.run(["bash", "-c", "set -o pipefail; tar -C / --no-recursion --null -T \"$1\" "
                            "-cf - | tar -C \"$2\" -xpf -", "copy", lst.name, stage], check=True)
        finish(stage, excluded)
        smoke(stage)
        # Everything belongs to root but /data, nats-server's store, which is the user's.
        own = ("--numeric-owner", "--owner=0", "--group=0")
        sh("tar", "-C", stage, "--sort=name", *own, "--exclude=./data", "-cf", tar + ".tmp", ".")
        own = ("--numeric-owner", f"--owner={USER_ID}", f"--group={USER_ID}")
        sh("tar", "-C", stage, *own, "-rf", tar + ".tmp", "./data")
        os.replace(tar + ".tmp", tar)
    finally:
        shutil.rmtree(stage)
    with open(os.path.join(out, "packages.lock"), "w") as f:
        f.write(lock)
    with open(stamp_file, "w") as f:
        f.write(stamp + "\n")
    mb = os.path.getsize(tar) / 1e6
    print(f"rootfs: {len(names)} packages, {len(files)} files, {mb:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
