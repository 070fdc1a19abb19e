# Multi-stage build of pulse-exporter and pulse-analyzer (used by docker-compose.yml).
#   docker build --target exporter -t pulse-exporter .
#   docker build --target analyzer -t pulse-analyzer .
# The build stage compiles both binaries once; each runtime stage copies one of them into a
# slim Debian image (glibc, CA certificates for TLS probes and remote caches).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache the registry and target dir across builds when BuildKit is available.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pulse-exporter -p pulse-analyzer \
 && install -D -m 0755 target/release/pulse-exporter /out/pulse-exporter \
 && install -D -m 0755 target/release/pulse-analyzer /out/pulse-analyzer

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM runtime AS exporter
COPY --from=build /out/pulse-exporter /usr/local/bin/pulse-exporter
# Unprivileged by default, as node_exporter's image; docker-compose.yml grants the one
# capability per-process file descriptor counts need.
USER 65534:65534
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/pulse-exporter"]

FROM runtime AS analyzer
COPY --from=build /out/pulse-analyzer /usr/local/bin/pulse-analyzer
RUN install -d -o 65534 -g 65534 /var/lib/pulse
USER 65534:65534
VOLUME /var/lib/pulse
EXPOSE 9190
ENTRYPOINT ["/usr/local/bin/pulse-analyzer"]
