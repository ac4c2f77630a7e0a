"""Generated protobuf code (do not edit; see tools/gen_proto.py)."""
