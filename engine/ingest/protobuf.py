"""Protobuf message classes from definitions written in code (no protoc, no generated modules):
what Prometheus's wire formats need, parsed by the ``protobuf`` package's native (upb) parser.

Callers build their classes on first use (the package costs ~2 MB and tens of ms to import; a server
that is never pushed protobuf never loads it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.protobuf import message

Field = tuple[str, int, str, bool, str]
"""(name, number, type: "string", "double", "int64", "uint64", "int32", "bytes" or "message",
repeated, message type name within the package when a message)."""


def message_classes(package: str, messages: dict[str, list[Field]]) -> dict[str, type[message.Message]]:
    """One class per message of a proto3 file in ``package``."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    types = {"string": f.TYPE_STRING, "double": f.TYPE_DOUBLE, "int64": f.TYPE_INT64, "uint64": f.TYPE_UINT64,
             "int32": f.TYPE_INT32, "bytes": f.TYPE_BYTES, "message": f.TYPE_MESSAGE}
    proto = descriptor_pb2.FileDescriptorProto(name=f"metrics_service_{package.replace('.', '_')}.proto",
                                               package=package, syntax="proto3")
    for name, fields in messages.items():
        m = proto.message_type.add(name=name)
        for field_name, number, type_, repeated, type_name in fields:
            fd = m.field.add(name=field_name, number=number, type=types[type_],
                             label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL)
            if type_name:
                fd.type_name = f".{package}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
            for name in messages}
