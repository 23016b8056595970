"""The subset of Terraform's plugin protocol 6 messages that the stand-in provider needs.

Why built here instead of compiled from tfplugin6.proto: protobuf is wire-compatible by
field number and type only, so a hand-declared subset (message names are ours, numbers
are the protocol's) needs neither protoc/grpcio-tools at build time nor a vendored copy
of HashiCorp's .proto file.  Requests we never read and responses we answer empty
(an empty byte string is a valid encoding of any message) need no declaration at all.

`map<string, Schema>` is declared as a repeated {key = 1, value = 2} message, which is
exactly how protobuf encodes map fields on the wire.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "string": F.TYPE_STRING, "bytes": F.TYPE_BYTES, "bool": F.TYPE_BOOL,
    "int64": F.TYPE_INT64, "enum": F.TYPE_INT32,  # enums are varints on the wire
}

# message name -> [(field name, number, type or message name, repeated?)]
MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "DynamicValue": [("msgpack", 1, "bytes", False), ("json", 2, "bytes", False)],
    "AttributePathStep": [("attribute_name", 1, "string", False),
                          ("element_key_string", 2, "string", False),
                          ("element_key_int", 3, "int64", False)],
    "AttributePath": [("steps", 1, "AttributePathStep", True)],
    "Diagnostic": [("severity", 1, "enum", False), ("summary", 2, "string", False),
                   ("detail", 3, "string", False), ("attribute", 4, "AttributePath", False)],
    "Attribute": [("name", 1, "string", False), ("type", 2, "bytes", False),
                  ("description", 3, "string", False), ("required", 4, "bool", False),
                  ("optional", 5, "bool", False), ("computed", 6, "bool", False),
                  ("sensitive", 7, "bool", False), ("description_kind", 8, "enum", False),
                  ("deprecated", 9, "bool", False), ("write_only", 11, "bool", False)],
    "Block": [("version", 1, "int64", False), ("attributes", 2, "Attribute", True),
              ("block_types", 3, "NestedBlock", True), ("description", 4, "string", False),
              ("description_kind", 5, "enum", False), ("deprecated", 6, "bool", False)],
    "NestedBlock": [("type_name", 1, "string", False), ("block", 2, "Block", False),
                    ("nesting", 3, "enum", False), ("min_items", 4, "int64", False),
                    ("max_items", 5, "int64", False)],
    "Schema": [("version", 1, "int64", False), ("block", 2, "Block", False)],
    "SchemaEntry": [("key", 1, "string", False), ("value", 2, "Schema", False)],
    "ServerCapabilities": [("plan_destroy", 1, "bool", False),
                           ("get_provider_schema_optional", 2, "bool", False),
                           ("move_resource_state", 3, "bool", False)],
    "GetProviderSchemaResponse": [
        ("provider", 1, "Schema", False), ("resource_schemas", 2, "SchemaEntry", True),
        ("data_source_schemas", 3, "SchemaEntry", True), ("diagnostics", 4, "Diagnostic", True),
        ("provider_meta", 5, "Schema", False),
        ("server_capabilities", 6, "ServerCapabilities", False)],
    # ValidateResourceConfig / ValidateDataResourceConfig requests share this layout.
    "ValidateConfigRequest": [("type_name", 1, "string", False),
                              ("config", 2, "DynamicValue", False)],
    # Most responses carry only diagnostics, at field 1 ...
    "DiagnosticsResponse": [("diagnostics", 1, "Diagnostic", True)],
    "PlanResourceChangeRequest": [
        ("type_name", 1, "string", False), ("prior_state", 2, "DynamicValue", False),
        ("proposed_new_state", 3, "DynamicValue", False), ("config", 4, "DynamicValue", False),
        ("prior_private", 5, "bytes", False)],
    "PlanResourceChangeResponse": [
        ("planned_state", 1, "DynamicValue", False),
        ("requires_replace", 2, "AttributePath", True), ("planned_private", 3, "bytes", False),
        ("diagnostics", 4, "Diagnostic", True), ("legacy_type_system", 5, "bool", False)],
    "ApplyResourceChangeRequest": [
        ("type_name", 1, "string", False), ("prior_state", 2, "DynamicValue", False),
        ("planned_state", 3, "DynamicValue", False), ("config", 4, "DynamicValue", False),
        ("planned_private", 5, "bytes", False)],
    "ApplyResourceChangeResponse": [
        ("new_state", 1, "DynamicValue", False), ("private", 2, "bytes", False),
        ("diagnostics", 3, "Diagnostic", True)],
    "ConfigureProviderRequest": [("terraform_version", 1, "string", False),
                                 ("config", 2, "DynamicValue", False)],
    "ReadResourceRequest": [("type_name", 1, "string", False), ("current_state", 2, "DynamicValue", False),
                            ("private", 3, "bytes", False)],
    "ReadResourceResponse": [("new_state", 1, "DynamicValue", False), ("diagnostics", 2, "Diagnostic", True),
                             ("private", 3, "bytes", False)],
    # ReadDataSource.Request: type_name = 1, config = 2.
    "TypedValueRequest": [("type_name", 1, "string", False), ("value", 2, "DynamicValue", False)],
    # ReadDataSource.Response, UpgradeResourceState.Response.
    "ValueResponse": [("value", 1, "DynamicValue", False), ("diagnostics", 2, "Diagnostic", True)],
    "RawState": [("json", 1, "bytes", False)],
    "UpgradeResourceStateRequest": [("type_name", 1, "string", False),
                                    ("version", 2, "int64", False),
                                    ("raw_state", 3, "RawState", False)],
}

PACKAGE = "codemate_tfplugin6_subset"


def _build() -> dict[str, type]:
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{PACKAGE}.proto", package=PACKAGE,
                                             syntax="proto3")
    for name, fields in MESSAGES.items():
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, repeated in fields:
            field = msg.field.add(name=fname, number=number,
                                  label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if ftype in _SCALARS:
                field.type = _SCALARS[ftype]
            else:
                field.type = F.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{ftype}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    file_desc = pool.FindFileByName(fdp.name)
    return {name: message_factory.GetMessageClass(file_desc.message_types_by_name[name])
            for name in MESSAGES}


_CLASSES = _build()
globals().update(_CLASSES)  # DynamicValue, Diagnostic, ... as module attributes

# Enum values from tfplugin6.proto.
SEVERITY_ERROR, SEVERITY_WARNING = 1, 2
NESTING = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}
