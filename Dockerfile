# Container image of iam-key-exporter: a release build on Debian 12, run on distroless.
#
#   docker build -t iam-key-exporter \
#     --build-arg BUILD_GIT_REVISION="$(git rev-parse --short=12 HEAD)" \
#     --build-arg BUILD_GIT_BRANCH="$(git rev-parse --abbrev-ref HEAD)" \
#     --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" \
#     --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)" .
#   docker run --rm -p 10027:10027 -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -e AWS_SESSION_TOKEN iam-key-exporter
#
# Deployment (Kubernetes, IRSA, multi-account): docs/deployment.md.

# The build context has no .git (see .dockerignore), so build.rs cannot ask git for the revision
# and branch shown in iam_exporter_build_info and --version; pass them here. "unknown" is what
# build.rs itself falls back to. SOURCE_DATE_EPOCH (the commit's time) makes --version's build
# date reproducible; unset, it is the build's time.
ARG BUILD_GIT_REVISION=unknown
ARG BUILD_GIT_BRANCH=unknown
ARG SOURCE_DATE_EPOCH
ARG VERSION=dev

# ---------------------------------------------------------------------------------------------
# Build. The full (not -slim) image, because ring (rustls' crypto) compiles C and assembly with
# the `cc` crate and this image has gcc, make and the libc headers.
# Pinned by tag to the toolchain the project uses (rust-version in Cargo.toml is the minimum).
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, in a layer of their own: it is rebuilt only when Cargo.toml, Cargo.lock
# or build.rs change, not on every edit of src/. Placeholder sources stand in for the crate's
# own targets; a release build compiles only the library and the binary, but Cargo refuses a
# manifest whose declared targets have no file, hence benches/own_cost.rs. A new [[bench]],
# [[test]] or [[example]] entry in Cargo.toml needs its placeholder here too.
# testkit/ is a workspace member (test support only): Cargo reads its manifest, never builds it.
COPY Cargo.toml Cargo.lock build.rs ./
COPY testkit ./testkit
RUN mkdir -p src benches \
 && echo '//! Placeholder for the dependency layer.' > src/lib.rs \
 && printf '//! Placeholder for the dependency layer.\nfn main() {}\n' > src/main.rs \
 && printf '//! Placeholder: never compiled by a release build.\nfn main() {}\n' > benches/own_cost.rs \
 && cargo build --release --locked \
 && rm src/lib.rs src/main.rs

# The real sources. Declared only now so that a new revision does not invalidate the
# dependency layer above; build.rs reruns when the variable changes (rerun-if-env-changed).
COPY src ./src
ARG BUILD_GIT_REVISION
ARG BUILD_GIT_BRANCH
ARG SOURCE_DATE_EPOCH
# COPY keeps the files' modification times, which can be older than the placeholders' build:
# touch them, or Cargo would take the placeholder crate for up to date. The last line fails the
# build if the placeholder binary (which prints nothing) slipped through anyway.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN find src -name '*.rs' -exec touch {} + \
 && BUILD_GIT_REVISION="${BUILD_GIT_REVISION:-unknown}" BUILD_GIT_BRANCH="${BUILD_GIT_BRANCH:-unknown}" \
    SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH}" cargo build --release --locked \
 && ./target/release/iam-key-exporter --version | grep -q '^iam-key-exporter, version '

# ---------------------------------------------------------------------------------------------
# Runtime: glibc, libgcc_s and CA certificates (the binary links glibc dynamically and the AWS
# SDK reads the system trust store), no shell, no package manager. `nonroot` is uid/gid 65532.
# Pin by digest in production (gcr.io/distroless/cc-debian12:nonroot@sha256:...) and let a bot
# bump it; Debian 12 matches the builder's glibc.
FROM gcr.io/distroless/cc-debian12:nonroot

ARG BUILD_GIT_REVISION
ARG VERSION
LABEL org.opencontainers.image.title="iam-key-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the CIS AWS control: every IAM user has at most one active access key" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/iam-key-exporter/iam-key-exporter" \
      org.opencontainers.image.documentation="https://github.com/iam-key-exporter/iam-key-exporter/blob/main/docs/deployment.md" \
      org.opencontainers.image.revision="${BUILD_GIT_REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root and not writable by the user that runs it.
COPY --from=builder /src/target/release/iam-key-exporter /usr/local/bin/iam-key-exporter

USER 65532:65532
EXPOSE 10027

# No HEALTHCHECK: distroless has no shell, curl or wget to run one, and the binary has no probe
# subcommand. Let the orchestrator probe over HTTP instead: /-/healthy (liveness) and /-/ready
# (readiness, 200 once every account has been refreshed), as deploy/kubernetes/ does.
ENTRYPOINT ["/usr/local/bin/iam-key-exporter"]
