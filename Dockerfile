# Multi-stage build of the three services. The release profile keeps line tables and the build
# keeps frame pointers (.cargo/config.toml), so profiles taken inside containers carry file:line.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
    && mkdir -p /out \
    && cp target/release/trading-api target/release/market-sim target/release/order-flow target/release/simex /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
RUN useradd --system --home /data simex && mkdir -p /data && chown simex /data
USER simex
WORKDIR /data
