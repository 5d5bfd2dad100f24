#!/usr/bin/env bash
# Regenerate the Pub/Sub API Python modules and their type stubs from pubsub_api.proto.
#
# grpcio-tools' bundled protoc writes pubsub_api_pb2.py and pubsub_api_pb2_grpc.py; the
# mypy-protobuf plugins write the stubs (pubsub_api_pb2.pyi, pubsub_api_pb2_grpc.pyi), because
# grpcio-tools' own --pyi_out stub fails strict mypy and it writes none for the grpc module.
# protoc runs from the repository root with -I. so the proto's import path is
# shared/pubsub/pubsub_api.proto and the grpc module imports `from shared.pubsub import ...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-.venv/bin/python}"
BIN="$(dirname "$PYTHON")"
"$PYTHON" -m grpc_tools.protoc -I. \
    --python_out=. --grpc_python_out=. \
    --plugin=protoc-gen-mypy="$BIN/protoc-gen-mypy" --mypy_out=. \
    --plugin=protoc-gen-mypy_grpc="$BIN/protoc-gen-mypy_grpc" --mypy_grpc_out=. \
    shared/pubsub/pubsub_api.proto
