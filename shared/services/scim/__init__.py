"""The standard doors (docs/scim.md): Entra-shaped inbound bulk upload and a SCIM 2.0 service,
both turning SCIM records into `PersonUpdate`s through a per-source mapping and the usual chain."""
