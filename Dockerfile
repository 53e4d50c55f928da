# The one selfharness image: every role (`coordinator`, `miner`, `proposer`, `validator`, the
# `run` client, and nats-server with entrypoint `nats-server`). Build it with
# scripts/docker-build.sh, which first makes target/docker/rootfs.tar from this machine's Debian
# packages (scripts/docker/packages.txt): no registry is reachable, so there is no base image to
# pull.
FROM scratch
ADD target/docker/rootfs.tar /
# The suite, flaw profiles and harnesses change less often than the binary: separate layers.
COPY tasks/ /opt/selfharness/tasks/
COPY profiles/ /opt/selfharness/profiles/
COPY harnesses/ /opt/selfharness/harnesses/
COPY scripts/docker/sandboxed.sh /usr/local/bin/sandboxed
COPY target/docker/selfharness /usr/local/bin/selfharness
WORKDIR /opt/selfharness
# NO_COLOR: plain logs for `docker logs`.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    NO_COLOR=1
# The validator finishes cleanly on SIGINT (its jobs in progress go back to the bus).
STOPSIGNAL SIGINT
EXPOSE 4222
ENTRYPOINT ["selfharness"]
CMD ["--help"]
