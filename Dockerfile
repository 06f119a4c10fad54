# tessera-radiusd: the RADIUS server and the tessera CLI on Debian 12 (bookworm), running as
# the system user tessera-radiusd (uid/gid 1812), the key, database and client secrets on the
# volume /var/lib/tessera-radiusd, the configuration mounted read-only at /etc/tessera.
# docs/radius.md, "Container", explains each step. Lint: scripts/lint-dockerfile.sh.
#
# Build (from the repository root):
#   docker build -t tessera-radiusd .
#
# Configure: a host directory with radiusd.toml (start from packaging/docker/radiusd.toml, which
# has the health check's 127.0.0.1 client), root's, mode 0755/0644, holding nothing secret:
#   install -d -m 0755 /srv/tessera
#   install -m 0644 packaging/docker/radiusd.toml /srv/tessera/radiusd.toml
#
# Create the secrets, then the key and the database, inside the volume, as uid 1812:
#   docker run --rm -v tessera-data:/var/lib/tessera-radiusd --entrypoint /bin/sh tessera-radiusd \
#     -c 'umask 077 && mkdir -p /var/lib/tessera-radiusd/secrets &&
#         head -c 32 /dev/urandom | base64 > /var/lib/tessera-radiusd/secrets/healthcheck.secret'
#   docker run --rm -v tessera-data:/var/lib/tessera-radiusd -v /srv/tessera:/etc/tessera:ro \
#     --entrypoint /usr/bin/tessera tessera-radiusd init
#
# Run, published on one host address only:
#   docker run -d --name tessera-radiusd --restart unless-stopped \
#     -p 192.0.2.10:1812:1812/udp \
#     -v tessera-data:/var/lib/tessera-radiusd -v /srv/tessera:/etc/tessera:ro tessera-radiusd
#   docker exec -it tessera-radiusd tessera user add alice      # then user passwd, enroll totp
#   docker kill --signal HUP tessera-radiusd                    # after changing the config
#
# WARNING, the key file. The server runs as uid/gid 1812 and must read a key (and secrets) that
# nobody else may read. Create them inside the volume as above: they then belong to 1812 inside
# the volume and never exist on the host filesystem as files a host account could read. Or hand
# them in as podman secrets (--secret NAME,uid=1812,gid=1812,mode=0400) or swarm secrets. Never
# `chgrp 1812` (or chown) a host key or secret file to make it readable in the container: uid
# and gid 1812 on the host may be an unrelated user or group, which could then read it.
#
# WARNING, publishing. `-p 1812:1812/udp` publishes the port on every host interface. Publish
# on the one address the NASes use (-p 192.0.2.10:1812:1812/udp) and list only the NASes'
# addresses in [[radius.clients]] (never a wide network).

# The toolchain CI uses (rustc 1.95.0); bump both together.
FROM rust:1.95.0-bookworm AS build
# pkg-config and libudev-dev: the CLI's FIDO2 support builds hidapi's hidraw backend
# (scripts/install-deps.sh lists the workspace's build packages; libpam0g-dev is for the PAM
# module, which is not in this image). No pins: bookworm's security updates replace versions.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libudev-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Exactly CI's release build of these binaries: bench/radius-setup.sh (radius_build), which
# .ci/run reaches through scripts/bench-smoke.sh. scripts/lint-dockerfile.sh checks they match.
RUN cargo build --release --locked -q -p tessera-cli -p tessera-radiusd --bins

FROM debian:bookworm-slim
# libudev1: the tessera CLI links it (FIDO2 security keys). No pins, as above.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libudev1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1812 tessera-radiusd \
 && useradd --system --uid 1812 --gid 1812 --no-create-home \
      --home-dir /var/lib/tessera-radiusd --shell /usr/sbin/nologin tessera-radiusd \
 && install -d -o 1812 -g 1812 -m 0700 /var/lib/tessera-radiusd \
 && install -d -m 0755 /etc/tessera
COPY --from=build /src/target/release/tessera-radiusd /usr/sbin/tessera-radiusd
COPY --from=build /src/target/release/tessera /usr/bin/tessera
COPY packaging/docker/radiusd.toml /usr/share/doc/tessera-radiusd/radiusd.toml.example
COPY packaging/tessera.toml /usr/share/doc/tessera-radiusd/tessera.toml.example
COPY docs/radius.md /usr/share/doc/tessera-radiusd/radius.md
ENV TESSERA_CONFIG=/etc/tessera/radiusd.toml
# A named volume starts as a copy of this directory: owned by 1812, mode 0700.
VOLUME ["/var/lib/tessera-radiusd"]
EXPOSE 1812/udp
USER 1812:1812
# A signed Status-Server (RFC 5997) from 127.0.0.1 inside the container, verified like any
# answer: needs the [[radius.clients]] entry for 127.0.0.1 (packaging/docker/radiusd.toml).
# Exit 1 with the reason, which `docker inspect` shows under .State.Health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/sbin/tessera-radiusd", "--health-check", "--timeout", "2s"]
ENTRYPOINT ["/usr/sbin/tessera-radiusd"]
