#!/usr/bin/env python3
"""A small grpcurl-like client that needs no generated code: it reads the service definitions
from the server's gRPC reflection, sends one JSON request and prints the JSON response.

    pip install grpcio grpcio-reflection protobuf
    scripts/grpc-call.py [-H 'name: value']... ADDRESS SERVICE/METHOD [JSON]

Example:
    scripts/grpc-call.py -H "x-api-key: $KEY" 127.0.0.1:50051 \
        switchboard.v1.SessionService/CreateSession '{"user_id": "user_123"}'
"""
import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-H", dest="headers", action="append", default=[], help="'name: value' metadata")
    parser.add_argument("address")
    parser.add_argument("method", help="package.Service/Method")
    parser.add_argument("data", nargs="?", default="{}", help="request as JSON ('-' reads stdin)")
    args = parser.parse_args()

    channel = grpc.insecure_channel(args.address)
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service_name, _, method_name = args.method.partition("/")
    method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)

    data = sys.stdin.read() if args.data == "-" else args.data
    request = json_format.Parse(data, request_cls())
    metadata = []
    for header in args.headers:
        name, _, value = header.partition(":")
        metadata.append((name.strip().lower(), value.strip()))

    call = channel.unary_unary(
        f"/{service_name}/{method_name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_cls.FromString,
    )
    try:
        response = call(request, metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        print(f"ERROR: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    print(json.dumps(json_format.MessageToDict(response, preserving_proto_field_name=True), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
