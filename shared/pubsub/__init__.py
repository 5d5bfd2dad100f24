"""Salesforce's Pub/Sub API wire format (eventbus.v1), generated from pubsub_api.proto by generate.sh.

The listener subscribes with it and the org simulator serves it; it is the one product module
the simulator imports. Import the generated modules directly:
``from shared.pubsub import pubsub_api_pb2, pubsub_api_pb2_grpc``.
"""
