"""Decodes an OTLP ExportProfilesServiceRequest from stdin with the official
Python opentelemetry-proto (v1development profiles modules) and prints what
it holds, for the Rust tests to compare with what they sent.

Output lines:
  reencoded-equal: True|False   (the message re-encodes to the same bytes,
                                 so nothing was unknown or lost)
  resource: pid=<pid> exe=<name> samples=<n> total=<sum of values>
  heaviest: <function> <function> ...   (leaf first, per resource)
"""
import sys

from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2

data = sys.stdin.buffer.read()
req = profiles_service_pb2.ExportProfilesServiceRequest()
req.ParseFromString(data)
print("reencoded-equal:", req.SerializeToString() == data)
d = req.dictionary
strings = d.string_table
for rp in req.resource_profiles:
    attrs = {kv.key: kv.value for kv in rp.resource.attributes}
    pid = attrs["process.pid"].int_value if "process.pid" in attrs else -1
    exe = attrs["process.executable.name"].string_value if "process.executable.name" in attrs else ""
    for sp in rp.scope_profiles:
        for p in sp.profiles:
            total = sum(v for s in p.samples for v in s.values)
            print(f"resource: pid={pid} exe={exe} samples={len(p.samples)} total={total}")
            if not p.samples:
                continue
            heaviest = max(p.samples, key=lambda s: s.values[0])
            names = []
            for li in d.stack_table[heaviest.stack_index].location_indices:
                for line in d.location_table[li].lines:
                    names.append(strings[d.function_table[line.function_index].name_strindex])
            print("heaviest:", " ".join(names))
