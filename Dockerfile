# slawatch worker image: `docker build -t slawatch .`, then `docker run slawatch worker`
# (any slawatch sub-command works: simulate, replay, backtest, policy ...).

# Stage 1: build the wheel. The SLA engine is compiled Rust (native/), so this stage has
# a Rust toolchain; the image that runs has only the wheel.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 CARGO_HOME=/opt/cargo RUSTUP_HOME=/opt/rustup
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends curl ca-certificates gcc libc6-dev >/dev/null \
    && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain stable \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/cargo/bin:$PATH
WORKDIR /src
# Only what the package build needs (README.md* tolerates a checkout without it).
COPY pyproject.toml README.md* ./
COPY native ./native
COPY slawatch ./slawatch
COPY streams ./streams
COPY agents ./agents
COPY metrics ./metrics
COPY dashboards ./dashboards
RUN pip wheel --no-deps -w /wheels .

# Stage 2: the worker image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# With the RocksDB store (rocksdict wheels): a restarted container reads its tables from
# local disk plus the changelog tail instead of the whole changelog (docs/operations.md).
COPY --from=build /wheels /wheels
RUN pip install "$(ls /wheels/slawatch-*.whl)[rocksdb]" && rm -rf /wheels

# Unprivileged user; its home is the data directory (Faust state, RocksDB if chosen).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/slawatch slawatch
USER slawatch
WORKDIR /var/lib/slawatch

# Listen on all interfaces so Prometheus can scrape /metrics from another container.
ENV SLAWATCH_WEB_HOST=0.0.0.0 \
    SLAWATCH_WEB_PORT=6066 \
    SLAWATCH_DATA_DIR=/var/lib/slawatch
EXPOSE 6066

ENTRYPOINT ["slawatch"]
CMD ["worker"]
