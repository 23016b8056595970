"""gRPC server for the stand-in provider, run as `python -m terraform_harness.server SOCKET`.

It serves plaintext gRPC on a unix socket for Terraform's reattach mode
(TF_REATTACH_PROVIDERS), so there is no go-plugin handshake line and no TLS: Terraform
connects to the socket it is told about.  One server is shared by every Terraform run of
a test session; it prints `READY` once the socket is listening and exits on
`plugin.GRPCController/Shutdown`, SIGTERM, or when its parent's stdin closes.

Handlers exchange raw bytes (no generated stubs): each one parses the request message
it needs from `protocol` and serializes its response.  Any other unary Provider method
gets an empty response, which is a valid encoding of every protobuf message.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc

from . import protocol as pb
from . import provider

HEALTH_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}


def _diagnostics_only(diags) -> bytes:
    return pb.DiagnosticsResponse(diagnostics=diags).SerializeToString()


class Handlers:
    def __init__(self, stop_event: threading.Event):
        self.stop_event = stop_event
        self.schema_bytes = provider.schema_response_bytes()

    def GetProviderSchema(self, _req: bytes) -> bytes:
        return self.schema_bytes

    def ValidateResourceConfig(self, req: bytes) -> bytes:
        msg = pb.ValidateConfigRequest.FromString(req)
        return _diagnostics_only(provider.validate("resource", msg.type_name, msg.config))

    def ValidateDataResourceConfig(self, req: bytes) -> bytes:
        msg = pb.ValidateConfigRequest.FromString(req)
        return _diagnostics_only(provider.validate("data", msg.type_name, msg.config))

    def PlanResourceChange(self, req: bytes) -> bytes:
        msg = pb.PlanResourceChangeRequest.FromString(req)
        planned, diags = provider.plan(msg.type_name, msg.prior_state, msg.proposed_new_state,
                                       msg.config)
        resp = pb.PlanResourceChangeResponse(diagnostics=diags)
        resp.planned_state.msgpack = planned
        resp.planned_private = msg.prior_private
        return resp.SerializeToString()

    def ReadDataSource(self, req: bytes) -> bytes:
        msg = pb.TypedValueRequest.FromString(req)
        state, diags = provider.read_data(msg.type_name, msg.value)
        resp = pb.ValueResponse(diagnostics=diags)
        resp.value.msgpack = state
        return resp.SerializeToString()

    def ReadResource(self, req: bytes) -> bytes:
        # Nothing exists remotely to compare with: the stored state is the truth.
        msg = pb.TypedValueRequest.FromString(req)
        resp = pb.ValueResponse()
        resp.value.CopyFrom(msg.value)
        return resp.SerializeToString()

    def UpgradeResourceState(self, req: bytes) -> bytes:
        # Schema versions are all 0 here; hand the JSON state back as it is.
        msg = pb.UpgradeResourceStateRequest.FromString(req)
        resp = pb.ValueResponse()
        resp.value.json = msg.raw_state.json
        return resp.SerializeToString()

    def ApplyResourceChange(self, _req: bytes) -> bytes:
        diag = provider.diagnostic("Stand-in provider cannot apply",
                                   "The test harness validates and plans only; nothing is created.")
        return pb.ApplyResourceChangeResponse(diagnostics=[diag]).SerializeToString()

    def Shutdown(self, _req: bytes) -> bytes:
        self.stop_event.set()
        return b""


class Router(grpc.GenericRpcHandler):
    """Maps '/service/Method' to a handler; unknown Provider methods answer empty."""

    def __init__(self, handlers: Handlers):
        self.handlers = handlers

    def service(self, details):
        service, _, method = details.method.lstrip("/").partition("/")
        if service == "grpc.health.v1.Health" and method == "Check":
            return grpc.unary_unary_rpc_method_handler(lambda req, ctx: HEALTH_SERVING)
        if service == "plugin.GRPCStdio":
            return grpc.unary_stream_rpc_method_handler(lambda req, ctx: iter(()))
        if service == "plugin.GRPCBroker":
            return grpc.stream_stream_rpc_method_handler(lambda it, ctx: iter(()))
        if service == "plugin.GRPCController" and method == "Shutdown":
            return grpc.unary_unary_rpc_method_handler(self._wrap(self.handlers.Shutdown))
        if service == "tfplugin6.Provider":
            fn = getattr(self.handlers, method, None) or (lambda req: b"")
            return grpc.unary_unary_rpc_method_handler(self._wrap(fn))
        return None

    @staticmethod
    def _wrap(fn):
        def call(request: bytes, context) -> bytes:
            try:
                return fn(request)
            except Exception as exc:  # report, don't kill the shared server
                context.abort(grpc.StatusCode.INTERNAL, f"stand-in provider: {exc!r}")
        return call


def serve(socket_path: str) -> None:
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_send_message_length", 64 << 20),
                                  ("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((Router(Handlers(stop)),))
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The parent holds our stdin open; EOF means it went away without stopping us.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("READY", flush=True)
    stop.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    serve(sys.argv[1])
