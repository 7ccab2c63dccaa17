FROM python:3.11-slim
# the hub runs as its own unprivileged user and owns its home (store, WAL, hub.key): 0700, nobody else reads it
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/zorghub --shell /usr/sbin/nologin zorghub \
    && install -d -m 0700 -o zorghub -g zorghub /var/lib/zorghub
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY mappings ./mappings
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
ENV ZORGHUB_HOME=/var/lib/zorghub
# a new named volume takes this directory's owner and mode
VOLUME ["/var/lib/zorghub"]
USER zorghub
# exec form: zorghub is PID 1 and receives the SIGTERM itself; serve stops its workers gracefully
STOPSIGNAL SIGTERM
ENTRYPOINT []
CMD ["zorghub", "serve"]
