# syntax=docker/dockerfile:1
# The wschaos image for `wschaos k8s`: the release binary on distroless, run as the non-root
# user, no shell. Build: docker build -t REGISTRY/wschaos:TAG .

# Build stage: bookworm, the Debian release of the runtime image below (same glibc).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /build
# jemalloc (the allocator, src/memory.rs) is built from source with make.
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# of the cached target directory. Debug info is stripped: a smaller image pulls faster before
# the pods' shared start.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo cargo build --release --locked --bin wschaos \
    && cp target/release/wschaos /wschaos

# Runtime stage: glibc and libgcc only, uid/gid 65532 ("nonroot"), which the manifests of
# `wschaos k8s` ask for (runAsNonRoot, read-only root filesystem, /tmp an emptyDir).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /wschaos /usr/local/bin/wschaos
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/wschaos"]
