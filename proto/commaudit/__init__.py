"""Generated protobuf code for the commaudit wire contract (see proto/commaudit/v1/)."""
