# syntax=docker/dockerfile:1
# quire's container image: built with the same Rust toolchain as CI, run as a non-root user
# from a minimal image. The embedded SQLite database and the generated signing key live in
# the /data volume; set QUIRE_DATABASE_URL to use PostgreSQL instead.

FROM rust:1.95.0-slim-bookworm AS build
# The commit the image is built from (docker build --build-arg QUIRE_BUILD_COMMIT=$(git rev-parse --short=12 HEAD)).
ARG QUIRE_BUILD_COMMIT=unknown
WORKDIR /src
# Only what the build reads, so unrelated changes keep the layer cache.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates ./crates
COPY proto ./proto
RUN cargo build --release --locked --bin quire \
    && cp target/release/quire /quire

FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to PostgreSQL and identity providers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311+deb12u1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin quire \
    && mkdir -p /data \
    && chown quire:quire /data
COPY --from=build /quire /usr/local/bin/quire
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENV QUIRE_LISTEN=0.0.0.0:8080 \
    QUIRE_ADMIN_LISTEN=0.0.0.0:9090 \
    QUIRE_DATA_DIR=/data \
    QUIRE_LOG_FORMAT=json
# 8080: REST, GraphQL and gRPC; 9090: metrics (keep it off public networks).
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/quire", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/quire"]
CMD ["serve"]
