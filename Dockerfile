# tessera-radiusd image. Build: docker build -t tessera-radiusd .
# Run:  docker run -d -p 1812:1812/udp -v tessera-data:/var/lib/tessera \
#         -v /etc/tessera:/etc/tessera:ro tessera-radiusd
# The configuration (/etc/tessera/tessera.toml), key file and client secrets are mounted
# read-only; the database lives on the volume. Enroll users with the bundled CLI:
#   docker exec -it CONTAINER tessera enroll totp alice

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tessera-radiusd -p tessera-cli --bins

FROM debian:bookworm-slim
RUN groupadd --system --gid 1812 tessera \
 && useradd --system --uid 1812 --gid tessera --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera \
 && install -d -o tessera -g tessera -m 0700 /var/lib/tessera \
 && install -d -m 0755 /etc/tessera
COPY --from=build /src/target/release/tessera-radiusd /usr/sbin/tessera-radiusd
COPY --from=build /src/target/release/tessera /usr/bin/tessera
COPY packaging/tessera.toml /usr/share/doc/tessera/tessera.toml.example
USER tessera:tessera
ENV TESSERA_CONFIG=/etc/tessera/tessera.toml
VOLUME ["/var/lib/tessera"]
EXPOSE 1812/udp
# Health: a Status-Server needs the shared secret; orchestrators should probe with
# `radclient ... status` from a configured client instead of a shell check here.
ENTRYPOINT ["/usr/sbin/tessera-radiusd"]
