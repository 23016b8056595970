"""gRPC server for the stand-in provider, run as `python -m terraform_harness.server SOCKET`.

It serves plaintext gRPC on a unix socket for Terraform's reattach mode
(TF_REATTACH_PROVIDERS), so there is no go-plugin handshake line and no TLS: Terraform
connects to the socket it is told about.  One server process is shared by every Terraform
run of a test session; it prints `READY` once the socket is listening and exits on
`plugin.GRPCController/Shutdown`, SIGTERM, or when its parent's stdin closes.

A request does not say which run (or which provider block) it comes from, so a run that
applies asks for a session of its own (`tfharness.Control/Open`, JSON in and out): a second
socket in the same process, with its own world rules and its own account (what AWS
remembers), unless it names an account that earlier sessions used: then it shares that
one.  The schema is loaded once for all of them.

Handlers exchange raw bytes (no generated stubs): each one parses the request message
it needs from `protocol` and serializes its response.  Any other unary Provider method
gets an empty response, which is a valid encoding of every protobuf message.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

from . import protocol as pb
from . import provider
from .world import World

HEALTH_SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}


def _diagnostics_only(diags) -> bytes:
    return pb.DiagnosticsResponse(diagnostics=diags).SerializeToString()


class Handlers:
    def __init__(self, session: provider.Session, stop_event: threading.Event):
        self.session = session
        self.stop_event = stop_event
        self.schema_bytes = provider.schema_response_bytes()

    def GetProviderSchema(self, _req: bytes) -> bytes:
        return self.schema_bytes

    def ConfigureProvider(self, req: bytes) -> bytes:
        self.session.configure(provider.decode(pb.ConfigureProviderRequest.FromString(req).config))
        return b""

    def ValidateResourceConfig(self, req: bytes) -> bytes:
        msg = pb.ValidateConfigRequest.FromString(req)
        return _diagnostics_only(provider.validate("resource", msg.type_name, msg.config))

    def ValidateDataResourceConfig(self, req: bytes) -> bytes:
        msg = pb.ValidateConfigRequest.FromString(req)
        return _diagnostics_only(provider.validate("data", msg.type_name, msg.config))

    def PlanResourceChange(self, req: bytes) -> bytes:
        msg = pb.PlanResourceChangeRequest.FromString(req)
        planned, replace, diags = provider.plan(msg.type_name, msg.prior_state, msg.proposed_new_state,
                                                msg.config)
        resp = pb.PlanResourceChangeResponse(diagnostics=diags)
        resp.planned_state.msgpack = planned
        for name in replace:
            resp.requires_replace.add().steps.add(attribute_name=name)
        resp.planned_private = msg.prior_private
        return resp.SerializeToString()

    def ApplyResourceChange(self, req: bytes) -> bytes:
        msg = pb.ApplyResourceChangeRequest.FromString(req)
        state, diags = provider.apply(self.session, msg.type_name, msg.prior_state, msg.planned_state)
        resp = pb.ApplyResourceChangeResponse(diagnostics=diags, private=msg.planned_private)
        resp.new_state.msgpack = state
        return resp.SerializeToString()

    def ReadDataSource(self, req: bytes) -> bytes:
        msg = pb.TypedValueRequest.FromString(req)
        state, diags = provider.read_data(self.session, msg.type_name, msg.value)
        resp = pb.ValueResponse(diagnostics=diags)
        resp.value.msgpack = state
        return resp.SerializeToString()

    def ReadResource(self, req: bytes) -> bytes:
        msg = pb.ReadResourceRequest.FromString(req)
        resp = pb.ReadResourceResponse(private=msg.private)
        resp.new_state.msgpack = provider.read_resource(self.session, msg.type_name, msg.current_state)
        return resp.SerializeToString()

    def UpgradeResourceState(self, req: bytes) -> bytes:
        # Schema versions are all 0 here; hand the JSON state back as it is.
        msg = pb.UpgradeResourceStateRequest.FromString(req)
        resp = pb.ValueResponse()
        resp.value.json = msg.raw_state.json
        return resp.SerializeToString()

    def Shutdown(self, _req: bytes) -> bytes:
        self.stop_event.set()
        return b""


def grpc_server(router: grpc.GenericRpcHandler, socket_path: str) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_send_message_length", 64 << 20),
                                  ("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers((router,))
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    return server


class Control:
    """Sessions for applying runs, each served on its own socket next to the main one, and the
    accounts that sessions share when their runs name the same one."""

    def __init__(self, directory: str):
        self.directory = directory
        self.counter = itertools.count(1)
        self.sessions: dict[str, tuple[grpc.Server, provider.Session]] = {}
        self.accounts: dict[str, provider.AwsAccount] = {}
        self.lock = threading.Lock()

    def account(self, args: dict) -> provider.AwsAccount:
        """The account keyed `account`, created on first use with the service-linked roles named."""
        with self.lock:
            if args["account"] not in self.accounts:
                self.accounts[args["account"]] = provider.AwsAccount(tuple(args["service_linked_roles"]))
            return self.accounts[args["account"]]

    def Open(self, req: bytes) -> bytes:
        """A session; in the account keyed `account` (created on first use), else in one of its own."""
        args = json.loads(req or b"{}")
        socket_path = os.path.join(self.directory, f"s{next(self.counter)}.sock")
        session = provider.Session(self.account(args) if args.get("account") else None)
        # Terraform never shuts a reattached provider down; the harness closes sessions.
        server = grpc_server(Router(Handlers(session, threading.Event())), socket_path)
        with self.lock:
            self.sessions[socket_path] = (server, session)
        return json.dumps({"socket": socket_path}).encode()

    def Act(self, req: bytes) -> bytes:
        """What a user of the account does outside Terraform (AwsAccount.api_<action>): {"result": ...}
        or, where AWS would refuse, {"error": "Code: message"}."""
        args = json.loads(req)
        account = self.account(args)
        with account.lock:
            try:
                return json.dumps({"result": getattr(account, f"api_{args['action']}")(**args["args"])}).encode()
            except LookupError as exc:
                return json.dumps({"error": exc.args[0]}).encode()

    def SetWorld(self, req: bytes) -> bytes:
        args = json.loads(req)
        session = self.sessions[args["socket"]][1]
        session.world = World.from_json(args["world"])
        return b"{}"

    def Close(self, req: bytes) -> bytes:
        """Stops the session; answers which world rules never matched anything."""
        socket_path = json.loads(req)["socket"]
        with self.lock:
            server, session = self.sessions.pop(socket_path)
        server.stop(grace=0).wait()
        unmatched = [i for i in range(len(session.world.rules)) if i not in session.world_hits]
        return json.dumps({"unmatched": unmatched}).encode()


class Router(grpc.GenericRpcHandler):
    """Maps '/service/Method' to a handler; unknown Provider methods answer empty."""

    def __init__(self, handlers: Handlers, control: Control | None = None):
        self.handlers = handlers
        self.control = control

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
        if service == "tfharness.Control" and self.control and hasattr(self.control, method):
            return grpc.unary_unary_rpc_method_handler(self._wrap(getattr(self.control, method)))
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
    control = Control(os.path.dirname(socket_path))
    # Plan-only runs share this session: planning and reading data keep no record.
    server = grpc_server(Router(Handlers(provider.Session(), stop), control), socket_path)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The parent holds our stdin open; EOF means it went away without stopping us.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("READY", flush=True)
    stop.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    serve(sys.argv[1])
