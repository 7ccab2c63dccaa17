FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY mappings ./mappings
COPY schemas ./schemas
RUN pip install --no-cache-dir -e .
USER nobody
ENTRYPOINT []
CMD ["zorghub", "serve"]
