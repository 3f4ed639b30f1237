# syntax=docker/dockerfile:1
#
# One image with the three services (switchboard-gateway, switchboard-worker,
# switchboard-triggers) and the toolkit catalog. A container runs one of them: deploy/ sets
# each Deployment's command.
#
#   docker build -t switchboard:dev .
#
# Needs BuildKit (the default builder of current Docker) for the cache mounts. Protobuf is
# compiled by a crate (protox), so the build needs no protoc, only cargo and a C compiler (ring).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# --locked: exactly the versions of Cargo.lock. The caches only speed up rebuilds; the binaries
# are copied out of the cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        -p switchboard-gateway -p switchboard-worker -p switchboard-triggers \
 && mkdir -p /out \
 && cp target/release/switchboard-gateway \
       target/release/switchboard-worker \
       target/release/switchboard-triggers /out/

# glibc and libgcc (as the builder, Debian 12), CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY toolkits/ /usr/share/switchboard/toolkits/
ENV SWITCHBOARD_CATALOG__DIR=/usr/share/switchboard/toolkits
# The uid/gid the Kubernetes manifests run as (runAsUser: 10001); numeric, so runAsNonRoot can
# check it. Nothing in the image needs to be writable.
USER 10001:10001
# gRPC and HTTP (gateway), webhook intake (triggers), Prometheus metrics (worker).
EXPOSE 50051 8080 8090 9090
CMD ["/usr/local/bin/switchboard-gateway"]
