# One image for every role: `aval gateway`, `aval topics apply`, ...
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin aval

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/aval /usr/local/bin/aval
USER 65534
ENTRYPOINT ["aval"]
